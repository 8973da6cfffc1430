/* The supervisor core: tasks and their actors, adoption of new tasks,
 * death bookkeeping, the watchdog and the dispatch loop.
 *
 * One SimGrid actor per task.  An actor "runs" its task by waiting, in
 * real time, for the task's next trapped syscall: while it waits the
 * simulation stands still, and every other task is parked in a pending
 * notification.  Handlers block only in simulated time (task_block). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../filters/filter.h"
#include "dispatch.h"
#include "file.h"
#include "socket.h"
#include "procfs.h"
#include "seccomp_compat.h"
#include "supervisor.h"
#include "cpu.h"
#include "random.h"
#include "trace.h"
#include "vdso.h"

volatile sig_atomic_t core_interrupted;

static bool progress_on_screen;

void progress_clear(void)
{
    if (progress_on_screen) {
        fputs("\r\033[K", stderr);
        progress_on_screen = false;
    }
}

/* The progress line: on a terminal only, at most twice a second, checked
 * every 256 syscalls so that looking at the clock costs nothing. */
static void progress_tick(struct supervisor *s)
{
    if (!s->progress || (++s->progress_calls & 255))
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t wall = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    if (wall - s->progress_last_ns < 500000000)
        return;
    s->progress_last_ns = wall;
    double sim_s = (double)sim_now_ns() / 1e9, wall_s = (double)(wall - s->wall_start_ns) / 1e9;
    fprintf(stderr, "\r\033[Ksimterpose: simulated %.3f s, wall %.1f s, x%.3g, %zu live process%s", sim_s, wall_s,
            wall_s > 0 ? sim_s / wall_s : 0.0, s->live_procs, s->live_procs == 1 ? "" : "es");
    progress_on_screen = true;
}

void log_msg(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    progress_clear();
    fprintf(stderr, "simterpose: [%.6f] %s\n", (double)sim_now_ns() / 1e9, buf);
}

struct task *task_find(struct supervisor *s, pid_t tid)
{
    for (struct task *t = s->task_hash[(size_t)tid % s->task_hash_size]; t; t = t->hash_next)
        if (t->tid == tid)
            return t;
    return NULL;
}

static void task_hash_insert(struct supervisor *s, struct task *t)
{
    size_t b = (size_t)t->tid % s->task_hash_size;
    t->hash_next = s->task_hash[b];
    s->task_hash[b] = t;
}

static void task_main(void *arg);

static struct proc *proc_new(struct supervisor *s, struct group *g, const struct proc_status *st, struct proc *parent)
{
    struct proc *p = calloc(1, sizeof *p);
    if (!p)
        abort();
    p->pid = st->tgid;
    p->ns_pid = st->ns_tgid;
    p->pidfd = (int)syscall(SYS_pidfd_open, st->tgid, 0);
    if (s->no_thread_pidfd && p->pidfd >= 0) {
        /* Readable once every thread is gone: how tasks killed with their
         * process are seen to end.  Once only: it stays readable. */
        p->tag.kind = EVTAG_PROC_PIDFD;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.ptr = &p->tag};
        epoll_ctl(s->epfd, EPOLL_CTL_ADD, p->pidfd, &ev);
    }
    /* fork copies the descriptor table; we adopt before the parent's next
     * trapped call, so it has not changed since. */
    p->fds = parent ? fdtable_copy(parent->fds) : fdtable_new();
    p->g = g;
    p->exit_code = -1;
    p->itimer_at = -1;
    p->parent = parent;
    random_seed_proc(s, p, parent);
    p->next_in_group = g->procs;
    g->procs = p;
    s->live_procs++;
    if (parent) {
        p->next_sibling = parent->children;
        parent->children = p;
    }
    return p;
}

/* Make tid a task of ours, on group g's host, without starting its actor
 * (that is a simcall, which may run other actors).  Returns NULL when it
 * is already gone. */
struct task *task_new(struct supervisor *s, struct group *g, pid_t tid, struct proc *parent_hint)
{
    struct proc_status st;
    if (procfs_status(tid, &st) < 0)
        return NULL;

    struct task *t = calloc(1, sizeof *t);
    if (!t)
        abort();
    t->tag.kind = EVTAG_PIDFD;
    t->sup = s;
    t->tid = tid;
    t->ns_tid = st.ns_tid;
    t->cpu_fd = -1;
    t->wake = sim_waitq_new();

