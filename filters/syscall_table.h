/* The one table of syscalls Simterpose traps.  Everything else is derived
 * from it: the BPF filter (filters/bpf.c), the dispatch (supervisor/dispatch.c),
 * the per-syscall statistics names and docs/syscalls.md (tools/gen-syscall-doc).
 *
 * SYSCALL(name, class, handler)
 *   name    : syscall name, __NR_<name> must exist on x86_64
 *   class   : trap class, see enum trap_class in filters/filter.h
 *   handler : function in supervisor/syscalls/<family>.c
 *
 * Syscalls not listed run natively at full speed and never reach the
 * supervisor.  Keep rows grouped by family. */

/* time: every clock shows simulated time, every sleep is a SimGrid sleep */
SYSCALL(clock_gettime,   TRAP_TIME, sys_clock_gettime)
SYSCALL(clock_getres,    TRAP_TIME, sys_clock_getres)
SYSCALL(gettimeofday,    TRAP_TIME, sys_gettimeofday)
SYSCALL(time,            TRAP_TIME, sys_time)
SYSCALL(nanosleep,       TRAP_TIME, sys_nanosleep)
SYSCALL(clock_nanosleep, TRAP_TIME, sys_clock_nanosleep)

/* processes: new tasks are adopted, waits are ordered in simulated time */
SYSCALL(fork,            TRAP_PROC, sys_fork)
SYSCALL(vfork,           TRAP_PROC, sys_fork)
SYSCALL(clone,           TRAP_PROC, sys_clone)
SYSCALL(clone3,          TRAP_PROC, sys_clone3)
SYSCALL(execve,          TRAP_PROC, sys_execve)
SYSCALL(execveat,        TRAP_PROC, sys_execve)
SYSCALL(wait4,           TRAP_PROC, sys_wait4)
SYSCALL(waitid,          TRAP_PROC, sys_waitid)
SYSCALL(exit,            TRAP_PROC, sys_exit)
SYSCALL(exit_group,      TRAP_PROC, sys_exit)
/* Every runtime (glibc ld.so, static glibc, musl, Go) sets its TLS with
 * arch_prctl before user code runs: the stop where a fresh image's vDSO
 * gets patched. */
SYSCALL(arch_prctl,      TRAP_PROC, sys_arch_prctl)
