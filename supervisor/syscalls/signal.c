/* Signals.  The kernel delivers them and runs the handlers; what it cannot
 * see is that a task parked in an emulated call (its actor waiting in
 * simulated time) should be interrupted.  So signals between tasks are
 * sent by us, to a thread we choose, and that thread's call ends as Linux
 * would end it: ERESTARTSYS (restarted after the handler with SA_RESTART,
 * EINTR without), EINTR for sleeps and polls.  alarm, setitimer
 * (ITIMER_REAL) and timer_create timers run on simulated time; pause,
 * sigsuspend and sigtimedwait wait in simulated time. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "../mem.h"
#include "io.h"
#include "handlers.h"

#define NSEC 1000000000LL
#define ERESTARTSYS 512 /* kernel-internal: the kernel restarts or makes it EINTR */
#define SIGBIT(sig) (1ULL << ((sig) - 1))

struct sigstate {
    uint64_t pending, shared, blocked, ignored, caught;
};

/* What /proc says of a thread's signals. */
static bool read_sigstate(const struct task *t, struct sigstate *st)
{
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/%d/task/%d/status", t->proc->pid, t->tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    memset(st, 0, sizeof *st);
    unsigned long long v;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "SigPnd: %llx", &v) == 1)
            st->pending = v;
        else if (sscanf(line, "ShdPnd: %llx", &v) == 1)
            st->shared = v;
        else if (sscanf(line, "SigBlk: %llx", &v) == 1)
            st->blocked = v;
        else if (sscanf(line, "SigIgn: %llx", &v) == 1)
            st->ignored = v;
        else if (sscanf(line, "SigCgt: %llx", &v) == 1)
            st->caught = v;
    }
    fclose(f);
    return true;
}

/* The thread whose signals a process-wide look sees: the main one, else
 * any live one (the list also holds ended threads). */
static struct task *main_task(const struct proc *p)
{
    struct task *any = NULL;
    for (struct task *t = p->tasks; t; t = t->next_in_proc) {
        if (t->dead)
            continue;
        if (t->tid == p->pid)
            return t;
        if (!any)
            any = t;
    }
    return any;
}

static bool default_ignored(int sig) { return sig == SIGCHLD || sig == SIGURG || sig == SIGWINCH || sig == SIGCONT; }
static bool default_stops(int sig) { return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU; }

/* Would t end its wait for sig: a handler it does not block, or a
 * sigsuspend/sigtimedwait that waits for it. */
static bool takes(const struct task *t, int sig, const struct sigstate *st)
{
    if (t->dead || !t->parked)
        return false;
    if (t->sigwaiting)
        return t->sigwait_mask & SIGBIT(sig);
    return (st->caught & SIGBIT(sig)) && !(st->blocked & SIGBIT(sig));
}

/* The parked thread of p that takes sig, deterministically: the main
 * thread first, then the lowest tid. */
static struct task *parked_taker(struct proc *p, int sig)
{
    struct task *best = NULL;
    for (struct task *t = p->tasks; t; t = t->next_in_proc) {
        struct sigstate st;
        if (!t->parked || !read_sigstate(t, &st) || !takes(t, sig, &st))
            continue;
        if (t->tid == p->pid)
            return t;
        if (!best || t->tid < best->tid)
            best = t;
    }
    return best;
}


static void interrupt(struct task *t, int how)
{
    if (t->sig_interrupt < how)
        t->sig_interrupt = how;
    task_wake(t);
}

/* Is sig going to kill p (no handler, not ignored, default terminate)? */
static bool fatal_for(struct proc *p, int sig)
{
    if (sig == SIGKILL)
        return true;
    struct task *t = main_task(p);
    struct sigstate st;
    if (!t || !read_sigstate(t, &st))
        return false;
    if ((st.caught | st.ignored | st.blocked) & SIGBIT(sig))
        return false; /* handled, ignored, or left pending */
    return !default_ignored(sig) && !default_stops(sig);
}

/* A fatal signal ends p soon, asynchronously: wait (real time, bounded)
 * until it is gone, so that its tasks' actors stop waiting for it.  Under
 * ptrace its tasks stopped with us take it only once answered: end their
 * calls (EINTR) instead, the backend sees them die. */
