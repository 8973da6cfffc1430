/* Core state of the supervisor: hosts, deployed groups, processes, tasks. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../sim/sim.h"
#include "evtag.h"
#include "deploy.h"
#include "options.h"

struct supervisor;
struct task;
struct group;

/* A trapped syscall as the backend delivered it. */
struct syscall_req {
    uint64_t id;      /* backend cookie (unotify: notification id) */
    int nr;
    uint64_t args[6];
    uint64_t ip;
};

/* What a handler decided; only the dispatcher turns it into a reply. */
enum sysret_kind { RET_VALUE, RET_ERRNO, RET_CONTINUE };
struct sysret {
    enum sysret_kind kind;
    int64_t value; /* RET_VALUE: the return value; RET_ERRNO: positive errno */
};
#define SYSRET_VALUE(v) ((struct sysret){RET_VALUE, (int64_t)(v)})
#define SYSRET_ERRNO(e) ((struct sysret){RET_ERRNO, (e)})
#define SYSRET_CONTINUE ((struct sysret){RET_CONTINUE, 0})
/* A value, or a negative errno as an error (a function: r is evaluated
 * once, so it may be a call). */
static inline struct sysret sysret_or_errno(int64_t r) { return r < 0 ? SYSRET_ERRNO((int)-r) : SYSRET_VALUE(r); }
#define SYSRET_OR_ERRNO(r) sysret_or_errno(r)

/* The kernel object standing for one of our files at its fd number in a
 * target: what one syscall makes (socket, epoll_create1, eventfd2,
 * timerfd_create, openat of a device), so that either backend can make
 * it, here or in the target. */
struct placeholder {
    long nr;          /* SYS_pipe2: a fresh pipe, end args[0] kept, the other closed */
    uint64_t args[3];
    const void *data; /* non-NULL: args[1] points to these datalen bytes (a path, a mask) */
    size_t datalen;
};

/* The event source: seccomp user notification or ptrace.  Small on
 * purpose: the handlers never see which one runs. */
struct backend_ops {
    const char *name;
    uint32_t filter_action;    /* what the BPF filter returns for a trapped call */
    /* Can a reply be -ERESTARTSYS, for the kernel to restart the call after
     * a signal handler (SA_RESTART)?  ptrace: no (the call was skipped with
     * orig_rax = -1, a restart would run syscall -1): EINTR instead. */
    bool can_restart;
    /* Does a task stopped with us take a signal only once answered (ptrace:
     * it is in a ptrace stop), rather than at once (unotify's killable
     * wait: a fatal signal ends it there)? */
    bool signal_needs_reply;
    /* Take over the freshly launched target of g (stopped before its
     * execve; listener_nr: its listener's fd number there, unotify only).
     * 0, or -1 with err set. */
    int (*attach)(struct supervisor *s, struct group *g, pid_t target, int listener_nr, char *err, size_t errlen);
    /* Block (in real time, the simulation stands still) until task t has a
     * trapped syscall in t->req (returns 1), t died (t->dead, returns 1), or
     * timeout_ms elapsed (returns 0).  Events of other tasks seen meanwhile
     * are stored in them. */
    int (*wait)(struct supervisor *s, struct task *t, int timeout_ms);
    /* Answer t's pending syscall.  -ENOENT if the task is gone or the
     * syscall was interrupted. */
    int (*reply)(struct supervisor *s, struct task *t, struct sysret r);
    /* Is t's pending syscall still waiting for us (not interrupted)? */
    bool (*pending_valid)(struct supervisor *s, struct task *t);
    /* Install at newfd in t (replacing what is there), while t is stopped
     * in a syscall, the placeholder ph makes (created close-on-exec).
     * 0 or -errno. */
    int (*install_placeholder)(struct supervisor *s, struct task *t, const struct placeholder *ph, int newfd,
                               bool cloexec);
    /* Give t (stopped in a syscall) a copy of our descriptor localfd at its
     * lowest free fd, as receiving it over a socket would.  The fd or
     * -errno; NULL when the backend cannot (ptrace). */
    int (*install_native)(struct supervisor *s, struct task *t, int localfd, bool cloexec);
    /* Collect what dying tasks leave for us outside any wait (ptrace: exit
     * reports, without which their parents could not reap them); NULL when
     * there is nothing to collect. */
    void (*reap)(struct supervisor *s);
};
extern const struct backend_ops unotify_backend;
extern const struct backend_ops ptrace_backend;

struct sock;
struct usock;
struct ptimer;
struct vhost {
    sim_host sh;
    const char *name;
    char ip[16];
    uint32_t addr;             /* ip, network order */
    struct sock *bound;        /* bound sockets (both protocols) */
    struct usock *unix_bound;  /* its AF_UNIX names */
    uint16_t next_ephemeral;   /* next port to try, from 32768 */
};

enum group_end { END_RUNNING, END_EXITED, END_SIGNALED, END_LAUNCH_FAILED };

