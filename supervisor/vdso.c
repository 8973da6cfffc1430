/* The vDSO answers clock_gettime & co. without entering the kernel, so no
 * filter sees them.  We overwrite each clock entry point in the target with
 *     mov $NR, %eax ; syscall ; ret
 * (the arguments are already where the syscall wants them), through
 * /proc/PID/mem, which writes through the page protection and copies the
 * page for that process only.  Done from outside, at the first trapped
 * syscall of every new image, it covers static binaries and Go as well as
 * dynamically linked programs; an LD_PRELOAD could not. */
#include "vdso.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

struct patch_point {
    const char *symbol;
    int nr;
    uint64_t offset; /* from the start of the vDSO image */
    int found;
};

static struct patch_point points[] = {
    {"__vdso_clock_gettime", __NR_clock_gettime, 0, 0},
    {"__vdso_gettimeofday", __NR_gettimeofday, 0, 0},
    {"__vdso_time", __NR_time, 0, 0},
    {"__vdso_clock_getres", __NR_clock_getres, 0, 0},
};
#define NPOINTS (sizeof points / sizeof points[0])
#define STUB_LEN 8

static uint64_t image_size; /* bytes of our vDSO covered by PT_LOAD */

int vdso_init(void)
{
    const unsigned char *base = (const unsigned char *)getauxval(AT_SYSINFO_EHDR);
    if (!base)
        return -1;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64)
        return -1;
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff);
    uint64_t load_vaddr = 0;
    const Elf64_Dyn *dyn = NULL;
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD) {
            load_vaddr = ph[i].p_vaddr - ph[i].p_offset;
            image_size = ph[i].p_offset + ph[i].p_memsz;
        } else if (ph[i].p_type == PT_DYNAMIC) {
            dyn = (const Elf64_Dyn *)(base + ph[i].p_offset);
        }
    }
    if (!dyn)
        return -1;
    const Elf64_Sym *symtab = NULL;
    const char *strtab = NULL;
    const uint32_t *hash = NULL;
    for (; dyn->d_tag != DT_NULL; dyn++) {
        uint64_t off = dyn->d_un.d_ptr - load_vaddr;
        if (dyn->d_tag == DT_SYMTAB)
            symtab = (const Elf64_Sym *)(base + off);
        else if (dyn->d_tag == DT_STRTAB)
            strtab = (const char *)(base + off);
        else if (dyn->d_tag == DT_HASH)
            hash = (const uint32_t *)(base + off);
    }
    if (!symtab || !strtab || !hash)
        return -1;
    uint32_t nsyms = hash[1]; /* nchain == number of symbols */
    int found = 0;
    for (uint32_t i = 0; i < nsyms; i++) {
        const char *name = strtab + symtab[i].st_name;
        for (size_t p = 0; p < NPOINTS; p++) {
            if (!points[p].found && !strcmp(name, points[p].symbol) && symtab[i].st_size >= STUB_LEN) {
                points[p].offset = symtab[i].st_value - load_vaddr;
                points[p].found = 1;
                found++;
            }
        }
    }
    return found;
}

/* AT_SYSINFO_EHDR of the target's current image. */
static uint64_t target_vdso_base(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/auxv", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    Elf64_auxv_t av[64];
    ssize_t n = read(fd, av, sizeof av);
    close(fd);
    for (ssize_t i = 0; n > 0 && i < n / (ssize_t)sizeof av[0]; i++)
        if (av[i].a_type == AT_SYSINFO_EHDR)
            return av[i].a_un.a_val;
    return 0;
}

int vdso_patch(struct supervisor *s, struct task *t)
{
    (void)s;
    uint64_t base = target_vdso_base(t->proc->pid);
    if (!base)
        return 0; /* no vDSO (vdso=0): every clock read is a syscall already */
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", t->proc->pid);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        log_msg("task %d: cannot open %s to patch the vDSO: %s; its clocks may show real time", t->tid, path,
                strerror(errno));
        return -1;
    }
    /* Same kernel, same image: check the ELF header before writing. */
    unsigned char ident[SELFMAG];
    const unsigned char *ours = (const unsigned char *)getauxval(AT_SYSINFO_EHDR);
    int ret = 0;
    if (pread(fd, ident, sizeof ident, (off_t)base) != (ssize_t)sizeof ident || memcmp(ident, ours, SELFMAG)) {
        log_msg("task %d: unexpected vDSO at %#llx, not patched", t->tid, (unsigned long long)base);
        close(fd);
        return -1;
    }
    for (size_t p = 0; p < NPOINTS; p++) {
        if (!points[p].found || points[p].offset + STUB_LEN > image_size)
            continue;
        unsigned char stub[STUB_LEN] = {0xb8, 0, 0, 0, 0, 0x0f, 0x05, 0xc3};
        uint32_t nr = (uint32_t)points[p].nr;
        memcpy(stub + 1, &nr, sizeof nr);
        if (pwrite(fd, stub, sizeof stub, (off_t)(base + points[p].offset)) != (ssize_t)sizeof stub) {
            log_msg("task %d: patching %s: %s", t->tid, points[p].symbol, strerror(errno));
            ret = -1;
        }
    }
    close(fd);
    return ret;
}