static void await_death(struct supervisor *s, struct proc *p)
{
    if (s->backend->signal_needs_reply) {
        for (struct task *t = p->tasks; t; t = t->next_in_proc)
            if (t->parked && !t->dead)
                interrupt(t, SIGINTR_EINTR);
        return;
    }
    struct pollfd pfd = {p->pidfd, POLLIN, 0};
    if (p->pidfd >= 0)
        while (poll(&pfd, 1, 2000) < 0 && errno == EINTR)
            ;
    for (struct task *t = p->tasks; t; t = t->next_in_proc) {
        if (!t->dead && kill(t->tid, 0) < 0 && errno == ESRCH) {
            task_mark_dead(s, t);
            task_wake(t);
        }
    }
}

static void signalfds_notify(void);

/* Send sig to process p as kill(2) would, a parked thread first. */
static int send_to_proc(struct supervisor *s, struct proc *p, int sig)
{
    if (p->dead)
        return -ESRCH;
    struct task *taker = parked_taker(p, sig);
    int r;
    if (taker) {
        /* Thread-directed: the kernel can only give it to that thread,
         * which we answer ERESTARTSYS; it is pending when we reply. */
        r = (int)syscall(SYS_tgkill, p->pid, taker->tid, sig);
        if (r == 0)
            interrupt(taker, taker->sigwaiting ? SIGINTR_EINTR : SIGINTR_RESTART);
    } else {
        r = kill(p->pid, sig);
        if (r == 0 && fatal_for(p, sig))
            await_death(s, p);
    }
    int err = r < 0 ? errno : 0;
    if (!err)
        signalfds_notify();
    return -err;
}

/* --- signalfd --- */

/* Every signalfd of the run (few): a signal we send may make any ready. */
static struct file **signalfds;
static size_t nsignalfds, signalfds_cap;

