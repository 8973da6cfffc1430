/* poll, select and epoll over emulated fds, native fds, or a mix.
 *
 * Emulated fds report their state directly; a native fd is looked at
 * through a duplicate taken with pidfd_getfd (same open file, so the same
 * readiness) and polled without blocking.  A task waits on every emulated
 * file it watches; with native fds in the set it also looks again every
 * NATIVE_POLL_NS of simulated time, since their changes are no simulated
 * events.  Timeouts are simulated time. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "../../filters/filter.h"
#include "../epoll.h"
#include "../mem.h"
#include "io.h"

#define NSEC 1000000000LL
#define NATIVE_POLL_NS 1000000LL /* 1 ms */
#define POLL_MAX_FDS (1 << 20)

/* A duplicate of the target's native fd, or -1 (bad fd). */
static int native_dup(const struct task *t, int fd)
{
    if (t->proc->pidfd < 0 || fd < 0)
        return -1;
    return (int)syscall(SYS_pidfd_getfd, t->proc->pidfd, fd, 0);
}

static short native_revents(int dupfd, short events)
{
    struct pollfd p = {.fd = dupfd, .events = events};
    if (poll(&p, 1, 0) <= 0)
        return 0;
    return p.revents;
}

struct watch {
    int fd;
    short events, revents;
    struct file *f; /* emulated, or NULL */
};

/* Fill revents; returns how many are ready.  *native: some fd is native. */
static int watch_scan(const struct task *t, struct watch *w, size_t n, bool *native)
{
    int ready = 0;
    *native = false;
    for (size_t i = 0; i < n; i++) {
        w[i].revents = 0;
        if (w[i].fd < 0)
            continue;
        w[i].f = fd_get(t, w[i].fd);
        if (w[i].f) {
            w[i].revents = (short)(file_poll(w[i].f) & ((unsigned short)w[i].events | POLLERR | POLLHUP));
        } else {
            *native = true;
            int d = native_dup(t, w[i].fd);
            w[i].revents = d < 0 ? POLLNVAL : native_revents(d, w[i].events);
            if (d >= 0)
                close(d);
        }
        if (w[i].revents)
            ready++;
    }
    return ready;
}

static bool any_emulated(const struct task *t, const struct watch *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fd_get(t, w[i].fd))
            return true;
    return false;
}

/* The earlier of deadline and the time f becomes ready by itself (a
 * timerfd expiring): nobody else would wake the waiter then. */
static int64_t until_event_of(int64_t until, const struct file *f)
{
    int64_t ev = file_next_event_ns(f);
    return ev >= 0 && (until < 0 || ev < until) ? ev : until;
}

/* Wait for readiness.  Returns the number ready (>= 0), or -EINTR. */
static int watch_wait(struct task *t, struct watch *w, size_t n, int64_t deadline)
{
    for (bool first = true;; first = false) {
        bool native;
        int ready = watch_scan(t, w, n, &native);
        if (ready || (deadline >= 0 && sim_now_ns() >= deadline)) {
            if (first)
                task_charge_poll(t, ready > 0); /* a loop on it must let time pass */
            return ready;
        }
        task_waited(t);
        for (size_t i = 0; i < n; i++)
            if (w[i].f) {
                file_ref(w[i].f);
                waitlist_add(&w[i].f->waiters, t);
            }
        int64_t until = deadline;
        if (native && (until < 0 || until > sim_now_ns() + NATIVE_POLL_NS))
            until = sim_now_ns() + NATIVE_POLL_NS;
        for (size_t i = 0; i < n; i++)
            if (w[i].f)
                until = until_event_of(until, w[i].f);
        bool ok = task_block(t, until);
        for (size_t i = 0; i < n; i++)
            if (w[i].f) {
                waitlist_remove(&w[i].f->waiters, t);
                file_unref(w[i].f);
            }
        if (!ok)
            return -EINTR;
    }
}

