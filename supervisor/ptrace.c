/* The ptrace backend: the same BPF filter returning SECCOMP_RET_TRACE,
 * the same handlers and the same semantics as unotify (backend_ops).
 *
 * A trapped call stops its task in a seccomp stop.  We read its registers
 * (PTRACE_GETREGS), and answer by resuming it: as is (RET_CONTINUE, the
 * kernel runs the call), or with orig_rax = -1 and rax = the result (the
 * kernel skips the call).  Where unotify uses ADDFD the task makes the
 * placeholder itself (syscall injection: socket, epoll_create1, eventfd2,
 * timerfd_create or openat, then dup3 and close), and we answer from its
 * syscall-exit stop.
 *
 * Events arrive through waitpid.  We wait with __WCLONE and without
 * __WALL: tracees are always eligible, while our own children (the
 * reapers, which exit with SIGCHLD) are not, so we never steal their exit
 * from the code that waits for them.  SIGCHLD is blocked (at attach) and
 * taken with sigtimedwait to sleep until the next event.
 *
 * Differences from unotify: docs/ARCHITECTURE.md, "Backends". */
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mem.h"
#include "supervisor.h"

struct ptrace_task {
    struct user_regs_struct regs; /* at the seccomp stop */
    bool at_exit_stop;            /* injected calls ran: answer from their exit stop */
    int deferred_signal;          /* caught during an injection, raised again after */
};

static uint64_t next_stop_id = 1;

#if defined(__SANITIZE_ADDRESS__)
/* ptrace requests must come from the thread that attached, and ASan builds
 * run each actor in its own thread (sim.c): one thread makes them all. */
static pthread_mutex_t call_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t call_cond = PTHREAD_COND_INITIALIZER;
static struct {
    int request;
    pid_t pid;
    void *addr, *data;
    long ret;
    int err;
    int state; /* 0 idle, 1 asked, 2 done */
} call;

static void *tracer_thread(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&call_lock);
    for (;;) {
        while (call.state != 1)
            pthread_cond_wait(&call_cond, &call_lock);
        errno = 0;
        call.ret = ptrace((enum __ptrace_request)call.request, call.pid, call.addr, call.data);
        call.err = errno;
        call.state = 2;
        pthread_cond_broadcast(&call_cond);
    }
    return NULL;
}

static void start_tracer_thread(void)
{
    pthread_t thread;
    if (pthread_create(&thread, NULL, tracer_thread, NULL) != 0)
        abort();
}

static long pt(int request, pid_t pid, void *addr, void *data)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, start_tracer_thread);
    pthread_mutex_lock(&call_lock);
    while (call.state != 0)
        pthread_cond_wait(&call_cond, &call_lock);
    call.request = request;
    call.pid = pid;
    call.addr = addr;
    call.data = data;
    call.state = 1;
    pthread_cond_broadcast(&call_cond);
    while (call.state != 2)
        pthread_cond_wait(&call_cond, &call_lock);
    long ret = call.ret;
    int err = call.err;
    call.state = 0;
    pthread_cond_broadcast(&call_cond);
    pthread_mutex_unlock(&call_lock);
    errno = err;
    return ret;
}
#else
static long pt(int request, pid_t pid, void *addr, void *data)
{
    return ptrace((enum __ptrace_request)request, pid, addr, data);
}
#endif

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static struct ptrace_task *state_of(struct task *t)
{
    if (!t->backend_data && !(t->backend_data = calloc(1, sizeof(struct ptrace_task))))
        abort();
    return t->backend_data;
}

static uint64_t pidns_of(pid_t pid)
{
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%d/ns/pid", pid);
    return stat(path, &st) < 0 ? 0 : (uint64_t)st.st_ino;
}

/* A tracee we do not know yet (a new child or thread): its PID namespace
 * tells its group. */
static struct task *adopt(struct supervisor *s, pid_t pid)
{
    uint64_t ns = pidns_of(pid);
    for (size_t i = 0; ns && i < s->ngroups; i++)
        if (s->groups[i].pidns_ino == ns)
            return task_new(s, &s->groups[i], pid, NULL);
    return NULL;
}

#define BATCH 64
struct batch {
    struct task *adopted[BATCH], *wake[BATCH];
    int nadopted, nwake;
};

/* rdtsc/rdtscp made t fault (PR_TSC_SIGSEGV, set at launch): answer it
 * with the virtual TSC, 1 GHz from the simulation's start, and skip the
 * instruction.  false: a SIGSEGV of another kind, to deliver. */