static void signalfds_notify(void)
{
    /* A wake-up is a simcall: wake from a copy, holding the files. */
    size_t n = nsignalfds;
    if (!n)
        return;
    struct file **v = malloc(n * sizeof *v);
    if (!v)
        abort();
    memcpy(v, signalfds, n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        file_ref(v[i]);
    for (size_t i = 0; i < n; i++) {
        file_notify(v[i]);
        file_unref(v[i]);
    }
    free(v);
}

void signalfd_release(struct file *f)
{
    for (size_t i = 0; i < nsignalfds; i++) {
        if (signalfds[i] == f) {
            signalfds[i] = signalfds[--nsignalfds];
            break;
        }
    }
    if (!nsignalfds) {
        free(signalfds);
        signalfds = NULL;
        signalfds_cap = 0;
    }
}

/* Pending for t and in mask (the thread's own and the process's). */
static uint64_t pending_in(const struct task *t, uint64_t mask)
{
    struct sigstate st;
    return read_sigstate(t, &st) ? (st.pending | st.shared) & mask : 0;
}

unsigned signalfd_poll(const struct file *f)
{
    struct proc *p = f->sfd.owner;
    struct task *m = p && !p->dead ? main_task(p) : NULL;
    return m && pending_in(m, f->sfd.mask) ? POLLIN | POLLRDNORM : 0;
}

/* A sigset argument and its size, which must be the kernel's (8): 0 or
 * the errno to answer. */
static int read_sigset_arg(struct task *t, uint64_t addr, uint64_t size, uint64_t *set)
{
    if (size != sizeof *set)
        return EINVAL;
    return mem_read(t, addr, set, sizeof *set) < 0 ? EFAULT : 0;
}

/* signalfd(fd, mask, size) and signalfd4(fd, mask, size, flags). */
struct sysret sys_signalfd(struct supervisor *s, struct task *t)
{
    int fd = (int)t->req.args[0];
    int flags = t->req.nr == __NR_signalfd4 ? (int)t->req.args[3] : 0;
    if (flags & ~(SFD_CLOEXEC | SFD_NONBLOCK))
        return SYSRET_ERRNO(EINVAL);
    uint64_t mask;
    int err = read_sigset_arg(t, t->req.args[1], t->req.args[2], &mask);
    if (err)
        return SYSRET_ERRNO(err);
    mask &= ~(SIGBIT(SIGKILL) | SIGBIT(SIGSTOP));
    if (fd != -1) {
        struct file *f = fd_get(t, fd);
        if (!f)
            return SYSRET_CONTINUE; /* EBADF or EINVAL from the kernel */
        if (f->kind != FILE_SIGNALFD)
            return SYSRET_ERRNO(EINVAL);
        f->sfd.mask = mask;
        file_notify(f);
        return SYSRET_CONTINUE; /* the placeholder takes the new mask too */
    }
    struct file *f = file_new(FILE_SIGNALFD);
    f->sfd.mask = mask;
    f->sfd.owner = t->proc;
    f->status_flags = flags & SFD_NONBLOCK; /* == O_NONBLOCK */
    if (nsignalfds == signalfds_cap) {
        signalfds_cap = signalfds_cap ? 2 * signalfds_cap : 8;
        signalfds = realloc(signalfds, signalfds_cap * sizeof *signalfds);
        if (!signalfds)
            abort();
    }
    signalfds[nsignalfds++] = f;
    return SYSRET_OR_ERRNO(fd_install_new(s, t, f, flags & SFD_CLOEXEC));
}

/* read of a signalfd: once one of its signals is pending for the reader,
 * the placeholder (a real signalfd, same mask) hands it over natively. */
struct sysret signalfd_read(struct task *t, struct file *f, size_t len)
{
    if (len < sizeof(struct signalfd_siginfo))
        return SYSRET_ERRNO(EINVAL);
    for (;;) {
        if (pending_in(t, f->sfd.mask))
            return SYSRET_CONTINUE;
        if (f->status_flags & O_NONBLOCK) {
            task_charge_spin(t);
            return SYSRET_ERRNO(EAGAIN);
        }
        if (!wait_file(t, f, -1))
            return SYSRET_ERRNO(EINTR);
    }
}

static struct proc *proc_by_ns_pid(struct group *g, pid_t pid)
{
    for (struct proc *p = g->procs; p; p = p->next_in_group)
        if (p->ns_pid == pid && !p->dead)
            return p;
    return NULL;
}

static pid_t pgid_of(const struct proc *p) { return getpgid(p->pid); }

struct sysret sys_kill(struct supervisor *s, struct task *t)
{
    pid_t pid = (pid_t)t->req.args[0];
    int sig = (int)t->req.args[1];
    if (sig <= 0 || sig >= 65)
        return SYSRET_CONTINUE; /* existence checks and EINVAL: the kernel */
    struct group *g = t->proc->g;
    if (pid > 0) {
        struct proc *p = proc_by_ns_pid(g, pid);
        if (!p)
            return SYSRET_CONTINUE; /* not ours (the reaper) or gone: the kernel says */
        return SYSRET_OR_ERRNO(send_to_proc(s, p, sig));
    }
    /* Process groups, or everyone (-1, not the caller): the processes of
     * the deployed program, in pid order of creation. */
    pid_t want = 0;
    if (pid == 0) {
        want = pgid_of(t->proc);
    } else if (pid < -1) {
        struct proc *leader = proc_by_ns_pid(g, -pid);
        if (!leader)
            return SYSRET_CONTINUE;
        want = leader->pid;
    }
    int sent = 0, err = -ESRCH;
    struct proc *targets[256];
    int n = 0;
    for (struct proc *p = g->procs; p && n < 256; p = p->next_in_group) {
        if (p->dead || (pid == -1 && p == t->proc) || (pid != -1 && pgid_of(p) != want))
            continue;
        targets[n++] = p;
    }
    /* The caller last: a fatal signal to its own group must reach the
     * others before it dies. */
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < n; i++) {
            if ((targets[i] == t->proc) != (pass == 1))
                continue;
            int r = send_to_proc(s, targets[i], sig);
            if (r == 0)
                sent++;
            else
                err = r;
        }
    }
    if (!n)
        return SYSRET_CONTINUE;
    return sent ? SYSRET_VALUE(0) : SYSRET_ERRNO(-err);
}

static struct task *task_by_ns_tid(struct group *g, pid_t tid, pid_t tgid)
{
    for (struct proc *p = g->procs; p; p = p->next_in_group) {
        if (p->dead || (tgid > 0 && p->ns_pid != tgid))
            continue;
        for (struct task *t = p->tasks; t; t = t->next_in_proc)
            if (t->ns_tid == tid && !t->dead)
                return t;
    }
    return NULL;
}