    struct task *leader = st.tgid != tid ? task_find(s, st.tgid) : NULL;
    if (leader) {
        t->proc = leader->proc; /* a thread of a process we know */
        if (t->proc->npending_ctid) { /* in clone order, as tids are */
            t->ctid = t->proc->pending_ctid[0];
            memmove(t->proc->pending_ctid, t->proc->pending_ctid + 1,
                    (size_t)--t->proc->npending_ctid * sizeof t->proc->pending_ctid[0]);
        }
    } else {
        struct task *pt = task_find(s, st.ppid);
        struct proc *parent = pt && pt->proc->g == g ? pt->proc : parent_hint;
        t->proc = proc_new(s, g, &st, parent);
        /* A forked child inherits its parent's (patched) vDSO; anything
         * else gets patched at its next syscall (patching is idempotent). */
        t->proc->exec_pending = parent ? parent->exec_pending : true;
        if (parent) { /* same image: same blob, its own copy of the page */
            t->proc->vclock_blob = parent->vclock_blob;
            t->proc->vclock_page = parent->vclock_page;
            t->proc->vclock_stale = true;
        }
    }
    t->next_in_proc = t->proc->tasks;
    t->proc->tasks = t;
    t->proc->live_tasks++;

    /* A pidfd per thread needs PIDFD_THREAD (Linux 6.9).  Before (Debian
     * 12's 6.1), a thread's end is seen by its trapped exit(2) (then
     * await_thread_gone), or its process's pidfd (proc_new). */
    t->pidfd = s->no_thread_pidfd ? -1 : (int)syscall(SYS_pidfd_open, tid, PIDFD_THREAD);
    if (t->pidfd >= 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &t->tag};
        epoll_ctl(s->epfd, EPOLL_CTL_ADD, t->pidfd, &ev);
    } else if (!s->no_thread_pidfd) {
        log_msg("pidfd_open(%d): %s; its exit may go unnoticed", tid, strerror(errno));
    }
    cpu_task_start(s, t);
    task_hash_insert(s, t);
    s->live_tasks++;
    if (s->opt->verbose)
        log_msg("%s: adopted task %d (process %d)", g->host->name, tid, st.tgid);
    return t;
}

void task_start(struct supervisor *s, struct task *t)
{
    (void)s;
    char name[64];
    snprintf(name, sizeof name, "%s:%d", t->proc->g->name, t->tid);
    t->actor = sim_spawn(name, t->proc->g->host->sh, task_main, t);
}

struct task *task_adopt(struct supervisor *s, struct group *g, pid_t tid, struct proc *parent_hint)
{
    struct task *t = task_new(s, g, tid, parent_hint);
    if (t)
        task_start(s, t);
    return t;
}

/* Children forked since the last look: found in /proc, adopted in pid
 * order so that the actors are created deterministically. */
void proc_adopt_children(struct supervisor *s, struct proc *p)
{
    if (!p->fork_pending)
        return;
    p->fork_pending = false;
    pid_t kids[256];
    int n = procfs_children(p->pid, kids, 256);
    for (int i = 0; i < n; i++)
        if (!task_find(s, kids[i]))
            task_adopt(s, p->g, kids[i], p);
}

/* Threads cloned since the last look, adopted in tid order. */
void proc_adopt_threads(struct supervisor *s, struct proc *p)
{
    p->thread_pending = false;
    pid_t tids[1024];
    int n = procfs_threads(p->pid, tids, 1024);
    for (int i = 0; i < n; i++)
        if (!task_find(s, tids[i]))
            task_adopt(s, p->g, tids[i], NULL);
}

void task_wake(struct task *t) { sim_waitq_wake(t->wake); }

#define SPIN_FIRST_NS 1000     /* 1 µs */
#define SPIN_MAX_NS 1000000    /* 1 ms */

/* A busy poll: simulated time passes, and it is CPU time of the task. */
static void charge_for(struct task *t, int64_t ns)
{
    int64_t from = sim_now_ns(), until = from + ns;
    while (sim_now_ns() < until && task_block(t, until))
        ;
    task_add_cpu(t, sim_now_ns() - from);
}

void task_add_cpu(struct task *t, int64_t ns)
{
    t->cpu_time_ns += ns;
    t->proc->cpu_time_ns += ns;
}

void task_charge_spin(struct task *t)
{
    t->spin_ns = t->spin_ns ? t->spin_ns * 2 : SPIN_FIRST_NS;
    if (t->spin_ns > SPIN_MAX_NS)
        t->spin_ns = SPIN_MAX_NS;
    charge_for(t, t->spin_ns);
}

void task_waited(struct task *t) { t->spin_ns = 0; }