/* A timeout given as a struct timespec (NULL: none) to a deadline. */
static int64_t timespec_deadline(const struct task *t, uint64_t addr, int *err)
{
    *err = 0;
    if (!addr)
        return -1;
    int64_t v = mem_read_timespec(t, addr);
    if (v < 0) {
        *err = (int)-v;
        return 0;
    }
    return v == MEM_TIMESPEC_FOREVER ? -1 : sim_now_ns() + v;
}

static struct sysret do_poll(struct task *t, uint64_t addr, uint64_t nfds, int64_t deadline)
{
    if (nfds > POLL_MAX_FDS)
        return SYSRET_ERRNO(EINVAL);
    struct pollfd *p = malloc((nfds ? nfds : 1) * sizeof *p);
    struct watch *w = malloc((nfds ? nfds : 1) * sizeof *w);
    struct sysret r;
    if (!p || !w) {
        r = SYSRET_ERRNO(ENOMEM);
        goto out;
    }
    if (nfds && mem_read(t, addr, p, nfds * sizeof *p) < 0) {
        r = SYSRET_ERRNO(EFAULT);
        goto out;
    }
    for (uint64_t i = 0; i < nfds; i++)
        w[i] = (struct watch){p[i].fd, p[i].events, 0, NULL};
    if (!any_emulated(t, w, nfds)) {
        r = SYSRET_CONTINUE; /* nothing of ours: the kernel does it all */
        goto out;
    }
    int ready = watch_wait(t, w, nfds, deadline);
    if (ready < 0) {
        r = SYSRET_ERRNO(-ready);
        goto out;
    }
    for (uint64_t i = 0; i < nfds; i++)
        p[i].revents = w[i].revents;
    r = mem_write(t, addr, p, nfds * sizeof *p) < 0 ? SYSRET_ERRNO(EFAULT) : SYSRET_VALUE(ready);
out:
    free(p);
    free(w);
    return r;
}

struct sysret sys_poll(struct supervisor *s, struct task *t)
{
    (void)s;
    int timeout = (int)t->req.args[2];
    int64_t deadline = timeout < 0 ? -1 : sim_now_ns() + (int64_t)timeout * 1000000;
    return do_poll(t, t->req.args[0], t->req.args[1], deadline);
}

struct sysret sys_ppoll(struct supervisor *s, struct task *t)
{
    (void)s;
    int err;
    int64_t deadline = timespec_deadline(t, t->req.args[2], &err);
    if (err)
        return SYSRET_ERRNO(err);
    /* The signal mask (args[3]) is not emulated yet: signals are native. */
    return do_poll(t, t->req.args[0], t->req.args[1], deadline);
}