/* tkill(tid, sig) and tgkill(tgid, tid, sig). */
static struct sysret thread_kill(struct supervisor *s, struct task *t, pid_t tgid, pid_t tid, int sig)
{
    if (sig <= 0 || sig >= 65 || tid <= 0 || (t->req.nr == __NR_tgkill && tgid <= 0))
        return SYSRET_CONTINUE;
    struct task *target = task_by_ns_tid(t->proc->g, tid, tgid);
    if (!target)
        return SYSRET_CONTINUE;
    struct proc *p = target->proc;
    struct sigstate st;
    bool taken = read_sigstate(target, &st) && takes(target, sig, &st);
    if (syscall(SYS_tgkill, p->pid, target->tid, sig) < 0)
        return SYSRET_ERRNO(errno);
    if (taken)
        interrupt(target, target->sigwaiting ? SIGINTR_EINTR : SIGINTR_RESTART);
    else if (fatal_for(p, sig))
        await_death(s, p);
    signalfds_notify();
    return SYSRET_VALUE(0);
}

struct sysret sys_tkill(struct supervisor *s, struct task *t)
{
    return thread_kill(s, t, 0, (pid_t)t->req.args[0], (int)t->req.args[1]);
}

struct sysret sys_tgkill(struct supervisor *s, struct task *t)
{
    return thread_kill(s, t, (pid_t)t->req.args[0], (pid_t)t->req.args[1], (int)t->req.args[2]);
}

void signal_child_exited(struct supervisor *s, struct proc *p)
{
    (void)s;
    if (p->dead)
        return;
    if (nsignalfds) {
        /* SIGCHLD may be what a signalfd waits for: give the kernel the
         * moment it takes to queue it, then wake them. */
        struct task *m = main_task(p);
        for (int i = 0; i < 20 && m && !pending_in(m, SIGBIT(SIGCHLD)); i++)
            usleep(500);
        signalfds_notify();
    }
    /* The kernel queues SIGCHLD as the child exits, next to making its
     * pidfd readable, which is how we learned of it: look a few times. */
    struct task *taker = NULL;
    for (int i = 0; i < 20 && !taker; i++) {
        struct task *main = main_task(p);
        struct sigstate st;
        if (!main || !read_sigstate(main, &st) || !(st.caught & SIGBIT(SIGCHLD)))
            return; /* no handler: nothing to interrupt */
        if (!((st.shared | st.pending) & SIGBIT(SIGCHLD))) {
            usleep(500);
            continue;
        }
        taker = parked_taker(p, SIGCHLD);
        if (!taker)
            return;
    }
    if (taker)
        /* Process-directed: another thread might take it, and then an
         * ERESTARTSYS reply would reach the program; EINTR is safe, and
         * exact for a process with one thread. */
        interrupt(taker, p->tasks && !p->tasks->next_in_proc && !taker->sigwaiting ? SIGINTR_RESTART : SIGINTR_EINTR);
}

/* Calls Linux ends with EINTR after a handler whatever SA_RESTART says. */
static bool never_restarted(int nr)
{
    switch (nr) {
    case __NR_nanosleep: case __NR_clock_nanosleep: case __NR_poll: case __NR_ppoll:
    case __NR_select: case __NR_pselect6: case __NR_epoll_wait: case __NR_epoll_pwait:
    case __NR_epoll_pwait2: case __NR_pause: case __NR_rt_sigsuspend: case __NR_rt_sigtimedwait:
        return true;
    default:
        return false;
    }
}

struct sysret signal_adjust_result(struct supervisor *s, struct task *t, struct sysret r)
{
    int how = t->sig_interrupt;
    t->sig_interrupt = SIGINTR_NONE;
    if (r.kind != RET_ERRNO || r.value != EINTR)
        return r; /* done anyway (partial data, or another answer) */
    if (how == SIGINTR_RESTART && s->backend->can_restart && !never_restarted(t->req.nr))
        return SYSRET_ERRNO(ERESTARTSYS);
    return r;
}

/* --- timers of simulated time: ITIMER_REAL and timer_create --- */

#define TIMER_ID_BASE 0x1000 /* ours; the kernel's (CPU-clock timers) are small */