void task_charge_poll(struct task *t, bool ready)
{
    if (!ready) {
        task_charge_spin(t); /* nothing, at once: a busy poll */
        return;
    }
    /* Events to handle: progress, not spinning.  A flat microsecond, so
     * that even a loop on an fd it never drains lets time pass. */
    t->spin_ns = 0;
    charge_for(t, SPIN_FIRST_NS);
}

void proc_wake_all(struct proc *p)
{
    for (struct task *t = p->tasks; t; t = t->next_in_proc)
        task_wake(t);
}

bool task_block(struct task *t, int64_t deadline)
{
    if (t->proc->g->killed || t->sig_interrupt)
        return false;
    t->parked = true;
    sim_waitq_wait_until(t->wake, deadline);
    t->parked = false;
    if (t->proc->g->killed || t->dead || !t->has_req || t->req.id != t->dispatched_id || t->sig_interrupt)
        return false;
    return t->sup->backend->pending_valid(t->sup, t);
}

void task_mark_dead(struct supervisor *s, struct task *t)
{
    if (t->dead)
        return;
    t->dead = true;
    if (t->pidfd >= 0) {
        epoll_ctl(s->epfd, EPOLL_CTL_DEL, t->pidfd, NULL);
        close(t->pidfd);
        t->pidfd = -1;
    }
}

static void group_read_status(struct group *g)
{
    int st;
    ssize_t n;
    do
        n = read(g->status_fd, &st, sizeof st);
    while (n < 0 && errno == EINTR);
    if (n == sizeof st) {
        g->status = st;
        g->end = WIFSIGNALED(st) ? END_SIGNALED : END_EXITED;
    } else {
        /* The reaper died first (killed with its namespace). */
        g->status = SIGKILL;
        g->end = END_SIGNALED;
    }
    g->end_ns = sim_now_ns();
}

/* Bookkeeping once t is gone; runs in t's actor. */
static void task_finish(struct supervisor *s, struct task *t)
{
    if (t->finished)
        return;
    t->finished = true;
    s->live_tasks--;
    cpu_task_end(t);
    if (t->native_blocked) {
        t->native_blocked = false;
        s->blocked_native--;
    }
    struct proc *p = t->proc;
    if (t->ctid)
        futex_thread_exited(t, t->ctid);
    if (--p->live_tasks > 0)
        return;
    p->dead = true;
    s->live_procs--;
    proc_adopt_children(s, p); /* forked just before dying */
    /* Its sockets close (FIN to the peers), as the kernel would at exit. */
    fdtable_put(p->fds);
    p->fds = NULL;
    for (struct proc *c = p->children; c; c = c->next_sibling)
        c->parent = NULL; /* orphans go to the group's reaper */
    if (p->vfork_parent) {
        task_wake(p->vfork_parent);
        p->vfork_parent = NULL;
    }
    signal_proc_ended(p);
    if (p->parent) {
        p->parent->children_cpu_ns += p->cpu_time_ns + p->children_cpu_ns;
        proc_wake_all(p->parent);
        /* The wake-ups let other actors run: the parent may be gone. */
        if (p->parent)
            signal_child_exited(s, p->parent);
    }
    if (p == p->g->main)
        group_read_status(p->g);
    if (s->opt->verbose)
        log_msg("%s: process %d ended", p->g->host->name, p->pid);
}

void group_kill(struct supervisor *s, struct group *g, const char *why)
{
    (void)s;
    if (g->killed || g->init_pidfd < 0)
        return;
    g->killed = true;
    g->kill_reason = why;
    g->kill_ns = sim_now_ns();
    log_msg("%s: killing %s (%s)", g->host->name, g->name, why);
    /* The reaper is PID 1 of the namespace: the kernel kills the rest. */
    if (syscall(SYS_pidfd_send_signal, g->init_pidfd, SIGKILL, NULL, 0) < 0)
        log_msg("%s: cannot kill the reaper of %s: %s", g->host->name, g->name, strerror(errno));
    /* The namespace dies once the reaper is gone, a little later: kill
     * what we know at once, so nobody gets to run again. */
    for (struct proc *p = g->procs; p; p = p->next_in_group)
        if (!p->dead && p->pidfd >= 0)
            syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0);
    for (struct proc *p = g->procs; p; p = p->next_in_group)
        proc_wake_all(p);
}

void group_wait_reaper(struct supervisor *s, struct group *g)
{
    for (;;) {
        pid_t r = waitpid(g->init_pid, NULL, s->backend->reap ? WNOHANG : 0);
        if (r == g->init_pid || (r < 0 && errno != EINTR))
            return;
        if (r == 0) {
            /* Its namespace empties only once we took our tracees' exits. */
            s->backend->reap(s);
            struct timespec pause = {0, 1000000};
            nanosleep(&pause, NULL);
        }
    }
}