/* select: fd_sets in, poll semantics, fd_sets and remaining time out. */
static struct sysret do_select(struct task *t, int nfds, const uint64_t sets[3], int64_t deadline, uint64_t tv_addr,
                               bool timespec_out)
{
    if (nfds < 0 || nfds > POLL_MAX_FDS)
        return SYSRET_ERRNO(EINVAL);
    size_t words = ((size_t)nfds + 63) / 64;
    uint64_t *bits[3] = {0};
    struct watch *w = NULL;
    size_t n = 0;
    struct sysret r;
    for (int k = 0; k < 3; k++) {
        if (!sets[k])
            continue;
        bits[k] = calloc(words ? words : 1, sizeof(uint64_t));
        if (!bits[k] || (words && mem_read(t, sets[k], bits[k], words * sizeof(uint64_t)) < 0)) {
            r = SYSRET_ERRNO(bits[k] ? EFAULT : ENOMEM);
            goto out;
        }
    }
    w = malloc(((size_t)nfds ? (size_t)nfds : 1) * sizeof *w);
    if (!w) {
        r = SYSRET_ERRNO(ENOMEM);
        goto out;
    }
    static const short want[3] = {POLLIN | POLLRDNORM | POLLRDHUP, POLLOUT | POLLWRNORM, POLLPRI};
    for (int fd = 0; fd < nfds; fd++) {
        short ev = 0;
        for (int k = 0; k < 3; k++)
            if (bits[k] && (bits[k][fd / 64] >> (fd % 64) & 1))
                ev |= want[k];
        if (ev)
            w[n++] = (struct watch){fd, ev, 0, NULL};
    }
    if (!any_emulated(t, w, n)) {
        r = SYSRET_CONTINUE;
        goto out;
    }
    int ready = watch_wait(t, w, n, deadline);
    if (ready < 0) {
        r = SYSRET_ERRNO(-ready);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (w[i].revents & POLLNVAL) {
            r = SYSRET_ERRNO(EBADF);
            goto out;
        }
    for (int k = 0; k < 3; k++)
        if (bits[k])
            memset(bits[k], 0, words * sizeof(uint64_t));
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        short rv = w[i].revents;
        bool hits[3] = {rv & (POLLIN | POLLRDNORM | POLLHUP | POLLERR | POLLRDHUP),
                        rv & (POLLOUT | POLLWRNORM | POLLERR), rv & POLLPRI};
        for (int k = 0; k < 3; k++) {
            if (bits[k] && hits[k] && (w[i].events & want[k])) {
                bits[k][w[i].fd / 64] |= 1ull << (w[i].fd % 64);
                count++;
            }
        }
    }
    for (int k = 0; k < 3; k++)
        if (bits[k] && words && mem_write(t, sets[k], bits[k], words * sizeof(uint64_t)) < 0) {
            r = SYSRET_ERRNO(EFAULT);
            goto out;
        }
    if (tv_addr && deadline >= 0) { /* Linux reports the time left */
        int64_t left = deadline - sim_now_ns();
        if (left < 0)
            left = 0;
        if (timespec_out) {
            struct timespec ts = {left / NSEC, left % NSEC};
            mem_write(t, tv_addr, &ts, sizeof ts);
        } else {
            struct timeval tv = {left / NSEC, (left % NSEC) / 1000};
            mem_write(t, tv_addr, &tv, sizeof tv);
        }
    }
    r = SYSRET_VALUE(count);
out:
    for (int k = 0; k < 3; k++)
        free(bits[k]);
    free(w);
    return r;
}

struct sysret sys_select(struct supervisor *s, struct task *t)
{
    (void)s;
    int64_t deadline = -1;
    uint64_t tva = t->req.args[4];
    if (tva) {
        struct timeval tv;
        if (mem_read(t, tva, &tv, sizeof tv) < 0)
            return SYSRET_ERRNO(EFAULT);
        if (tv.tv_sec < 0 || tv.tv_usec < 0)
            return SYSRET_ERRNO(EINVAL);
        /* tv_usec >= 1000000 is accepted and normalised, as by Linux. */
        deadline = sim_now_ns() + tv.tv_sec * NSEC + (int64_t)tv.tv_usec * 1000;
    }
    uint64_t sets[3] = {t->req.args[1], t->req.args[2], t->req.args[3]};
    return do_select(t, (int)t->req.args[0], sets, deadline, tva, false);
}

struct sysret sys_pselect6(struct supervisor *s, struct task *t)
{
    (void)s;
    int err;
    int64_t deadline = timespec_deadline(t, t->req.args[4], &err);
    if (err)
        return SYSRET_ERRNO(err);
    uint64_t sets[3] = {t->req.args[1], t->req.args[2], t->req.args[3]};
    return do_select(t, (int)t->req.args[0], sets, deadline, t->req.args[4], true);
}

/* --- epoll --- */

struct epitem {
    int fd;
    uint64_t file_id;  /* emulated: which open file (0: native) */
    int ndup;          /* native: our duplicate of it */
    uint32_t events;
    uint64_t data;
    uint64_t seen_seq; /* edge-triggered: last state reported */
    bool disabled;     /* EPOLLONESHOT fired */
};

struct epoll {
    struct epitem *v;
    size_t n, cap;
};

struct epoll *epoll_new(void)
{
    struct epoll *ep = calloc(1, sizeof *ep);
    if (!ep)
        abort();
    return ep;
}

void epoll_release(struct epoll *ep)
{
    for (size_t i = 0; i < ep->n; i++)
        if (ep->v[i].ndup >= 0)
            close(ep->v[i].ndup);
    free(ep->v);
    free(ep);
}

unsigned epoll_poll(struct epoll *ep)
{
    (void)ep;
    return 0; /* nested epoll sets are not reported ready (see docs/network.md) */
}

