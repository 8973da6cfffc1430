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
/* CPU time as the simulation charged it: deterministic */
SYSCALL(getrusage,       TRAP_TIME, sys_getrusage)
SYSCALL(times,           TRAP_TIME, sys_times)
/* timerfds are timers of simulated time, made and kept by us */
SYSCALL(timerfd_create,  TRAP_TIME, sys_timerfd_create)
SYSCALL(timerfd_settime, TRAP_FD,   sys_timerfd_settime)
SYSCALL(timerfd_gettime, TRAP_FD,   sys_timerfd_gettime)

/* network: AF_INET and AF_UNIX sockets are emulated (other families run
 * natively) */
SYSCALL(socket,          TRAP_NET,  sys_socket)
SYSCALL(socketpair,      TRAP_NET,  sys_socketpair)
SYSCALL(bind,            TRAP_FD,   sys_bind)
SYSCALL(listen,          TRAP_FD,   sys_listen)
SYSCALL(accept,          TRAP_FD,   sys_accept)
SYSCALL(accept4,         TRAP_FD,   sys_accept)
SYSCALL(connect,         TRAP_FD,   sys_connect)
SYSCALL(shutdown,        TRAP_FD,   sys_shutdown)
SYSCALL(getsockname,     TRAP_FD,   sys_getsockname)
SYSCALL(getpeername,     TRAP_FD,   sys_getpeername)
SYSCALL(setsockopt,      TRAP_FD,   sys_setsockopt)
SYSCALL(getsockopt,      TRAP_FD,   sys_getsockopt)
SYSCALL(sendto,          TRAP_FD,   sys_sendto)
SYSCALL(recvfrom,        TRAP_FD,   sys_recvfrom)
SYSCALL(sendmsg,         TRAP_FD,   sys_sendmsg)
SYSCALL(recvmsg,         TRAP_FD,   sys_recvmsg)

/* descriptors: only fds 0-2 and fds >= EMU_FD_BASE are trapped; dup2,
 * dup3 and close_range may overwrite or close one from a native fd */
SYSCALL(read,            TRAP_FD,   sys_read)
SYSCALL(write,           TRAP_FD,   sys_write)
SYSCALL(readv,           TRAP_FD,   sys_readv)
SYSCALL(writev,          TRAP_FD,   sys_writev)
SYSCALL(pread64,         TRAP_FD,   sys_pread)
SYSCALL(pwrite64,        TRAP_FD,   sys_pwrite)
SYSCALL(preadv,          TRAP_FD,   sys_pread)
SYSCALL(pwritev,         TRAP_FD,   sys_pwrite)
SYSCALL(preadv2,         TRAP_FD,   sys_pread)
SYSCALL(pwritev2,        TRAP_FD,   sys_pwrite)
SYSCALL(close,           TRAP_FD,   sys_close)
SYSCALL(dup,             TRAP_FD,   sys_dup)
SYSCALL(dup2,           TRAP_DESC,  sys_dup2)
SYSCALL(dup3,           TRAP_DESC,  sys_dup2)
SYSCALL(close_range,    TRAP_DESC,  sys_close_range)
SYSCALL(fcntl,           TRAP_FD,   sys_fcntl)
SYSCALL(ioctl,           TRAP_FD,   sys_ioctl)
SYSCALL(lseek,           TRAP_FD,   sys_lseek)
/* pipes are channels of ours: a reader waits for its writer in simulated
 * time (shell pipelines put them on fds 0-2, trapped too) */
SYSCALL(pipe,           TRAP_DESC,  sys_pipe)
SYSCALL(pipe2,          TRAP_DESC,  sys_pipe2)
/* in-kernel copies between descriptors: the kernel cannot reach a file of
 * ours through its placeholder (a pipe's would say EOF), so with one of
 * ours involved they fail with EINVAL, which callers take as "not for this
 * kind of file" and fall back to read/write */