struct ptimer {
    int id;
    clockid_t clock;
    int64_t at, interval;      /* simulated ns; at -1: disarmed */
    int notify, signo;         /* SIGEV_SIGNAL, SIGEV_NONE or SIGEV_THREAD_ID */
    pid_t tid;                 /* SIGEV_THREAD_ID: the thread (supervisor's view) */
    union sigval value;
    struct ptimer *next;
};

static void free_timers(struct proc *p)
{
    for (struct ptimer *pt = p->timers, *next; pt; pt = next) {
        next = pt->next;
        free(pt);
    }
    p->timers = NULL;
}

void signal_exec(struct proc *p) { free_timers(p); }

/* A timer_create timer fires: its signal carries SI_TIMER, the timer id
 * and the value, as the kernel's would (glibc's SIGEV_THREAD helper reads
 * them). */
static void fire_ptimer(struct supervisor *s, struct proc *p, struct ptimer *pt)
{
    if (pt->notify == SIGEV_NONE)
        return;
    siginfo_t info;
    memset(&info, 0, sizeof info);
    info.si_signo = pt->signo;
    info.si_code = SI_TIMER;
    info.si_value = pt->value;
    info._sifields._timer.si_tid = pt->id;
    struct task *target = NULL;
    if (pt->notify == SIGEV_THREAD_ID) {
        for (struct task *t = p->tasks; t; t = t->next_in_proc)
            if (t->tid == pt->tid && !t->dead)
                target = t;
        if (!target)
            return;
    } else {
        target = parked_taker(p, pt->signo);
    }
    struct sigstate st;
    bool taken = target && read_sigstate(target, &st) && takes(target, pt->signo, &st);
    long r = target ? syscall(SYS_rt_tgsigqueueinfo, p->pid, target->tid, pt->signo, &info)
                    : syscall(SYS_rt_sigqueueinfo, p->pid, pt->signo, &info);
    if (r < 0)
        return;
    if (taken)
        interrupt(target, target->sigwaiting ? SIGINTR_EINTR : SIGINTR_RESTART);
    else if (fatal_for(p, pt->signo))
        await_death(s, p);
    signalfds_notify();
}

/* One actor per process that ever armed a timer (a daemon: it does not
 * keep the simulation going): it sleeps until the earliest expiration. */
static void itimer_main(void *arg)
{
    struct proc *p = arg;
    struct supervisor *s = p->tasks ? p->tasks->sup : NULL;
    while (!p->dead) {
        int64_t now = sim_now_ns(), next = p->itimer_at;
        if (p->itimer_at >= 0 && now >= p->itimer_at) {
            int64_t at = p->itimer_at;
            p->itimer_at = p->itimer_interval_ns > 0 ? at + p->itimer_interval_ns : -1;
            if (s)
                send_to_proc(s, p, SIGALRM);
            continue; /* a simcall ran: look again */
        }
        bool fired = false;
        for (struct ptimer *pt = p->timers; pt; pt = pt->next) {
            if (pt->at >= 0 && now >= pt->at) {
                int64_t at = pt->at;
                pt->at = pt->interval > 0 ? at + pt->interval : -1;
                if (s)
                    fire_ptimer(s, p, pt);
                fired = true;
                break; /* the list may have changed meanwhile */
            }
            if (pt->at >= 0 && (next < 0 || pt->at < next))
                next = pt->at;
        }
        if (!fired)
            sim_waitq_wait_until(p->itimer_q, next);
    }
}

void signal_proc_ended(struct proc *p)
{
    free_timers(p);
    if (p->itimer_q)
        sim_waitq_wake(p->itimer_q);
}

/* Something armed: start the actor, or wake it to take the new deadline. */
static void timers_changed(struct proc *p)
{
    if (!p->itimer_q) {
        p->itimer_q = sim_waitq_new();
        sim_daemonize(sim_spawn("itimer", p->g->host->sh, itimer_main, p));
        return;
    }
    sim_waitq_wake(p->itimer_q);
}

static void itimer_arm(struct proc *p, int64_t at, int64_t interval)
{
    p->itimer_at = at;
    p->itimer_interval_ns = interval;
    if (at >= 0 || p->itimer_q)
        timers_changed(p);
}

static int64_t itimer_left(const struct proc *p)
{
    return p->itimer_at < 0 ? 0 : p->itimer_at - sim_now_ns();
}