static struct epitem *ep_find(struct epoll *ep, int fd)
{
    for (size_t i = 0; i < ep->n; i++)
        if (ep->v[i].fd == fd)
            return &ep->v[i];
    return NULL;
}

static void ep_del(struct epoll *ep, struct epitem *it)
{
    if (it->ndup >= 0)
        close(it->ndup);
    *it = ep->v[--ep->n];
}

struct sysret sys_epoll_create(struct supervisor *s, struct task *t)
{
    bool cloexec = false;
    if (t->req.nr == __NR_epoll_create) {
        if ((int)t->req.args[0] <= 0)
            return SYSRET_ERRNO(EINVAL);
    } else {
        if (t->req.args[0] & ~(uint64_t)EPOLL_CLOEXEC)
            return SYSRET_ERRNO(EINVAL);
        cloexec = t->req.args[0] & EPOLL_CLOEXEC;
    }
    struct file *f = file_new(FILE_EPOLL);
    f->ep = epoll_new();
    int r = fd_install_new(s, t, f, cloexec);
    return SYSRET_OR_ERRNO(r);
}

struct sysret sys_epoll_ctl(struct supervisor *s, struct task *t)
{
    (void)s;
    struct file *ef = fd_get(t, (int)t->req.args[0]);
    if (!ef)
        return SYSRET_CONTINUE;
    if (ef->kind != FILE_EPOLL)
        return SYSRET_ERRNO(EINVAL);
    struct epoll *ep = ef->ep;
    int op = (int)t->req.args[1], fd = (int)t->req.args[2];
    struct epoll_event ev = {0};
    if (op != EPOLL_CTL_DEL && mem_read(t, t->req.args[3], &ev, sizeof ev) < 0)
        return SYSRET_ERRNO(EFAULT);
    struct file *f = fd_get(t, fd);
    int ndup = -1;
    if (!f) {
        ndup = native_dup(t, fd);
        if (ndup < 0)
            return SYSRET_ERRNO(EBADF);
        struct stat st;
        if (fstat(ndup, &st) == 0 && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
            close(ndup);
            return SYSRET_ERRNO(EPERM);
        }
    }
    if (f == ef) {
        return SYSRET_ERRNO(EINVAL);
    }
    struct epitem *it = ep_find(ep, fd);
    if (it && f && it->file_id != f->id) {
        ep_del(ep, it); /* a stale entry: that fd was closed and reused */
        it = NULL;
    }
    struct sysret r = SYSRET_VALUE(0);
    switch (op) {
    case EPOLL_CTL_ADD:
        if (it) {
            r = SYSRET_ERRNO(EEXIST);
            break;
        }
        if (ep->n == ep->cap) {
            size_t cap = ep->cap ? ep->cap * 2 : 8;
            struct epitem *v = realloc(ep->v, cap * sizeof *v);
            if (!v)
                abort();
            ep->v = v;
            ep->cap = cap;
        }
        ep->v[ep->n++] = (struct epitem){fd, f ? f->id : 0, ndup, ev.events, ev.data.u64,
                                         f ? f->seq - 1 : 0, false};
        ndup = -1;
        break;
    case EPOLL_CTL_MOD:
        if (!it) {
            r = SYSRET_ERRNO(ENOENT);
            break;
        }
        it->events = ev.events;
        it->data = ev.data.u64;
        it->disabled = false;
        it->seen_seq = f ? f->seq - 1 : 0; /* re-armed: report the current state */
        break;
    case EPOLL_CTL_DEL:
        if (!it)
            r = SYSRET_ERRNO(ENOENT);
        else
            ep_del(ep, it);
        break;
    default:
        r = SYSRET_ERRNO(EINVAL);
    }
    if (ndup >= 0)
        close(ndup);
    return r;
}