static bool emulate_tsc(struct task *t, pid_t pid)
{
    siginfo_t si;
    struct user_regs_struct regs;
    unsigned char insn[3];
    if (pt(PTRACE_GETSIGINFO, pid, NULL, &si) < 0 || si.si_code != SI_KERNEL ||
        pt(PTRACE_GETREGS, pid, NULL, &regs) < 0 || mem_read(t, regs.rip, insn, sizeof insn) < 0)
        return false;
    size_t len;
    if (insn[0] == 0x0f && insn[1] == 0x31)
        len = 2; /* rdtsc */
    else if (insn[0] == 0x0f && insn[1] == 0x01 && insn[2] == 0xf9)
        len = 3; /* rdtscp: also TSC_AUX (the cpu) in ecx */
    else
        return false;
    uint64_t tsc = (uint64_t)sim_now_ns();
    regs.rax = tsc & 0xffffffffu;
    regs.rdx = tsc >> 32;
    if (len == 3)
        regs.rcx = 0;
    regs.rip += len;
    return pt(PTRACE_SETREGS, pid, NULL, &regs) == 0;
}

/* One waitpid report.  No simcall here (see task_new): adoptions and
 * wake-ups are collected in b, acted upon by the caller. */
static void handle_report(struct supervisor *s, pid_t pid, int status, struct batch *b)
{
    struct task *t = task_find(s, pid);
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
        if (t && !t->dead) {
            task_mark_dead(s, t);
            if (b)
                b->wake[b->nwake++] = t;
        }
        return;
    }
    if (!WIFSTOPPED(status))
        return;
    int event = status >> 16, sig = WSTOPSIG(status);
    if (event == PTRACE_EVENT_SECCOMP && b) {
        if (!t) {
            if (!(t = adopt(s, pid))) {
                pt(PTRACE_CONT, pid, NULL, NULL); /* not ours to serve: natively */
                return;
            }
            b->adopted[b->nadopted++] = t;
        }
        struct ptrace_task *p = state_of(t);
        if (pt(PTRACE_GETREGS, pid, NULL, &p->regs) < 0)
            return; /* killed meanwhile: its exit report follows */
        p->at_exit_stop = false;
        t->req.id = next_stop_id++;
        t->req.nr = (int)p->regs.orig_rax;
        t->req.ip = p->regs.rip;
        uint64_t args[6] = {p->regs.rdi, p->regs.rsi, p->regs.rdx, p->regs.r10, p->regs.r8, p->regs.r9};
        memcpy(t->req.args, args, sizeof args);
        t->has_req = true;
        return;
    }
    /* Fork, clone, exec events, a new tracee's first stop, a group stop:
     * let it go on.  A signal-delivery stop: deliver the signal. */
    bool delivery = event == 0 && sig != (SIGTRAP | 0x80);
    if (delivery && sig == SIGSEGV && t && emulate_tsc(t, pid))
        delivery = false; /* answered: the task goes on after the instruction */
    pt(PTRACE_CONT, pid, NULL, (void *)(uintptr_t)(delivery ? sig : 0));
}

/* The reports waiting, as many as b holds (the rest stay queued in the
 * kernel for the next call); returns how many. */
static int drain(struct supervisor *s, struct batch *b)
{
    int n = 0, status;
    pid_t pid;
    while ((!b || (b->nadopted < BATCH && b->nwake < BATCH)) && (pid = waitpid(-1, &status, WNOHANG | __WCLONE)) > 0) {
        handle_report(s, pid, status, b);
        n++;
    }
    return n;
}

/* Every report waiting, acted upon batch by batch; returns how many. */
static int collect(struct supervisor *s)
{
    struct batch b = {.nadopted = 0};
    int total = 0, n;
    do {
        n = drain(s, &b);
        total += n;
        bool full = b.nadopted == BATCH || b.nwake == BATCH;
        for (int i = 0; i < b.nwake; i++)
            task_wake(b.wake[i]);
        for (int i = 0; i < b.nadopted; i++)
            task_start(s, b.adopted[i]);
        b.nwake = b.nadopted = 0;
        if (!full)
            break;
    } while (n);
    return total;
}

/* A task of the sandbox we do not trace (CLONE_UNTRACED, as
 * LeakSanitizer's helper uses) never reports its exit to us: its pidfd
 * does.  A tracee's report is always in before its pidfd turns readable
 * (both come from its exit), so collect first. */