/* One deployed program: its namespaces, its reaper, its output files. */
/* What a deployed program (with its children) did, for the stats. */
struct usage {
    uint64_t syscalls_by_class[8]; /* by enum trap_class (TRAP_CLASS_COUNT <= 8) */
    uint64_t bytes_sent, bytes_received; /* payload on emulated sockets */
    int64_t cpu_ns;                /* measured CPU time charged */
    int64_t cpu_sim_ns;            /* simulated time those executions took */
    int64_t blocked_ns;            /* simulated time inside trapped syscalls */
};

struct group {
    struct evtag tag;      /* epoll: the listener */
    int index;
    struct vhost *host;
    const struct deploy_actor *spec;
    char *exe;             /* resolved absolute path */
    char *name;            /* basename.n, unique on the host */
    char *stdout_path, *stderr_path;
    pid_t init_pid;        /* the reaper, PID 1 of the group's PID namespace */
    int init_pidfd;
    int status_fd;         /* reaper reports the main program's wait status here */
    int listener;          /* seccomp listener of every task in the group (unotify) */
    uint64_t pidns_ino;    /* its PID namespace: tells a new tracee's group (ptrace) */
    struct proc *main;     /* the deployed program's process */
    enum group_end end;
    int status;            /* wait status of the main process */
    int64_t end_ns;
    bool started;          /* start_time reached */
    bool killed;           /* by kill_time, the hang detector or an interrupt */
    const char *kill_reason;
    int64_t kill_ns;       /* simulated time of the kill */
    struct proc *procs;    /* every process of the group, newest first */
    struct usage usage;
};

struct fdtable;
struct proc {
    struct evtag tag;          /* epoll: its pidfd, when tasks have none */
    pid_t pid;                 /* tgid, in the supervisor's PID namespace */
    pid_t ns_pid;              /* the same, as the group's namespace sees it */
    int pidfd;                 /* kept until reaped: tells zombie from gone */
    struct group *g;
    struct proc *parent;       /* NULL for the deployed program */
    struct proc *next_in_group;
    bool exec_pending;         /* new image: vDSO must be patched */
    uint64_t rng[4];           /* its random stream (random.c) */
    uint64_t vclock_blob;      /* clock fast path in its vDSO, 0: none */
    uint64_t vclock_page;      /* its clock page, 0: not registered yet */
    int64_t vclock_written_ns; /* simulated time last written there */
    bool vclock_stale;         /* rewrite it (read count to reset) */
    bool fork_pending;         /* a child may exist that we have not adopted */
    bool thread_pending;       /* a thread may exist that we have not adopted */
    struct task *vfork_parent; /* set on a vfork child until it execs or exits */
    struct proc *children;     /* adopted children, newest first */
    struct task *tasks;        /* its threads */
    struct fdtable *fds;       /* its emulated descriptors */
    uint64_t pending_ctid[16]; /* threads cloned, not yet adopted (FIFO) */
    int npending_ctid;
    struct proc *next_sibling;
    int live_tasks;
    bool exiting;              /* its exit_group was let through */
    bool dead;
    int exit_code;             /* from exit_group, -1 unknown */
    int64_t cpu_time_ns;       /* of its tasks, the dead ones too */
    int64_t children_cpu_ns;   /* of its ended descendants (RUSAGE_CHILDREN) */
    /* ITIMER_REAL (alarm, setitimer) in simulated time (signal.c) */
    int64_t itimer_at;         /* next expiration, -1 disarmed */
    int64_t itimer_interval_ns;
    struct sim_waitq *itimer_q;/* its timer actor waits here, NULL: none yet */
    struct ptimer *timers;     /* timer_create timers (signal.c) */
    int next_timer_id;
};

struct task {
    struct evtag tag;      /* epoll: the pidfd */
    struct supervisor *sup;
    pid_t tid;
    pid_t ns_tid;          /* its tid as its PID namespace sees it */
    int pidfd;
    struct proc *proc;
    sim_actor actor;
    bool has_req;          /* req holds a trapped syscall not yet answered */
    struct syscall_req req;
    uint64_t dispatched_id;/* req.id of the syscall its handler is serving */
    bool dead;
    bool exit_let_go;      /* its exit(2) was let run (no pidfd will tell: Linux < 6.9) */
    bool native_blocked;   /* watchdog: blocked in the kernel, simulation goes on */
    int asleep_ms;         /* watchdog: how long it has been seen asleep in the kernel */
    bool finished;         /* bookkeeping of its death done */
    int64_t spin_ns;       /* simulated cost of the next non-blocking poll/EAGAIN */
    uint32_t clock_streak; /* trapped clock reads since its last other syscall */
    int cpu_fd;            /* its schedstat, -1: CPU not measured */
    int64_t cpu_last_ns;   /* its CPU clock at its last trap */
    int64_t cpu_burst_ns;  /* CPU time charged before the syscall being served */
    uint64_t ctid;         /* CLONE_CHILD_CLEARTID address: cleared and woken at exit */
    struct sim_waitq *wake;/* every simulated wait of this task happens here */
    void *backend_data;    /* owned by the backend, freed with the task */
    int64_t cpu_time_ns;   /* its CPU time as it reads it: simulated executions and busy polls */
    bool parked;           /* its actor waits in task_block */
    int sig_interrupt;     /* a signal for it came while parked: SIGINTR_* */
    bool sigwaiting;       /* in sigsuspend/sigtimedwait: sigwait_mask ends it */
    uint64_t sigwait_mask; /* bit n-1 for signal n */
    struct task *hash_next;
    struct task *next_in_proc;
};
enum { SIGINTR_NONE, SIGINTR_EINTR, SIGINTR_RESTART };