struct sysret sys_alarm(struct supervisor *s, struct task *t)
{
    (void)s;
    struct proc *p = t->proc;
    int64_t left = itimer_left(p);
    unsigned secs = (unsigned)t->req.args[0];
    itimer_arm(p, secs ? sim_now_ns() + (int64_t)secs * NSEC : -1, 0);
    /* Linux rounds what was left to the nearest second, and never to 0. */
    uint64_t old = (uint64_t)(left / NSEC) + ((left % NSEC) >= NSEC / 2 || (left > 0 && left < NSEC));
    return SYSRET_VALUE(old);
}

static void to_itimerval(const struct proc *p, struct itimerval *v)
{
    int64_t left = itimer_left(p);
    v->it_value = (struct timeval){left / NSEC, (left % NSEC + 999) / 1000};
    if (v->it_value.tv_usec == 1000000)
        v->it_value = (struct timeval){v->it_value.tv_sec + 1, 0};
    v->it_interval = (struct timeval){p->itimer_interval_ns / NSEC, (p->itimer_interval_ns % NSEC) / 1000};
}

struct sysret sys_getitimer(struct supervisor *s, struct task *t)
{
    (void)s;
    if ((int)t->req.args[0] != ITIMER_REAL)
        return SYSRET_CONTINUE; /* CPU-time timers: the kernel's */
    struct itimerval v;
    to_itimerval(t->proc, &v);
    return mem_write(t, t->req.args[1], &v, sizeof v) < 0 ? SYSRET_ERRNO(EFAULT) : SYSRET_VALUE(0);
}

struct sysret sys_setitimer(struct supervisor *s, struct task *t)
{
    (void)s;
    if ((int)t->req.args[0] != ITIMER_REAL)
        return SYSRET_CONTINUE;
    struct itimerval nv, old;
    if (t->req.args[1] && mem_read(t, t->req.args[1], &nv, sizeof nv) < 0)
        return SYSRET_ERRNO(EFAULT);
    if (!t->req.args[1])
        memset(&nv, 0, sizeof nv); /* Linux: a NULL new value disarms */
    if (nv.it_value.tv_usec < 0 || nv.it_value.tv_usec >= 1000000 || nv.it_interval.tv_usec < 0 ||
        nv.it_interval.tv_usec >= 1000000 || nv.it_value.tv_sec < 0 || nv.it_interval.tv_sec < 0)
        return SYSRET_ERRNO(EINVAL);
    to_itimerval(t->proc, &old);
    if (t->req.args[2] && mem_write(t, t->req.args[2], &old, sizeof old) < 0)
        return SYSRET_ERRNO(EFAULT);
    int64_t value = nv.it_value.tv_sec * NSEC + nv.it_value.tv_usec * 1000;
    int64_t interval = nv.it_interval.tv_sec * NSEC + nv.it_interval.tv_usec * 1000;
    itimer_arm(t->proc, value ? sim_now_ns() + value : -1, value ? interval : 0);
    return SYSRET_VALUE(0);
}

/* --- waiting for signals --- */

/* Park until a signal in mask (0: any with a handler) comes, or deadline.
 * true: one came. */
static bool wait_signal(struct task *t, uint64_t mask, int64_t deadline)
{
    struct sigstate st;
    /* Already pending (before we parked, or natively generated)? */
    if (read_sigstate(t, &st)) {
        uint64_t pend = st.pending | st.shared;
        if (mask ? (pend & mask) : (pend & ~st.blocked))
            return true;
    }
    t->sigwaiting = mask != 0;
    t->sigwait_mask = mask;
    task_waited(t);
    bool got = false;
    while (deadline < 0 || sim_now_ns() < deadline) {
        if (!task_block(t, deadline)) {
            got = t->sig_interrupt != SIGINTR_NONE;
            break;
        }
    }
    t->sigwaiting = false;
    t->sigwait_mask = 0;
    return got;
}

struct sysret sys_pause(struct supervisor *s, struct task *t)
{
    (void)s;
    wait_signal(t, 0, -1);
    return SYSRET_ERRNO(EINTR); /* the handler runs as we answer */
}

/* rt_sigsuspend(mask, size): the mask stands while it waits; the native
 * call, let through once a signal is pending, installs it, runs the
 * handler and returns EINTR. */