static int gone_untraced(struct supervisor *s, struct task *t)
{
    collect(s);
    if (t->has_req || t->dead)
        return 1;
    struct pollfd pfd = {.fd = t->pidfd, .events = POLLIN};
    if (t->pidfd >= 0 && poll(&pfd, 1, 0) == 1) {
        task_mark_dead(s, t);
        task_wake(t);
        return 1;
    }
    return 0;
}

static int ptrace_wait(struct supervisor *s, struct task *t, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? -1 : mono_us() + (int64_t)timeout_ms * 1000;
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    bool spun = false;
    for (;;) {
        collect(s);
        if (t->has_req || t->dead)
            return 1;
        /* As unotify: the task we just answered usually stops again
         * within microseconds; polling beats sleeping and being woken. */
        if (!spun && s->opt->spin_us > 0) {
            spun = true;
            int64_t until = mono_us() + s->opt->spin_us;
            while (mono_us() < until && !collect(s))
                ;
            continue;
        }
        /* Sleep until a report, at most 10 ms at a time: an untraced
         * task's end shows only through its pidfd. */
        int64_t left_us = deadline < 0 ? 10000 : deadline - mono_us();
        if (left_us > 10000)
            left_us = 10000;
        if (left_us > 0) {
            struct timespec ts = {.tv_sec = 0, .tv_nsec = left_us * 1000};
            if (sigtimedwait(&chld, NULL, &ts) >= 0)
                continue; /* a report */
            if (errno == EINTR)
                return 0; /* let the caller look at core_interrupted */
        }
        if (gone_untraced(s, t))
            return 1;
        if (deadline >= 0 && mono_us() >= deadline)
            return 0;
    }
}

static int set_regs_and_cont(struct task *t, struct user_regs_struct *regs)
{
    if (pt(PTRACE_SETREGS, t->tid, NULL, regs) < 0 || pt(PTRACE_CONT, t->tid, NULL, NULL) < 0)
        return -ENOENT;
    return 0;
}

static int ptrace_reply(struct supervisor *s, struct task *t, struct sysret r)
{
    (void)s;
    struct ptrace_task *p = state_of(t);
    t->has_req = false;
    if (t->dead)
        return -ENOENT;
    int64_t value = r.kind == RET_ERRNO ? -r.value : r.value;
    int ret;
    if (p->at_exit_stop) {
        /* The call is over (we ran others in its place): only its result
         * can still be set. */
        if (r.kind == RET_CONTINUE) {
            log_msg("internal error: task %d: cannot let syscall %d run after an injection", t->tid, t->req.nr);
            value = -ENOSYS;
        }
        struct user_regs_struct regs = p->regs;
        regs.rax = (uint64_t)value;
        ret = set_regs_and_cont(t, &regs);
    } else if (r.kind == RET_CONTINUE) {
        ret = pt(PTRACE_CONT, t->tid, NULL, NULL) < 0 ? -ENOENT : 0;
    } else {
        struct user_regs_struct regs = p->regs;
        regs.orig_rax = (uint64_t)-1; /* skip the call... */
        regs.rax = (uint64_t)value;   /* ...and return this */
        ret = set_regs_and_cont(t, &regs);
    }
    if (ret == 0 && p->deferred_signal) {
        syscall(SYS_tgkill, t->proc->pid, t->tid, p->deferred_signal);
        p->deferred_signal = 0;
    }
    return ret;
}

static bool ptrace_pending_valid(struct supervisor *s, struct task *t)
{
    (void)s;
    return !t->dead; /* a stopped tracee leaves its stop only when we say */
}

/* Make t run syscall nr(args) in place of (or after) the trapped one.
 * Returns its result, or -ESRCH when t died meanwhile. */