enum native_state {
    NATIVE_GONE,      /* no such task any more */
    NATIVE_RUNNING,   /* computing in user space (or about to) */
    NATIVE_KERNEL,    /* kernel work that ends on its own */
    NATIVE_ASLEEP,    /* waiting for what may never come without the simulation */
};

/* What is the task doing outside any trapped syscall?  Loading a program
 * and uninterruptible sleeps (disk reads, page faults) end on their own,
 * however loaded the machine.  The exception is a vfork parent, whose
 * wait (also 'D') is its child's. */
static enum native_state task_native_state(struct task *t, long *nr)
{
    char state;
    if (procfs_task_state(t->proc->pid, t->tid, &state, nr) < 0)
        return errno == ENOENT && kill(t->tid, 0) < 0 && errno == ESRCH ? NATIVE_GONE : NATIVE_RUNNING;
    if (state != 'S' && state != 'D' && state != 'T' && state != 't')
        return NATIVE_RUNNING;
    if (*nr == SYS_execve || *nr == SYS_execveat)
        return NATIVE_KERNEL;
    if (state == 'D' && *nr != SYS_vfork && *nr != SYS_clone && *nr != SYS_clone3)
        return NATIVE_KERNEL;
    return NATIVE_ASLEEP;
}

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Real-time wait for t's next syscall, with the watchdog: a task asleep in
 * the kernel in an untrapped call would stop the whole simulation, so it
 * is reported and waited for in simulated-time steps instead. */
static void wait_for_syscall(struct supervisor *s, struct task *t)
{
    int64_t quantum = 1000000; /* 1 ms simulated */
    int64_t stuck_since = 0;
    for (;;) {
        if (t->proc->g->killed) {
            s->backend->wait(s, t, -1); /* SIGKILL is on its way */
            return;
        }
        if (core_interrupted && !s->interrupt_handled) {
            s->interrupt_handled = true;
            for (size_t i = 0; i < s->ngroups; i++)
                group_kill(s, &s->groups[i], "interrupted");
        }
        if (!t->native_blocked) {
            int slice = s->opt->watchdog_ms < 10 ? s->opt->watchdog_ms : 10;
            if (s->backend->wait(s, t, slice)) {
                t->asleep_ms = 0;
                return;
            }
            long nr;
            enum native_state state = task_native_state(t, &nr);
            if (state == NATIVE_GONE) {
                /* No pidfd told (a thread that another's execve removed,
                 * Linux < 6.9): do not wait forever. */
                task_mark_dead(s, t);
                return;
            }
            if (state == NATIVE_KERNEL) {
                /* Not waiting for anyone: no yield, which would let others
                 * run sooner on a loaded machine than on an idle one. */
                t->asleep_ms = 0;
                continue;
            }
            if (state == NATIVE_RUNNING) {
                /* Computing: simulated time waits for it.  But it may be
                 * spinning on memory that another task, parked in a call
                 * we have not served, must change (a thread start-up
                 * flag): let the others run, at this same time. */
                t->asleep_ms = 0;
                sim_yield();
                continue;
            }
            t->asleep_ms += slice;
            if (t->asleep_ms < s->opt->watchdog_ms)
                continue;
            t->asleep_ms = 0;
            t->native_blocked = true;
            s->blocked_native++;
            quantum = 1000000;
            char *name = nr >= 0 ? seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, (int)nr) : NULL;
            log_msg("watchdog: task %d (%s on %s) blocked natively in %s (syscall %ld) for %d ms; "
                    "the simulation goes on without it",
                    t->tid, t->proc->g->name, t->proc->g->host->name, name ? name : "?", nr, s->opt->watchdog_ms);
            free(name);
            continue;
        }
        if (s->backend->wait(s, t, 0)) {
            t->native_blocked = false;
            s->blocked_native--;
            return;
        }
        long nr;
        if (task_native_state(t, &nr) != NATIVE_ASLEEP) {
            t->native_blocked = false; /* running again: wait for it in real time */
            s->blocked_native--;
            continue;
        }
        if (s->blocked_native == s->live_tasks) {
            /* Nobody left who could wake it inside the simulation. */
            if (!stuck_since)
                stuck_since = wall_ns();
            else if (wall_ns() - stuck_since > (int64_t)s->opt->hang_s * 1000000000) {
                log_msg("watchdog: every task has been blocked natively for %d s: killing them", s->opt->hang_s);
                for (size_t i = 0; i < s->ngroups; i++)
                    group_kill(s, &s->groups[i], "hang");
                stuck_since = 0;
            }
            struct timespec pause = {0, 10000000};
            nanosleep(&pause, NULL);
        } else {
            stuck_since = 0;
        }
        task_block(t, sim_now_ns() + quantum);
        if (quantum < 1000000000)
            quantum *= 2;
    }
}

