/* The generated BPF program traps exactly the table's syscalls, with the
 * fd condition for TRAP_FD rows: checked by evaluating the program for
 * every syscall number, and by loading it into the kernel. */
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "filters/filter.h"

#define TRAP SECCOMP_RET_USER_NOTIF

/* A classic-BPF interpreter for the instructions the generator uses. */
static uint32_t run_bpf(const struct sock_filter *prog, int len, const struct seccomp_data *d)
{
    uint32_t a = 0;
    for (int pc = 0; pc < len; pc++) {
        const struct sock_filter *i = &prog[pc];
        switch (i->code) {
        case BPF_LD | BPF_W | BPF_ABS:
            cr_assert(i->k + 4 <= sizeof *d, "load out of seccomp_data at %d", pc);
            memcpy(&a, (const char *)d + i->k, 4);
            break;
        case BPF_JMP | BPF_JEQ | BPF_K:
            pc += a == i->k ? i->jt : i->jf;
            break;
        case BPF_JMP | BPF_JGE | BPF_K:
            pc += a >= i->k ? i->jt : i->jf;
            break;
        case BPF_JMP | BPF_JA:
            pc += (int)i->k;
            break;
        case BPF_RET | BPF_K:
            return i->k;
        default:
            cr_assert_fail("unexpected opcode %#x at %d", i->code, pc);
        }
    }
    cr_assert_fail("fell off the end of the program");
    return 0;
}

static int build(const struct trap_entry *t, size_t n, uint32_t action, struct sock_filter **out)
{
    size_t cap = filter_max_len(n);
    *out = calloc(cap, sizeof **out);
    int len = filter_build(t, n, action, *out, cap);
    cr_assert_gt(len, 0);
    cr_assert_leq((size_t)len, cap);
    return len;
}

static uint32_t eval(const struct sock_filter *p, int len, uint32_t arch, int nr, uint64_t arg0)
{
    struct seccomp_data d = {.nr = nr, .arch = arch};
    d.args[0] = arg0;
    return run_bpf(p, len, &d);
}

Test(filter, traps_exactly_the_table)
{
    struct sock_filter *p;
    int len = build(trap_table, trap_table_len, TRAP, &p);
    for (int nr = 0; nr < 1024; nr++) {
        int idx = trap_lookup(nr);
        uint32_t fd_native = eval(p, len, AUDIT_ARCH_X86_64, nr, 3);
        uint32_t fd_emu = eval(p, len, AUDIT_ARCH_X86_64, nr, EMU_FD_BASE + 7);
        if (idx < 0) {
            cr_expect_eq(fd_native, SECCOMP_RET_ALLOW, "syscall %d not in the table but trapped", nr);
            cr_expect_eq(fd_emu, SECCOMP_RET_ALLOW, "syscall %d not in the table but trapped", nr);
        } else if (trap_table[idx].cls == TRAP_FD) {
            cr_expect_eq(fd_native, SECCOMP_RET_ALLOW, "%s trapped on a native fd", trap_table[idx].name);
            cr_expect_eq(fd_emu, TRAP, "%s not trapped on an emulated fd", trap_table[idx].name);
        } else {
            cr_expect_eq(fd_native, TRAP, "%s not trapped", trap_table[idx].name);
            cr_expect_eq(fd_emu, TRAP, "%s not trapped", trap_table[idx].name);
        }
    }
    free(p);
}

Test(filter, foreign_arch_and_x32_get_enosys)
{
    struct sock_filter *p;
    int len = build(trap_table, trap_table_len, TRAP, &p);
    cr_expect_eq(eval(p, len, AUDIT_ARCH_I386, __NR_getppid, 0), SECCOMP_RET_ERRNO | ENOSYS);
    cr_expect_eq(eval(p, len, AUDIT_ARCH_X86_64, 0x40000000 | __NR_clock_gettime, 0), SECCOMP_RET_ERRNO | ENOSYS);
    free(p);
}

/* A table with every class, large enough to need long jumps. */
static size_t synthetic_table(struct trap_entry *t, size_t cap)
{
    size_t n = 0;
    for (int nr = 0; nr < 450 && n < cap; nr += 2)
        t[n++] = (struct trap_entry){nr, "x", nr % 3 == 0 ? TRAP_FD : nr % 3 == 1 ? TRAP_TIME : TRAP_NET};
    return n;
}