static long inject(struct supervisor *s, struct task *t, long nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
    struct ptrace_task *p = state_of(t);
    struct user_regs_struct regs = p->regs;
    if (p->at_exit_stop) {
        regs.rip -= 2; /* back onto the 2-byte syscall instruction */
        regs.rax = (uint64_t)nr;
    }
    regs.orig_rax = (uint64_t)nr;
    regs.rdi = a0;
    regs.rsi = a1;
    regs.rdx = a2;
    if (pt(PTRACE_SETREGS, t->tid, NULL, &regs) < 0 || pt(PTRACE_SYSCALL, t->tid, NULL, NULL) < 0)
        return -ESRCH;
    for (;;) {
        int status;
        pid_t pid = waitpid(t->tid, &status, __WALL);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid < 0 || WIFEXITED(status) || WIFSIGNALED(status)) {
            task_mark_dead(s, t);
            return -ESRCH;
        }
        int event = status >> 16, sig = WSTOPSIG(status);
        if (event == 0 && sig == (SIGTRAP | 0x80)) {
            struct __ptrace_syscall_info info;
            if (pt(PTRACE_GET_SYSCALL_INFO, t->tid, (void *)sizeof info, &info) < 0)
                return -ESRCH;
            if (info.op == PTRACE_SYSCALL_INFO_EXIT) {
                p->at_exit_stop = true;
                return (long)info.exit.rval;
            }
        } else if (event == 0) {
            p->deferred_signal = sig; /* raised again once we answer */
        }
        /* The entry stop, our own call trapped by the filter, or an
         * event: go on to the exit stop. */
        if (pt(PTRACE_SYSCALL, t->tid, NULL, NULL) < 0)
            return -ESRCH;
    }
}

static int ptrace_install_placeholder(struct supervisor *s, struct task *t, const struct placeholder *ph, int newfd,
                                      bool cloexec)
{
    long tmp;
    /* Arguments in memory go below the task's stack pointer, past the red
     * zone, in what is free stack, put back after. */
    uint64_t at = (state_of(t)->regs.rsp - 128 - 64) & ~(uint64_t)15;
    if (ph->nr == SYS_pipe2) {
        int saved[2], ends[2];
        if (mem_read(t, at, saved, sizeof saved) < 0)
            return -EFAULT;
        long r = inject(s, t, SYS_pipe2, at, O_CLOEXEC, 0);
        if (r == 0 && mem_read(t, at, ends, sizeof ends) < 0)
            r = -EFAULT;
        if (r != -ESRCH)
            mem_write(t, at, saved, sizeof saved);
        if (r < 0)
            return (int)r;
        int keep = ends[ph->args[0] ? 1 : 0], other = ends[ph->args[0] ? 0 : 1];
        if (inject(s, t, SYS_close, (uint64_t)other, 0, 0) == -ESRCH)
            return -ESRCH;
        tmp = keep;
    } else if (ph->data) {
        char saved[64];
        size_t len = ph->datalen;
        if (len > sizeof saved || mem_read(t, at, saved, len) < 0 || mem_write(t, at, ph->data, len) < 0)
            return -EFAULT;
        tmp = inject(s, t, ph->nr, ph->args[0], at, ph->args[2]);
        if (tmp != -ESRCH)
            mem_write(t, at, saved, len);
    } else {
        tmp = inject(s, t, ph->nr, ph->args[0], ph->args[1], ph->args[2]);
    }
    if (tmp < 0)
        return (int)tmp;
    long r = 0;
    if (tmp != newfd) {
        r = inject(s, t, SYS_dup3, (uint64_t)tmp, (uint64_t)newfd, cloexec ? O_CLOEXEC : 0);
        long c = inject(s, t, SYS_close, (uint64_t)tmp, 0, 0);
        if (c == -ESRCH)
            r = c;
    } else if (!cloexec) {
        r = inject(s, t, SYS_fcntl, (uint64_t)tmp, F_SETFD, 0);
    }
    return r < 0 ? (int)r : 0;
}

static int ptrace_attach(struct supervisor *s, struct group *g, pid_t target, int listener_nr, char *err,
                         size_t errlen)
{
    (void)s;
    (void)listener_nr;
    /* Reports are taken with sigtimedwait: SIGCHLD must stay pending (the
     * programs start with an empty mask, launch.c).  Before the first
     * ptrace request, so that the ASan builds' tracer thread inherits it. */
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    g->pidns_ino = pidns_of(target);
    long options = PTRACE_O_TRACESECCOMP | PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
                   PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL;
    if (!g->pidns_ino || pt(PTRACE_SEIZE, target, NULL, (void *)options) < 0) {
        snprintf(err, errlen, "cannot trace %s (pid %d): %s", g->name, target, strerror(errno));
        return -1;
    }
    return 0;
}

static void ptrace_reap(struct supervisor *s)
{
    drain(s, NULL);
}

const struct backend_ops ptrace_backend = {
    .name = "ptrace",
    .filter_action = SECCOMP_RET_TRACE,
    .can_restart = false,
    .signal_needs_reply = true,
    .attach = ptrace_attach,
    .wait = ptrace_wait,
    .reply = ptrace_reply,
    .pending_valid = ptrace_pending_valid,
    .install_placeholder = ptrace_install_placeholder,
    .reap = ptrace_reap,
};