struct sysret sys_rt_sigsuspend(struct supervisor *s, struct task *t)
{
    (void)s;
    uint64_t mask;
    int err = read_sigset_arg(t, t->req.args[0], t->req.args[1], &mask);
    if (err)
        return SYSRET_ERRNO(err);
    struct sigstate st = {0};
    uint64_t caught = read_sigstate(t, &st) ? st.caught : 0;
    uint64_t wanted = ~mask & (caught | ~st.ignored);
    wait_signal(t, wanted, -1);
    t->sig_interrupt = SIGINTR_NONE;
    return SYSRET_CONTINUE;
}

/* rt_sigtimedwait(set, info, timeout, size): wait in simulated time, then
 * let the kernel hand the pending signal over (or answer EAGAIN). */
struct sysret sys_rt_sigtimedwait(struct supervisor *s, struct task *t)
{
    (void)s;
    uint64_t set;
    int err = read_sigset_arg(t, t->req.args[0], t->req.args[3], &set);
    if (err)
        return SYSRET_ERRNO(err);
    int64_t deadline = -1;
    if (t->req.args[2]) {
        int64_t d = mem_read_timespec(t, t->req.args[2]);
        if (d < 0)
            return SYSRET_ERRNO((int)-d);
        deadline = sim_now_ns() + d;
    }
    set &= ~(SIGBIT(SIGKILL) | SIGBIT(SIGSTOP));
    bool got = wait_signal(t, set, deadline);
    int how = t->sig_interrupt;
    t->sig_interrupt = SIGINTR_NONE;
    if (got || how)
        return SYSRET_CONTINUE; /* pending now: the kernel returns it at once */
    return SYSRET_ERRNO(EAGAIN);
}

/* --- timer_create and friends --- */

static struct ptimer *find_ptimer(struct proc *p, int id)
{
    for (struct ptimer *pt = p->timers; pt; pt = pt->next)
        if (pt->id == id)
            return pt;
    return NULL;
}

/* timer_create(clock, sevp, timerid) on the virtual clocks; CPU-time
 * clocks stay the kernel's. */
struct sysret sys_timer_create(struct supervisor *s, struct task *t)
{
    (void)s;
    clockid_t clock = (clockid_t)t->req.args[0];
    if (clock == CLOCK_PROCESS_CPUTIME_ID || clock == CLOCK_THREAD_CPUTIME_ID || clock < 0)
        return SYSRET_CONTINUE;
    if (clock == CLOCK_REALTIME_ALARM || clock == CLOCK_BOOTTIME_ALARM)
        return SYSRET_ERRNO(EPERM); /* CAP_WAKE_ALARM: no target has it */
    if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC && clock != CLOCK_BOOTTIME && clock != CLOCK_TAI)
        return SYSRET_ERRNO(EINVAL);
    struct ptimer pt = {.clock = clock, .at = -1, .notify = SIGEV_SIGNAL, .signo = SIGALRM};
    if (t->req.args[1]) {
        struct sigevent ev;
        if (mem_read(t, t->req.args[1], &ev, sizeof ev) < 0)
            return SYSRET_ERRNO(EFAULT);
        pt.notify = ev.sigev_notify;
        pt.signo = ev.sigev_signo;
        pt.value = ev.sigev_value;
        if (pt.notify != SIGEV_NONE && pt.notify != SIGEV_SIGNAL && pt.notify != SIGEV_THREAD_ID)
            return SYSRET_ERRNO(EINVAL);
        if (pt.notify != SIGEV_NONE && (pt.signo <= 0 || pt.signo > 64))
            return SYSRET_ERRNO(EINVAL);
        if (pt.notify == SIGEV_THREAD_ID) {
            struct task *th = NULL;
            for (struct task *x = t->proc->tasks; x; x = x->next_in_proc)
                if (x->ns_tid == ev._sigev_un._tid && !x->dead)
                    th = x;
            if (!th)
                return SYSRET_ERRNO(EINVAL);
            pt.tid = th->tid;
        }
    }
    struct proc *p = t->proc;
    pt.id = TIMER_ID_BASE + p->next_timer_id++;
    if (!t->req.args[1])
        pt.value.sival_int = pt.id;
    int32_t id = pt.id;
    if (mem_write(t, t->req.args[2], &id, sizeof id) < 0)
        return SYSRET_ERRNO(EFAULT);
    struct ptimer *n = malloc(sizeof *n);
    if (!n)
        return SYSRET_ERRNO(ENOMEM);
    *n = pt;
    n->next = p->timers;
    p->timers = n;
    return SYSRET_VALUE(0);
}