struct supervisor {
    const struct options *opt;
    const struct backend_ops *backend;
    int epfd;                   /* listeners and pidfds */
    bool no_thread_pidfd;       /* Linux < 6.9: a pidfd for a process, not a thread */
    struct vhost *hosts;        /* in platform order */
    size_t nhosts;
    struct group *groups;       /* in deployment order */
    size_t ngroups;
    struct task **task_hash;    /* by tid */
    size_t task_hash_size;
    size_t live_tasks;
    size_t blocked_native;      /* tasks the watchdog let go */
    uint64_t *syscall_counts;   /* indexed like trap_table */
    uint64_t unknown_syscalls;
    int64_t wall_start_ns;
    const char *hosts_file;     /* generated /etc/hosts */
    bool interrupt_handled;
    double cpu_reference_speed; /* flop/s, when the CPU model is on */
    bool cpu_calibrated;
    FILE *strace;               /* --strace, NULL: off */
    size_t live_procs;
    bool progress;              /* show the progress line (stderr is a terminal) */
    uint64_t progress_calls;
    int64_t progress_last_ns;
};

/* core.c */
#include <signal.h>
extern volatile sig_atomic_t core_interrupted; /* SIGINT/SIGTERM/SIGHUP seen */
void core_free(struct supervisor *s);
void core_start_group(struct supervisor *s, struct group *g, pid_t main_pid);
/* Wait in simulated time until deadline (ns, -1: none) or a wake-up.
 * Returns false when the syscall must be abandoned (task killed or
 * interrupted): the caller returns at once. */
bool task_block(struct task *t, int64_t deadline);
void task_wake(struct task *t);
/* A poll that returned at once, or an EAGAIN: costs simulated time,
 * doubling while the task keeps spinning (so a busy loop on readiness
 * lets time pass), reset when it really waits (task_waited). */
void task_charge_spin(struct task *t);
/* ns of simulated time the task computed (CPU clocks, getrusage, times). */
void task_add_cpu(struct task *t, int64_t ns);
void task_waited(struct task *t);
/* A poll that returned at once: with ready events a flat 1 µs (and the
 * back-off starts over), with none a busy poll (task_charge_spin). */
void task_charge_poll(struct task *t, bool ready);
void proc_wake_all(struct proc *p);
/* Signals (syscalls/signal.c).  A child of p ended: SIGCHLD may interrupt
 * a parked task of p.  p ended: its timer stops. */
void signal_child_exited(struct supervisor *s, struct proc *p);
void signal_proc_ended(struct proc *p);
/* p's image was replaced: its timer_create timers are gone. */
void signal_exec(struct proc *p);
/* The result of t's call once a signal interrupted it (EINTR, or
 * ERESTARTSYS for the kernel to restart it as Linux would). */
struct sysret signal_adjust_result(struct supervisor *s, struct task *t, struct sysret r);
void group_kill(struct supervisor *s, struct group *g, const char *why);
/* Wait until the (killed) reaper of g is gone, and reap it. */
void group_wait_reaper(struct supervisor *s, struct group *g);
struct task *task_find(struct supervisor *s, pid_t tid);
/* Adoption in two steps for the event loop, which must not run simcalls
 * (they may run other actors, which would re-enter it). */
struct task *task_new(struct supervisor *s, struct group *g, pid_t tid, struct proc *parent_hint);
void task_start(struct supervisor *s, struct task *t);
struct task *task_adopt(struct supervisor *s, struct group *g, pid_t tid, struct proc *parent_hint);
/* No simcall: the caller wakes t's waiters (task_wake) afterwards. */
void task_mark_dead(struct supervisor *s, struct task *t);
void proc_adopt_children(struct supervisor *s, struct proc *p);
void proc_adopt_threads(struct supervisor *s, struct proc *p);
int64_t virtual_realtime_ns(struct supervisor *s);
/* syscalls/futex.c */
void futex_thread_exited(struct task *t, uint64_t ctid);
/* Erase the progress line before writing to stderr. */
void progress_clear(void);
void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
