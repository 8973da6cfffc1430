/* The seccomp user-notification backend.
 *
 * One listener per deployed group (all its tasks and their descendants
 * notify on it) and one pidfd per task, all in one epoll set: a task that
 * dies never sends a notification, its pidfd tells us. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "evtag.h"
#include "procfs.h"
#include "seccomp_compat.h"
#include "supervisor.h"

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_ms(void) { return mono_us() / 1000; }

/* A task we just answered usually traps again within microseconds.
 * Sleeping in epoll_wait and being woken costs two context switches,
 * which on a VM dominate the cost of an emulated call: poll for a while
 * first (as Shadow's shim does).  Returns epoll_wait's result, 0 when
 * nothing came. */
static int spin_for_events(struct supervisor *s, struct epoll_event *ev, int max)
{
    if (s->opt->spin_us <= 0)
        return 0;
    int64_t until = mono_us() + s->opt->spin_us;
    for (;;) {
        int n = epoll_wait(s->epfd, ev, max, 0);
        if (n != 0 || mono_us() >= until)
            return n;
    }
}

/* Returns a task adopted on the way, to be started by the caller, and in
 * *superseded a task whose pending syscall a signal interrupted. */
static struct task *receive_notification(struct supervisor *s, struct group *g, struct task **superseded)
{
    *superseded = NULL;
    struct seccomp_notif n;
    memset(&n, 0, sizeof n);
    if (ioctl(g->listener, SECCOMP_IOCTL_NOTIF_RECV, &n) < 0) {
        /* ENOENT: the task was killed between the wake-up and now. */
        if (errno != ENOENT && errno != EINTR)
            log_msg("receiving a notification from group %s: %s", g->name, strerror(errno));
        return NULL;
    }
    struct task *t = task_find(s, (pid_t)n.pid), *adopted = NULL;
    if (!t)
        t = adopted = task_new(s, g, (pid_t)n.pid, NULL);
    if (!t) {
        /* Could not adopt (vanished already): let the call run natively. */
        struct seccomp_notif_resp r = {.id = n.id, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE};
        ioctl(g->listener, SECCOMP_IOCTL_NOTIF_SEND, &r);
        return NULL;
    }
    /* A task is in one syscall at a time: if it sends another, a signal
     * interrupted the one we hold (and maybe restarted it, as new). */
    if (t->has_req)
        *superseded = t;
    t->req.id = n.id;
    t->req.nr = n.data.nr;
    t->req.ip = n.data.instruction_pointer;
    for (int i = 0; i < 6; i++)
        t->req.args[i] = n.data.args[i];
    t->has_req = true;
    return adopted;
}

/* A thread we let exit(2) with no pidfd of its own to tell us (Linux < 6.9)
 * is gone a moment later: wait for that (its CLONE_CHILD_CLEARTID word is
 * cleared before), so that its joiner is woken only after. */
static void await_thread_gone(struct task *t)
{
    for (int i = 0; i < 100000; i++) { /* 5 s at most: it cannot come back */
        char state;
        long nr;
        if (procfs_task_state(t->proc->pid, t->tid, &state, &nr) < 0 || state == 'Z' || state == 'X')
            return;
        struct timespec pause = {0, i < 100 ? 0 : 50000};
        nanosleep(&pause, NULL);
    }
    log_msg("task %d let exit is still there after 5 s", t->tid);
}

static int unotify_wait(struct supervisor *s, struct task *t, int timeout_ms)
{
    if (t->exit_let_go && !t->dead) {
        await_thread_gone(t);
        task_mark_dead(s, t);
        return 1;
    }
    int64_t deadline = timeout_ms < 0 ? -1 : mono_ms() + timeout_ms;
    while (!t->has_req && !t->dead) {
        int left = -1;
        if (deadline >= 0) {
            int64_t l = deadline - mono_ms();
            left = l > 0 ? (int)l : 0;
        }
        struct epoll_event ev[32];
        int n = left != 0 ? spin_for_events(s, ev, 32) : 0;
        if (n == 0)
            n = epoll_wait(s->epfd, ev, 32, left);
        if (n < 0) {
            if (errno == EINTR)
                return 0; /* let the caller look at core_interrupted */
            log_msg("epoll_wait: %s", strerror(errno));
            return 0;
        }
        if (n == 0)
            return 0;
        /* No simcall in this loop (see task_new): collect, act after. */
        struct task *adopted[32], *wake[32];
        struct proc *gone[32];
        int nadopted = 0, nwake = 0, ngone = 0;
        for (int i = 0; i < n; i++) {
            struct evtag *tag = ev[i].data.ptr;
            if (tag->kind == EVTAG_LISTENER) {
                struct group *g = container_of(tag, struct group, tag);
                if (ev[i].events & EPOLLIN) {
                    struct task *superseded;
                    struct task *a = receive_notification(s, g, &superseded);
                    if (a)
                        adopted[nadopted++] = a;
                    if (superseded)
                        wake[nwake++] = superseded;
                } else if (ev[i].events & (EPOLLHUP | EPOLLERR)) {
                    /* No task left under this filter. */
                    epoll_ctl(s->epfd, EPOLL_CTL_DEL, g->listener, NULL);
                }
            } else if (tag->kind == EVTAG_PROC_PIDFD) {
                /* Linux < 6.9: the whole process is gone, threads too. */
                gone[ngone++] = container_of(tag, struct proc, tag);
            } else {
                struct task *d = container_of(tag, struct task, tag);
                if (!d->dead) {
                    task_mark_dead(s, d);
                    wake[nwake++] = d;
                }
            }
        }
        for (int i = 0; i < nwake; i++)
            task_wake(wake[i]); /* whoever waits on it must look again */
        for (int i = 0; i < ngone; i++) {
            for (struct task *d = gone[i]->tasks; d; d = d->next_in_proc) {
                if (!d->dead) {
                    task_mark_dead(s, d);
                    task_wake(d);
                }
            }
        }
        for (int i = 0; i < nadopted; i++)
            task_start(s, adopted[i]);
    }
    return 1;
}