static void task_main(void *arg)
{
    struct task *t = arg;
    struct supervisor *s = t->sup;
    struct group *g = t->proc->g;

    if (t->proc == g->main && !g->started) {
        /* Launched at time 0, parked in its execve until start_time. */
        g->started = true;
        int64_t start = llround(g->spec->start_time * 1e9);
        while (sim_now_ns() < start && !g->killed)
            sim_waitq_wait_until(t->wake, start);
    }

    for (;;) {
        wait_for_syscall(s, t);
        if (t->dead)
            break;
        if (g->killed) {
            /* Never answered: SIGKILL is on its way (killable wait). */
            t->has_req = false;
            continue;
        }
        struct proc *p = t->proc;
        if (p->fork_pending)
            proc_adopt_children(s, p);
        if (p->thread_pending)
            proc_adopt_threads(s, p);
        if (p->exec_pending && t->req.nr != __NR_execve && t->req.nr != __NR_execveat) {
            vdso_patch(s, t);
            random_patch_at_random(t);
            fdtable_exec(t);
            signal_exec(p);
            p->exec_pending = false;
        }
        t->dispatched_id = t->req.id;
        int64_t before_cpu = sim_now_ns();
        t->cpu_burst_ns = cpu_charge(s, t);
        int64_t start = sim_now_ns();
        task_add_cpu(t, start - before_cpu);
        struct sysret r = dispatch(s, t);
        if (t->sig_interrupt)
            r = signal_adjust_result(s, t, r);
        trace_account(s, t, r, start, start - before_cpu);
        trace_syscall(s, t, r, start, start - before_cpu);
        progress_tick(s);
        /* A handler may have replied itself, and the task may even have
         * trapped again since (vfork, or a signal interrupted the call). */
        if (t->has_req && t->req.id == t->dispatched_id)
            reply_now(s, t, r);
    }
    task_finish(s, t);
}

static void kill_time_main(void *arg)
{
    struct group *g = arg;
    struct supervisor *s = g->main->tasks->sup;
    sim_sleep_until_ns(llround(g->spec->kill_time * 1e9));
    if (!g->main->dead)
        group_kill(s, g, "kill_time");
}

void core_start_group(struct supervisor *s, struct group *g, pid_t main_pid)
{
    struct task *t = task_adopt(s, g, main_pid, NULL);
    if (!t) {
        g->end = END_LAUNCH_FAILED;
        return;
    }
    g->main = t->proc;
    g->main->exec_pending = true;
    if (g->listener >= 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &g->tag};
        g->tag.kind = EVTAG_LISTENER;
        epoll_ctl(s->epfd, EPOLL_CTL_ADD, g->listener, &ev);
    }
    if (g->spec->kill_time >= 0)
        /* A daemon: it must not keep the simulation going once every
         * program has ended. */
        sim_daemonize(sim_spawn("kill_time", g->host->sh, kill_time_main, g));
}

void core_free(struct supervisor *s)
{
    for (size_t i = 0; s->task_hash && i < s->task_hash_size; i++) {
        for (struct task *t = s->task_hash[i], *next; t; t = next) {
            next = t->hash_next;
            if (t->pidfd >= 0)
                close(t->pidfd);
            cpu_task_end(t);
            sim_waitq_free(t->wake);
            free(t->backend_data);
            free(t);
        }
    }
    free(s->task_hash);
    for (size_t i = 0; i < s->ngroups; i++) {
        struct group *g = &s->groups[i];
        for (struct proc *p = g->procs, *next; p; p = next) {
            next = p->next_in_group;
            if (p->pidfd >= 0)
                close(p->pidfd);
            if (p->itimer_q)
                sim_waitq_free(p->itimer_q);
            signal_exec(p); /* frees its timers */
            free(p);
        }
        int fds[] = {g->init_pidfd, g->status_fd, g->listener};
        for (size_t k = 0; k < 3; k++)
            if (fds[k] >= 0)
                close(fds[k]);
        free(g->exe);
        free(g->name);
        free(g->stdout_path);
        free(g->stderr_path);
    }
    free(s->groups);
    free(s->hosts);
    sock_free_all();
    free(s->syscall_counts);
    if (s->epfd >= 0)
        close(s->epfd);
}