Test(filter, fd_condition_and_long_jumps)
{
    struct trap_entry t[256];
    size_t n = synthetic_table(t, 256);
    struct sock_filter *p;
    int len = build(t, n, TRAP, &p);
    cr_assert_gt(len, 255, "the table should be big enough to exercise JA");
    for (int nr = 0; nr < 460; nr++) {
        bool listed = nr % 2 == 0 && nr < 450;
        bool fdc = listed && nr % 3 == 0;
        cr_expect_eq(eval(p, len, AUDIT_ARCH_X86_64, nr, 5), listed && !fdc ? TRAP : SECCOMP_RET_ALLOW, "nr %d", nr);
        cr_expect_eq(eval(p, len, AUDIT_ARCH_X86_64, nr, EMU_FD_BASE), listed ? TRAP : SECCOMP_RET_ALLOW, "nr %d", nr);
        cr_expect_eq(eval(p, len, AUDIT_ARCH_X86_64, nr, EMU_FD_BASE - 1), listed && !fdc ? TRAP : SECCOMP_RET_ALLOW,
                     "nr %d", nr);
        /* stdin, stdout, stderr may be emulated pipes: trapped; 3 is not */
        for (int fd = 0; fd < EMU_FD_LOW; fd++)
            cr_expect_eq(eval(p, len, AUDIT_ARCH_X86_64, nr, (uint64_t)fd), listed ? TRAP : SECCOMP_RET_ALLOW,
                         "nr %d fd %d", nr, fd);
        cr_expect_eq(eval(p, len, AUDIT_ARCH_X86_64, nr, EMU_FD_LOW), listed && !fdc ? TRAP : SECCOMP_RET_ALLOW,
                     "nr %d", nr);
        /* fd -1 and garbage in the high word: the kernel sees a negative int */
        cr_expect_eq(eval(p, len, AUDIT_ARCH_X86_64, nr, 0xffffffffu), listed && !fdc ? TRAP : SECCOMP_RET_ALLOW,
                     "nr %d", nr);
        cr_expect_eq(eval(p, len, AUDIT_ARCH_X86_64, nr, 0xdead000000000003ull),
                     listed && !fdc ? TRAP : SECCOMP_RET_ALLOW, "nr %d", nr);
    }
    free(p);
}

Test(filter, rejects_duplicates_and_small_buffers)
{
    struct trap_entry dup[] = {{1, "a", TRAP_TIME}, {1, "b", TRAP_PROC}};
    struct sock_filter buf[64];
    cr_expect_eq(filter_build(dup, 2, TRAP, buf, 64), -1);
    cr_expect_eq(filter_build(trap_table, trap_table_len, TRAP, buf, 4), -1);
}

/* The kernel accepts the program and applies it: trapped calls get our
 * marker errno, untrapped ones run. */
#define MARK 4000
static int child_checks(const struct sock_fprog *prog, int fd_test)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) < 0)
        return 10;
    struct timespec ts;
    if (!fd_test) {
        if (syscall(SYS_clock_gettime, CLOCK_REALTIME, &ts) != -1 || errno != MARK)
            return 11;
        if (syscall(SYS_nanosleep, &ts, NULL) != -1 || errno != MARK)
            return 12;
        if (syscall(SYS_getppid) <= 0)
            return 13;
        if (syscall(SYS_clock_getres, CLOCK_REALTIME, &ts) != -1 || errno != MARK)
            return 14;
        return 0;
    }
    /* fd_test: write is TRAP_FD in the synthetic table */
    if (syscall(SYS_write, EMU_FD_BASE + 1, "x", 1) != -1 || errno != MARK)
        return 20;
    if (syscall(SYS_write, 1000000, "x", 1) != -1 || errno != MARK)
        return 21;
    if (syscall(SYS_write, 77, "x", 1) != -1 || errno != EBADF)
        return 22;
    if (syscall(SYS_write, 2, "", 0) != -1 || errno != MARK)
        return 23;
    return 0;
}

static void in_child(const struct trap_entry *t, size_t n, int fd_test)
{
    struct sock_filter *p;
    int len = build(t, n, SECCOMP_RET_ERRNO | MARK, &p);
    struct sock_fprog prog = {.len = (unsigned short)len, .filter = p};
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        /* exit_group and kill are trapped too: report through the pipe
         * (fd >= 3: not trapped), then wait for the parent's SIGKILL. */
        unsigned char r = (unsigned char)child_checks(&prog, fd_test);
        if (write(pfd[1], &r, 1) != 1)
            r = 99;
        for (;;)
            sched_yield();
    }
    close(pfd[1]);
    unsigned char r = 255;
    cr_expect_eq(read(pfd[0], &r, 1), 1, "child died before reporting");
    kill(pid, SIGKILL);
    cr_expect_eq(r, 0, "child check %d failed", r);
    waitpid(pid, NULL, 0);
    close(pfd[0]);
    free(p);
}

Test(filter, kernel_runs_the_real_table) { in_child(trap_table, trap_table_len, 0); }

Test(filter, kernel_applies_the_fd_condition)
{
    struct trap_entry t[] = {{__NR_write, "write", TRAP_FD}, {__NR_clock_gettime, "clock_gettime", TRAP_TIME}};
    in_child(t, 2, 1);
}