static int unotify_reply(struct supervisor *s, struct task *t, struct sysret r)
{
    (void)s;
    struct seccomp_notif_resp resp = {.id = t->req.id};
    switch (r.kind) {
    case RET_VALUE:
        resp.val = r.value;
        break;
    case RET_ERRNO:
        resp.error = (int32_t)-r.value;
        break;
    case RET_CONTINUE:
        resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
        break;
    }
    t->has_req = false;
    if (ioctl(t->proc->g->listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0)
        return -errno;
    return 0;
}

static bool unotify_pending_valid(struct supervisor *s, struct task *t)
{
    (void)s;
    uint64_t id = t->req.id;
    return ioctl(t->proc->g->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

static int unotify_install_placeholder(struct supervisor *s, struct task *t, const struct placeholder *p,
                                       int newfd, bool cloexec)
{
    (void)s;
    int ph;
    if (p->nr == SYS_pipe2) {
        int ends[2];
        if (pipe2(ends, O_CLOEXEC) < 0)
            return -errno;
        ph = ends[p->args[0] ? 1 : 0];
        close(ends[p->args[0] ? 0 : 1]);
    } else {
        ph = (int)syscall(p->nr, p->args[0], p->data ? (uint64_t)(uintptr_t)p->data : p->args[1], p->args[2]);
    }
    if (ph < 0)
        return -errno;
    struct seccomp_notif_addfd a = {
        .id = t->req.id,
        .flags = SECCOMP_ADDFD_FLAG_SETFD,
        .srcfd = (uint32_t)ph,
        .newfd = (uint32_t)newfd,
        .newfd_flags = cloexec ? O_CLOEXEC : 0,
    };
    int r = ioctl(t->proc->g->listener, SECCOMP_IOCTL_NOTIF_ADDFD, &a);
    r = r < 0 ? -errno : 0;
    close(ph);
    return r;
}

static int unotify_install_native(struct supervisor *s, struct task *t, int localfd, bool cloexec)
{
    (void)s;
    struct seccomp_notif_addfd a = {
        .id = t->req.id,
        .srcfd = (uint32_t)localfd,
        .newfd_flags = cloexec ? O_CLOEXEC : 0,
    };
    int r = ioctl(t->proc->g->listener, SECCOMP_IOCTL_NOTIF_ADDFD, &a);
    return r < 0 ? -errno : r;
}

/* Take the listener out of the target (see launch.c). */
static int unotify_attach(struct supervisor *s, struct group *g, pid_t target, int listener_nr, char *err,
                          size_t errlen)
{
    (void)s;
    int pidfd = (int)syscall(SYS_pidfd_open, target, 0);
    if (pidfd < 0) {
        snprintf(err, errlen, "pidfd_open(%d): %s", target, strerror(errno));
        return -1;
    }
    g->listener = (int)syscall(SYS_pidfd_getfd, pidfd, listener_nr, 0);
    int saved = errno;
    close(pidfd);
    if (g->listener < 0) {
        snprintf(err, errlen, "taking the seccomp listener of %s: %s", g->name, strerror(saved));
        return -1;
    }
    /* No SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: it makes each side wake the
     * other on its own CPU, so a task never computes while we work.  With
     * --spin-us polling, without it a 1 GiB transfer runs ~1.6x faster and
     * a trapped call is no slower (bench/RESULTS.md). */
    return 0;
}

const struct backend_ops unotify_backend = {
    .name = "unotify",
    .filter_action = SECCOMP_RET_USER_NOTIF,
    .can_restart = true,
    .signal_needs_reply = false,
    .attach = unotify_attach,
    .wait = unotify_wait,
    .reply = unotify_reply,
    .pending_valid = unotify_pending_valid,
    .install_placeholder = unotify_install_placeholder,
    .install_native = unotify_install_native,
};