static void ptimer_value(const struct ptimer *pt, struct itimerspec *v)
{
    int64_t left = pt->at < 0 ? 0 : pt->at - sim_now_ns();
    if (left < 0)
        left = 0;
    v->it_value = (struct timespec){left / NSEC, left % NSEC};
    v->it_interval = (struct timespec){pt->interval / NSEC, pt->interval % NSEC};
}

static bool ts_valid(const struct timespec *ts) { return ts->tv_sec >= 0 && ts->tv_nsec >= 0 && ts->tv_nsec < NSEC; }

struct sysret sys_timer_settime(struct supervisor *s, struct task *t)
{
    int id = (int)t->req.args[0], flags = (int)t->req.args[1];
    struct ptimer *pt = id >= TIMER_ID_BASE ? find_ptimer(t->proc, id) : NULL;
    if (!pt)
        return id >= TIMER_ID_BASE ? SYSRET_ERRNO(EINVAL) : SYSRET_CONTINUE;
    struct itimerspec nv, old;
    if (mem_read(t, t->req.args[2], &nv, sizeof nv) < 0)
        return SYSRET_ERRNO(EFAULT);
    if (!ts_valid(&nv.it_value) || !ts_valid(&nv.it_interval))
        return SYSRET_ERRNO(EINVAL);
    ptimer_value(pt, &old);
    if (t->req.args[3] && mem_write(t, t->req.args[3], &old, sizeof old) < 0)
        return SYSRET_ERRNO(EFAULT);
    int64_t value = nv.it_value.tv_sec * NSEC + nv.it_value.tv_nsec;
    int64_t interval = nv.it_interval.tv_sec * NSEC + nv.it_interval.tv_nsec;
    if (!value) {
        pt->at = -1;
    } else if (flags & TIMER_ABSTIME) {
        /* Absolute on its clock: realtime clocks count from the epoch. */
        int64_t at = pt->clock == CLOCK_REALTIME || pt->clock == CLOCK_TAI ? value - s->opt->epoch * NSEC : value;
        pt->at = at < sim_now_ns() ? sim_now_ns() : at;
    } else {
        pt->at = sim_now_ns() + value;
    }
    pt->interval = pt->at >= 0 ? interval : 0;
    timers_changed(t->proc);
    return SYSRET_VALUE(0);
}

struct sysret sys_timer_gettime(struct supervisor *s, struct task *t)
{
    (void)s;
    int id = (int)t->req.args[0];
    struct ptimer *pt = id >= TIMER_ID_BASE ? find_ptimer(t->proc, id) : NULL;
    if (!pt)
        return id >= TIMER_ID_BASE ? SYSRET_ERRNO(EINVAL) : SYSRET_CONTINUE;
    struct itimerspec v;
    ptimer_value(pt, &v);
    return mem_write(t, t->req.args[1], &v, sizeof v) < 0 ? SYSRET_ERRNO(EFAULT) : SYSRET_VALUE(0);
}

/* Overruns are not counted: a signal is sent at each expiration (a
 * standard signal still pending merges with it, as in Linux). */
struct sysret sys_timer_getoverrun(struct supervisor *s, struct task *t)
{
    (void)s;
    int id = (int)t->req.args[0];
    if (id < TIMER_ID_BASE)
        return SYSRET_CONTINUE;
    return find_ptimer(t->proc, id) ? SYSRET_VALUE(0) : SYSRET_ERRNO(EINVAL);
}

struct sysret sys_timer_delete(struct supervisor *s, struct task *t)
{
    (void)s;
    int id = (int)t->req.args[0];
    if (id < TIMER_ID_BASE)
        return SYSRET_CONTINUE;
    for (struct ptimer **pp = &t->proc->timers; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            struct ptimer *dead = *pp;
            *pp = dead->next;
            free(dead);
            return SYSRET_VALUE(0);
        }
    }
    return SYSRET_ERRNO(EINVAL);
}
