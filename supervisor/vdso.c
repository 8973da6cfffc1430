/* The vDSO answers clock_gettime & co. without entering the kernel, so no
 * filter sees them.  We rewrite the target's copy through /proc/PID/mem
 * (which writes through the page protection and copies the page for that
 * process only), at the first trapped syscall of every new image: this
 * covers static binaries and Go as well as dynamically linked programs,
 * where an LD_PRELOAD could not.
 *
 * Fast path: vclock_blob.S goes into the zero padding after the vDSO image
 * and each clock entry point becomes a jmp to it.  The blob reads virtual
 * time from a clock page that the supervisor rewrites before resuming a
 * process whenever simulated time has moved, so a clock read costs no
 * trap.  After VCLOCK_READ_LIMIT reads without a trap it traps anyway,
 * and a trapped read charges busy-loop time: a loop polling the clock
 * sees time pass, deterministically (the count is the program's own).
 *
 * Fallback, when the blob does not fit: each entry point becomes
 *     mov $NR, %eax ; syscall ; ret
 * and every clock read is a trapped syscall. */
#include "vdso.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mem.h"

extern const unsigned char vclock_blob_start[], vclock_blob_end[];
extern const unsigned char vclock_blob_clock_gettime[], vclock_blob_gettimeofday[], vclock_blob_time[];
extern const unsigned char vclock_blob_reg_clock_gettime[], vclock_blob_reg_gettimeofday[],
    vclock_blob_reg_time[];

#define BLOB_OFF(sym) ((uint64_t)((sym) - vclock_blob_start))
#define BLOB_LEN BLOB_OFF(vclock_blob_end)

struct patch_point {
    const char *symbol;
    int nr;
    uint64_t offset; /* from the start of the vDSO image */
    int found;
    const unsigned char *fast; /* entry in the blob, NULL: always trap */
};

static struct patch_point points[] = {
    {"__vdso_clock_gettime", __NR_clock_gettime, 0, 0, vclock_blob_clock_gettime},
    {"__vdso_gettimeofday", __NR_gettimeofday, 0, 0, vclock_blob_gettimeofday},
    {"__vdso_time", __NR_time, 0, 0, vclock_blob_time},
    {"__vdso_clock_getres", __NR_clock_getres, 0, 0, NULL},
};
#define NPOINTS (sizeof points / sizeof points[0])
#define STUB_LEN 8
#define JMP_LEN 5

static uint64_t image_size; /* bytes of our vDSO covered by PT_LOAD */
static uint64_t blob_offset; /* where the blob goes in the vDSO, 0: it does not fit */

/* Size of our [vdso] mapping. */
static uint64_t vdso_mapping_size(uint64_t base)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return 0;
    char line[512];
    uint64_t size = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long lo, hi;
        if (strstr(line, "[vdso]") && sscanf(line, "%llx-%llx", &lo, &hi) == 2 && lo == base)
            size = hi - lo;
    }
    fclose(f);
    return size;
}

/* The blob fits in the zero padding between the end of the vDSO file
 * image and the end of its last page? */
static void find_blob_room(const unsigned char *base, const Elf64_Ehdr *eh)
{
    uint64_t end = eh->e_shoff + (uint64_t)eh->e_shnum * eh->e_shentsize;
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff);
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_offset + ph[i].p_filesz > end)
            end = ph[i].p_offset + ph[i].p_filesz;
    uint64_t off = (end + 63) & ~(uint64_t)63;
    uint64_t size = vdso_mapping_size((uint64_t)(uintptr_t)base);
    if (!size || off + BLOB_LEN > size)
        return;
    for (uint64_t i = off; i < off + BLOB_LEN; i++)
        if (base[i])
            return;
    blob_offset = off;
}

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
    find_blob_room(base, eh);
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
    struct proc *pr = t->proc;
    pr->vclock_blob = 0;
    pr->vclock_page = 0;
    if (blob_offset) {
        if (pwrite(fd, vclock_blob_start, BLOB_LEN, (off_t)(base + blob_offset)) == (ssize_t)BLOB_LEN)
            pr->vclock_blob = base + blob_offset;
        else
            log_msg("task %d: writing the clock fast path: %s; clock reads will trap", t->tid, strerror(errno));
    }
    for (size_t p = 0; p < NPOINTS; p++) {
        if (!points[p].found || points[p].offset + STUB_LEN > image_size)
            continue;
        unsigned char stub[STUB_LEN] = {0xb8, 0, 0, 0, 0, 0x0f, 0x05, 0xc3};
        size_t len = STUB_LEN;
        uint64_t at = base + points[p].offset;
        if (pr->vclock_blob && points[p].fast) {
            int32_t rel = (int32_t)(int64_t)(pr->vclock_blob + BLOB_OFF(points[p].fast) - (at + JMP_LEN));
            stub[0] = 0xe9; /* jmp rel32 */
            memcpy(stub + 1, &rel, sizeof rel);
            len = JMP_LEN;
        } else {
            uint32_t nr = (uint32_t)points[p].nr;
            memcpy(stub + 1, &nr, sizeof nr);
        }
        if (pwrite(fd, stub, len, (off_t)at) != (ssize_t)len) {
            log_msg("task %d: patching %s: %s", t->tid, points[p].symbol, strerror(errno));
            ret = -1;
        }
    }
    close(fd);
    return ret;
}

enum vclock_site vclock_site(const struct task *t)
{
    uint64_t blob = t->proc->vclock_blob, ip = t->req.ip;
    if (!blob || ip < blob || ip >= blob + BLOB_LEN)
        return VCLOCK_ELSEWHERE;
    uint64_t off = ip - blob;
    if (off == BLOB_OFF(vclock_blob_reg_clock_gettime) || off == BLOB_OFF(vclock_blob_reg_gettimeofday) ||
        off == BLOB_OFF(vclock_blob_reg_time))
        return VCLOCK_REGISTER;
    return VCLOCK_FALLBACK;
}

void vclock_register(struct task *t)
{
    struct proc *p = t->proc;
    uint64_t page = t->req.args[5];
    if (!page || p->vclock_page)
        return; /* its mmap failed, or a thread raced ahead */
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", p->pid);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return;
    /* page_ptr is the blob's first word. */
    if (pwrite(fd, &page, sizeof page, (off_t)p->vclock_blob) == (ssize_t)sizeof page) {
        p->vclock_page = page;
        p->vclock_stale = true;
    }
    close(fd);
}

void vclock_sync(struct supervisor *s, struct task *t)
{
    struct proc *p = t->proc;
    if (!p->vclock_page)
        return;
    int64_t now = sim_now_ns();
    /* With the CPU model on every read traps (limit 0): the page needs
     * writing once, not at every move of the clock. */
    bool measured = s->opt->cpu_model == CPU_MODEL_MEASURED;
    if (!p->vclock_stale && (measured || p->vclock_written_ns == now))
        return;
    struct vclock_page pg = {
        .mono_ns = now,
        .real_ns = s->opt->epoch * 1000000000LL + now,
        .reads = 0,
        /* With the CPU model on, a read must trap to see the CPU time
         * charged since the last syscall. */
        .limit = measured ? 0 : VCLOCK_READ_LIMIT,
    };
    if (mem_write(t, p->vclock_page, &pg, sizeof pg) < 0) {
        /* The target unmapped it: its reads fault, as it asked for. */
        p->vclock_page = 0;
        return;
    }
    p->vclock_written_ns = now;
    p->vclock_stale = false;
}