SYSCALL(sendfile,       TRAP_DESC,  sys_kernel_copy)
SYSCALL(splice,         TRAP_DESC,  sys_kernel_copy)
SYSCALL(tee,            TRAP_DESC,  sys_kernel_copy)
SYSCALL(vmsplice,       TRAP_DESC,  sys_kernel_copy)
SYSCALL(copy_file_range,TRAP_DESC,  sys_kernel_copy)
/* eventfds are counters of ours: waits on them follow simulated time */
SYSCALL(eventfd,        TRAP_DESC,  sys_eventfd)
SYSCALL(eventfd2,       TRAP_DESC,  sys_eventfd)

/* readiness: a real epoll could not see emulated sockets, so every epoll
 * instance is emulated; poll/select run natively when no fd is ours */
SYSCALL(poll,           TRAP_DESC,  sys_poll)
SYSCALL(ppoll,          TRAP_DESC,  sys_ppoll)
SYSCALL(select,         TRAP_DESC,  sys_select)
SYSCALL(pselect6,       TRAP_DESC,  sys_pselect6)
SYSCALL(epoll_create,   TRAP_DESC,  sys_epoll_create)
SYSCALL(epoll_create1,  TRAP_DESC,  sys_epoll_create)
SYSCALL(epoll_ctl,       TRAP_FD,   sys_epoll_ctl)
SYSCALL(epoll_wait,      TRAP_FD,   sys_epoll_wait)
SYSCALL(epoll_pwait,     TRAP_FD,   sys_epoll_wait)
SYSCALL(epoll_pwait2,    TRAP_FD,   sys_epoll_pwait2)

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
/* signals: the kernel delivers them; we send those between tasks (to a
 * thread we choose), so that a call parked with us ends as Linux would
 * end it; ITIMER_REAL and the waits for a signal follow simulated time */
SYSCALL(kill,            TRAP_PROC, sys_kill)
SYSCALL(tkill,           TRAP_PROC, sys_tkill)
SYSCALL(tgkill,          TRAP_PROC, sys_tgkill)
SYSCALL(pause,           TRAP_PROC, sys_pause)
SYSCALL(rt_sigsuspend,   TRAP_PROC, sys_rt_sigsuspend)
SYSCALL(rt_sigtimedwait, TRAP_PROC, sys_rt_sigtimedwait)
SYSCALL(signalfd,       TRAP_DESC,  sys_signalfd)
SYSCALL(signalfd4,      TRAP_DESC,  sys_signalfd)
SYSCALL(alarm,           TRAP_TIME, sys_alarm)
SYSCALL(setitimer,       TRAP_TIME, sys_setitimer)
SYSCALL(getitimer,       TRAP_TIME, sys_getitimer)
SYSCALL(timer_create,    TRAP_TIME, sys_timer_create)
SYSCALL(timer_settime,   TRAP_TIME, sys_timer_settime)
SYSCALL(timer_gettime,   TRAP_TIME, sys_timer_gettime)
SYSCALL(timer_getoverrun,TRAP_TIME, sys_timer_getoverrun)
SYSCALL(timer_delete,    TRAP_TIME, sys_timer_delete)
/* threads: waits follow simulated time (pthread mutexes, condvars, joins) */
SYSCALL(futex,           TRAP_PROC, sys_futex)
/* glibc's first call in a new thread and in a fork child: trapping it parks
 * the newcomer at once, so it does not run next to its creator (one task
 * at a time) before we adopted it */
SYSCALL(set_robust_list, TRAP_PROC, sys_set_robust_list)
/* Every runtime (glibc ld.so, static glibc, musl, Go) sets its TLS with
 * arch_prctl before user code runs: the stop where a fresh image's vDSO
 * gets patched. */
SYSCALL(arch_prctl,      TRAP_PROC, sys_arch_prctl)

/* randomness: getrandom serves a per-process stream seeded by --seed, and
 * so do /dev/urandom and /dev/random: opens are trapped to catch those two
 * (every other path is let through at once) */
SYSCALL(getrandom,       TRAP_RAND, sys_getrandom)
SYSCALL(open,            TRAP_RAND, sys_open)
SYSCALL(openat,          TRAP_RAND, sys_open)
