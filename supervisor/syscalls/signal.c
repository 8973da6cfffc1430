/* Signals.  The kernel delivers them and runs the handlers; what it cannot
 * see is that a task parked in an emulated call (its actor waiting in
 * simulated time) should be interrupted.  So signals between tasks are
 * sent by us, to a thread we choose, and that thread's call ends as Linux
 * would end it: ERESTARTSYS (restarted after the handler with SA_RESTART,
 * EINTR without), EINTR for sleeps and polls.  alarm and setitimer
 * (ITIMER_REAL) run on simulated time; pause, sigsuspend and sigtimedwait
 * wait in simulated time. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "../mem.h"
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
    struct task *t = p->tasks;
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
    return r < 0 ? -errno : 0;
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
    /* The kernel queues SIGCHLD as the child exits, next to making its
     * pidfd readable, which is how we learned of it: look a few times. */
    struct task *taker = NULL;
    for (int i = 0; i < 20 && !taker; i++) {
        struct task *main = p->tasks;
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

/* --- ITIMER_REAL in simulated time --- */

/* One actor per process that ever armed its timer (a daemon: it does not
 * keep the simulation going). */
static void itimer_main(void *arg)
{
    struct proc *p = arg;
    struct supervisor *s = p->tasks ? p->tasks->sup : NULL;
    while (!p->dead) {
        int64_t at = p->itimer_at;
        if (at >= 0 && sim_now_ns() >= at) {
            p->itimer_at = p->itimer_interval_ns > 0 ? at + p->itimer_interval_ns : -1;
            if (s)
                send_to_proc(s, p, SIGALRM);
            continue;
        }
        sim_waitq_wait_until(p->itimer_q, at);
    }
}

void signal_proc_ended(struct proc *p)
{
    if (p->itimer_q)
        sim_waitq_wake(p->itimer_q);
}

static void itimer_arm(struct proc *p, int64_t at, int64_t interval)
{
    p->itimer_at = at;
    p->itimer_interval_ns = interval;
    if (!p->itimer_q) {
        if (at < 0)
            return;
        p->itimer_q = sim_waitq_new();
        sim_daemonize(sim_spawn("itimer", p->g->host->sh, itimer_main, p));
        return;
    }
    sim_waitq_wake(p->itimer_q); /* it takes the new deadline */
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
    if (t->req.args[1] != sizeof mask)
        return SYSRET_ERRNO(EINVAL);
    if (mem_read(t, t->req.args[0], &mask, sizeof mask) < 0)
        return SYSRET_ERRNO(EFAULT);
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
    if (t->req.args[3] != sizeof set)
        return SYSRET_ERRNO(EINVAL);
    if (mem_read(t, t->req.args[0], &set, sizeof set) < 0)
        return SYSRET_ERRNO(EFAULT);
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
