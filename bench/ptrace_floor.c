/* The kernel floor of a ptrace-served call: a minimal tracer that only
 * answers (no memory access, no SimGrid).  bench/run.py times whole runs
 * from outside.
 *
 * Usage: ptrace_floor seccomp N   the child's clock_gettime is trapped by a
 *                                 SECCOMP_RET_TRACE filter; we answer 0
 *                                 (GETREGS, SETREGS skipping it, CONT), as
 *                                 Simterpose's ptrace backend does
 *        ptrace_floor syscall N   no filter: PTRACE_SYSCALL stops the child
 *                                 at the entry and exit of every syscall (the
 *                                 2011 prototype's design); it calls getppid,
 *                                 which Simterpose does not even trap
 *        ... N spin               poll with waitpid(WNOHANG) instead of
 *                                 sleeping in waitpid (as --spin-us does) */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int child(long n, int use_seccomp)
{
    if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)
        return 1;
    raise(SIGSTOP); /* the parent sets its options */
    if (use_seccomp) {
        struct sock_filter f[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clock_gettime, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
            return 1;
        struct timespec ts;
        for (long i = 0; i < n; i++)
            if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) != 0)
                return 1;
    } else {
        for (long i = 0; i < n; i++)
            syscall(SYS_getppid);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4 || (strcmp(argv[1], "seccomp") && strcmp(argv[1], "syscall"))) {
        fprintf(stderr, "usage: ptrace_floor seccomp|syscall N [spin]\n");
        return 2;
    }
    int wait_flags = argc == 4 && !strcmp(argv[3], "spin") ? WNOHANG : 0;
    int use_seccomp = !strcmp(argv[1], "seccomp");
    long n = atol(argv[2]);
    pid_t pid = fork();
    if (pid == 0)
        _exit(child(n, use_seccomp));
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st))
        return 1;
    long opts = PTRACE_O_EXITKILL | (use_seccomp ? PTRACE_O_TRACESECCOMP : PTRACE_O_TRACESYSGOOD);
    if (ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)opts) < 0)
        return 1;
    int resume = use_seccomp ? PTRACE_CONT : PTRACE_SYSCALL;
    ptrace((enum __ptrace_request)resume, pid, NULL, NULL);
    for (;;) {
        pid_t got;
        while ((got = waitpid(pid, &st, wait_flags)) == 0)
            ;
        if (got != pid)
            return 1;
        if (WIFEXITED(st) || WIFSIGNALED(st))
            break;
        struct user_regs_struct regs;
        ptrace(PTRACE_GETREGS, pid, NULL, &regs); /* which call: a real tracer must look */
        if (use_seccomp && (st >> 16) == PTRACE_EVENT_SECCOMP) {
            regs.orig_rax = (unsigned long long)-1;
            regs.rax = 0;
            ptrace(PTRACE_SETREGS, pid, NULL, &regs);
        }
        int sig = WSTOPSIG(st);
        int deliver = (st >> 16) == 0 && sig != SIGTRAP && sig != (SIGTRAP | 0x80) ? sig : 0;
        ptrace((enum __ptrace_request)resume, pid, NULL, (void *)(long)deliver);
    }
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