/* Collect up to max ready events. */
static int ep_scan(struct task *t, struct epoll *ep, struct epoll_event *out, int max, bool consume, bool *native)
{
    int n = 0;
    *native = false;
    for (size_t i = 0; i < ep->n && n < max;) {
        struct epitem *it = &ep->v[i];
        struct file *f = it->file_id ? fd_get(t, it->fd) : NULL;
        if (it->file_id && (!f || f->id != it->file_id)) {
            ep_del(ep, it); /* its file was closed: Linux drops it too */
            continue;
        }
        i++;
        if (it->disabled)
            continue;
        uint32_t mask = it->events | EPOLLERR | EPOLLHUP;
        uint32_t rev;
        if (f) {
            rev = file_poll(f) & mask;
            if ((it->events & EPOLLET) && it->seen_seq == f->seq)
                rev = 0; /* nothing new since we said so */
        } else {
            *native = true;
            rev = (uint32_t)(unsigned short)native_revents(it->ndup, (short)(it->events & 0xffff)) & mask;
        }
        if (!rev)
            continue;
        out[n].events = rev;
        out[n].data.u64 = it->data;
        n++;
        if (consume) {
            if (f)
                it->seen_seq = f->seq;
            if (it->events & EPOLLONESHOT)
                it->disabled = true;
        }
    }
    return n;
}

static struct sysret do_epoll_wait(struct task *t, int64_t deadline)
{
    struct file *ef = fd_get(t, (int)t->req.args[0]);
    if (!ef)
        return SYSRET_CONTINUE;
    if (ef->kind != FILE_EPOLL)
        return SYSRET_ERRNO(EINVAL);
    int max = (int)t->req.args[2];
    if (max <= 0 || max > INT_MAX / (int)sizeof(struct epoll_event))
        return SYSRET_ERRNO(EINVAL);
    if (max > 65536)
        max = 65536;
    struct epoll_event *out = malloc((size_t)max * sizeof *out);
    if (!out)
        return SYSRET_ERRNO(ENOMEM);
    file_ref(ef);
    struct epoll *ep = ef->ep;
    struct sysret r;
    for (bool first = true;; first = false) {
        bool native;
        int n = ep_scan(t, ep, out, max, true, &native);
        if (n || (deadline >= 0 && sim_now_ns() >= deadline)) {
            if (first)
                task_charge_poll(t, n > 0); /* a loop on it must let time pass */
            r = mem_write(t, t->req.args[1], out, (size_t)n * sizeof *out) < 0 ? SYSRET_ERRNO(EFAULT)
                                                                                : SYSRET_VALUE(n);
            break;
        }
        task_waited(t);
        /* Wait on every emulated file in the set. */
        struct file **watched = calloc(ep->n ? ep->n : 1, sizeof *watched);
        size_t nw = 0;
        for (size_t i = 0; watched && i < ep->n; i++) {
            struct file *f = ep->v[i].file_id ? fd_get(t, ep->v[i].fd) : NULL;
            if (f) {
                file_ref(f);
                waitlist_add(&f->waiters, t);
                watched[nw++] = f;
            }
        }
        int64_t until = deadline;
        if (native && (until < 0 || until > sim_now_ns() + NATIVE_POLL_NS))
            until = sim_now_ns() + NATIVE_POLL_NS;
        for (size_t i = 0; i < nw; i++)
            until = until_event_of(until, watched[i]);
        bool ok = task_block(t, until);
        for (size_t i = 0; i < nw; i++) {
            waitlist_remove(&watched[i]->waiters, t);
            file_unref(watched[i]);
        }
        free(watched);
        if (!ok) {
            r = SYSRET_ERRNO(EINTR);
            break;
        }
    }
    file_unref(ef);
    free(out);
    return r;
}

struct sysret sys_epoll_wait(struct supervisor *s, struct task *t)
{
    (void)s;
    int timeout = (int)t->req.args[3];
    /* epoll_pwait's signal mask (args[4]) is not emulated yet. */
    return do_epoll_wait(t, timeout < 0 ? -1 : sim_now_ns() + (int64_t)timeout * 1000000);
}

struct sysret sys_epoll_pwait2(struct supervisor *s, struct task *t)
{
    (void)s;
    int err;
    int64_t deadline = timespec_deadline(t, t->req.args[3], &err);
    if (err)
        return SYSRET_ERRNO(err);
    return do_epoll_wait(t, deadline);
}
