#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "../filters/filter.h"
#include "chan.h"
#include "epoll.h"
#include "socket.h"

void waitlist_add(struct waitlist *w, struct task *t)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->v[i] == t)
            return;
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 4;
        struct task **v = realloc(w->v, cap * sizeof *v);
        if (!v)
            abort();
        w->v = v;
        w->cap = cap;
    }
    w->v[w->n++] = t;
}

void waitlist_remove(struct waitlist *w, struct task *t)
{
    for (size_t i = 0; i < w->n; i++) {
        if (w->v[i] == t) {
            w->v[i] = w->v[--w->n];
            return;
        }
    }
}

void waitlist_wake(struct waitlist *w)
{
    /* A wake-up is a simcall: other actors run during it and change the
     * list (or free the file holding it).  Wake from a copy. */
    size_t n = w->n;
    if (!n)
        return;
    struct task *small[16], **v = n <= 16 ? small : malloc(n * sizeof *v);
    if (!v)
        abort();
    memcpy(v, w->v, n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        task_wake(v[i]);
    if (v != small)
        free(v);
}

void waitlist_free(struct waitlist *w)
{
    free(w->v);
    *w = (struct waitlist){0};
}

/* Table slots: fds 0..EMU_FD_LOW-1, then EMU_FD_BASE and up. */
static bool fd_slot(int fd, size_t *slot)
{
    if (!fd_in_trap_range(fd))
        return false;
    *slot = fd < EMU_FD_LOW ? (size_t)fd : (size_t)(fd - EMU_FD_BASE) + EMU_FD_LOW;
    return true;
}

int fdtable_slot_fd(size_t slot) { return slot < EMU_FD_LOW ? (int)slot : (int)(slot - EMU_FD_LOW) + EMU_FD_BASE; }

struct fdtable *fdtable_new(void)
{
    struct fdtable *t = calloc(1, sizeof *t);
    if (!t)
        abort();
    t->refs = 1;
    return t;
}

struct fdtable *fdtable_copy(const struct fdtable *src)
{
    struct fdtable *t = fdtable_new();
    if (src->cap) {
        t->v = calloc(src->cap, sizeof *t->v);
        if (!t->v)
            abort();
        t->cap = src->cap;
        for (size_t i = 0; i < src->cap; i++) {
            t->v[i] = src->v[i];
            if (t->v[i].file)
                file_ref(t->v[i].file);
        }
    }
    return t;
}

void fdtable_put(struct fdtable *t)
{
    if (!t || --t->refs > 0)
        return;
    for (size_t i = 0; i < t->cap; i++)
        if (t->v[i].file)
            file_unref(t->v[i].file);
    free(t->v);
    free(t);
}

void fdtable_exec(struct task *t)
{
    /* Only a successful execve closed the placeholders: look at them. */
    struct fdtable *tab = t->proc->fds;
    for (size_t i = 0; i < tab->cap; i++) {
        if (tab->v[i].file && tab->v[i].cloexec && !fd_native_open(t, fdtable_slot_fd(i))) {
            file_unref(tab->v[i].file);
            tab->v[i] = (struct fd_entry){0};
        }
    }
}

struct fd_entry *fd_entry(const struct task *t, int fd)
{
    struct fdtable *tab = t->proc->fds;
    size_t i;
    if (!tab || !fd_slot(fd, &i) || i >= tab->cap)
        return NULL;
    struct fd_entry *e = &tab->v[i];
    return e->file ? e : NULL;
}

struct file *fd_get(const struct task *t, int fd)
{
    struct fd_entry *e = fd_entry(t, fd);
    return e ? e->file : NULL;
}

/* Is fd open in the target's kernel table (a native file we must not
 * overwrite)? */
bool fd_native_open(const struct task *t, int fd)
{
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%d/fd/%d", t->proc->pid, fd);
    return lstat(path, &st) == 0;
}

int fd_alloc(struct task *t, int min)
{
    struct fdtable *tab = t->proc->fds;
    if (min < EMU_FD_BASE)
        min = EMU_FD_BASE;
    for (int fd = min; fd < EMU_FD_BASE + 1048576; fd++) {
        size_t i;
        fd_slot(fd, &i);
        if (i < tab->cap && tab->v[i].file)
            continue;
        if (fd_native_open(t, fd))
            continue;
        return fd;
    }
    return -EMFILE;
}

void fd_set_entry(struct task *t, int fd, struct file *f, bool cloexec)
{
    struct fdtable *tab = t->proc->fds;
    size_t i;
    if (!fd_slot(fd, &i))
        abort(); /* callers only install where the filter traps */
    if (i >= tab->cap) {
        size_t cap = tab->cap ? tab->cap : 16;
        while (cap <= i)
            cap *= 2;
        struct fd_entry *v = realloc(tab->v, cap * sizeof *v);
        if (!v)
            abort();
        memset(v + tab->cap, 0, (cap - tab->cap) * sizeof *v);
        tab->v = v;
        tab->cap = cap;
    }
    file_ref(f);
    if (tab->v[i].file)
        file_unref(tab->v[i].file);
    tab->v[i] = (struct fd_entry){f, cloexec};
}

void fd_clear(struct task *t, int fd)
{
    struct fd_entry *e = fd_entry(t, fd);
    if (!e)
        return;
    struct file *f = e->file;
    *e = (struct fd_entry){0};
    file_unref(f);
}

struct file *file_new(enum file_kind kind)
{
    static uint64_t next_id = 1;
    struct file *f = calloc(1, sizeof *f);
    if (!f)
        abort();
    f->id = next_id++;
    f->kind = kind;
    f->refs = 1;
    f->accmode = O_RDWR;
    return f;
}

void file_ref(struct file *f) { f->refs++; }

void file_unref(struct file *f)
{
    if (--f->refs > 0)
        return;
    if (f->kind == FILE_SOCKET)
        sock_release(f->sock);
    else if (f->kind == FILE_EPOLL)
        epoll_release(f->ep);
    else if (f->kind == FILE_PIPE)
        chan_detach(f->pipe.in ? f->pipe.in : f->pipe.out, f);
    else if (f->kind == FILE_UNIX)
        usock_release(f);
    else if (f->kind == FILE_SIGNALFD)
        signalfd_release(f);
    waitlist_wake(&f->waiters); /* nobody should be there: be safe */
    waitlist_free(&f->waiters);
    free(f);
}

void timerfd_settle(struct file *f)
{
    struct timerfd_state *tm = &f->tfd;
    int64_t now = sim_now_ns();
    if (tm->next_ns < 0 || now < tm->next_ns)
        return;
    if (tm->interval_ns > 0) {
        int64_t k = (now - tm->next_ns) / tm->interval_ns + 1;
        tm->ticks += (uint64_t)k;
        tm->next_ns += k * tm->interval_ns;
    } else {
        tm->ticks++;
        tm->next_ns = -1;
    }
}

static unsigned pipe_poll(const struct file *f);

unsigned file_poll(struct file *f)
{
    switch (f->kind) {
    case FILE_SOCKET:
        return sock_poll(f->sock);
    case FILE_EPOLL:
        return epoll_poll(f->ep);
    case FILE_EVENTFD:
        return (f->evfd.count ? POLLIN | POLLRDNORM : 0) |
               (f->evfd.count < UINT64_MAX - 1 ? POLLOUT | POLLWRNORM : 0);
    case FILE_TIMERFD:
        timerfd_settle(f);
        return f->tfd.ticks ? POLLIN | POLLRDNORM : 0;
    case FILE_RANDOM:
        return POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM;
    case FILE_PIPE:
        return pipe_poll(f);
    case FILE_UNIX:
        return usock_poll(f);
    case FILE_SIGNALFD:
        return signalfd_poll(f);
    }
    return 0;
}

int64_t file_next_event_ns(const struct file *f)
{
    return f->kind == FILE_TIMERFD ? f->tfd.next_ns : -1;
}

static unsigned pipe_poll(const struct file *f)
{
    const struct chan *c = f->pipe.in;
    if (c) /* read end */
        return (c->len ? POLLIN | POLLRDNORM : 0) | (c->writer ? 0 : POLLHUP);
    c = f->pipe.out;
    if (!c->reader)
        return POLLERR;
    return chan_room(c) >= PIPE_BUF ? POLLOUT | POLLWRNORM : 0;
}

void file_notify(struct file *f)
{
    f->seq++;
    /* Tasks in poll/select/epoll_wait wait on every file they watch. */
    waitlist_wake(&f->waiters);
}

int fd_install(struct supervisor *s, struct task *t, struct file *f, int fd, bool cloexec)
{
    /* A harmless kernel object of the right kind: fstat() and the like
     * look plausible, and nothing done natively on it reaches a network
     * (an unarmed timer, a counter nobody else sees). */
    struct placeholder ph;
    switch (f->kind) {
    case FILE_SOCKET:
        ph = (struct placeholder){SYS_socket, {AF_UNIX, (uint64_t)(sock_type(f->sock) | SOCK_CLOEXEC), 0}, NULL, 0};
        break;
    case FILE_EPOLL:
        ph = (struct placeholder){SYS_epoll_create1, {EPOLL_CLOEXEC, 0, 0}, NULL, 0};
        break;
    case FILE_EVENTFD:
        ph = (struct placeholder){SYS_eventfd2, {0, EFD_CLOEXEC, 0}, NULL, 0};
        break;
    case FILE_TIMERFD:
        ph = (struct placeholder){SYS_timerfd_create, {(uint64_t)f->tfd.clock, TFD_CLOEXEC, 0}, NULL, 0};
        break;
    case FILE_UNIX:
        ph = (struct placeholder){SYS_socket, {AF_UNIX, (uint64_t)(usock_type(f) | SOCK_CLOEXEC), 0}, NULL, 0};
        break;
    case FILE_PIPE: /* a real pipe end, its other end closed: should a
                     * native call slip through, it sees EOF or EPIPE */
        ph = (struct placeholder){SYS_pipe2, {f->pipe.in ? 0 : 1, 0, 0}, NULL, 0};
        break;
    case FILE_RANDOM: { /* the device itself: reads never reach it (all trapped) */
        const char *dev = f->dev_random ? "/dev/random" : "/dev/urandom";
        ph = (struct placeholder){SYS_openat, {(uint64_t)AT_FDCWD, 0, O_RDONLY | O_CLOEXEC}, dev, strlen(dev) + 1};
        break;
    }
    case FILE_SIGNALFD: /* a real one with the same mask: reads of pending
                         * signals run natively on it */
        ph = (struct placeholder){SYS_signalfd, {(uint64_t)-1, 0, sizeof f->sfd.mask}, &f->sfd.mask,
                                  sizeof f->sfd.mask};
        break;
    default:
        return -EINVAL;
    }
    int r = s->backend->install_placeholder(s, t, &ph, fd, cloexec);
    if (r < 0)
        return r;
    fd_set_entry(t, fd, f, cloexec);
    return fd;
}

int fd_install_new(struct supervisor *s, struct task *t, struct file *f, bool cloexec)
{
    int fd = fd_alloc(t, 0);
    if (fd >= 0)
        fd = fd_install(s, t, f, fd, cloexec);
    file_unref(f);
    return fd;
}

int fd_install_pair(struct supervisor *s, struct task *t, struct file *f[2], bool cloexec, int fds[2])
{
    fds[0] = fd_install_new(s, t, f[0], cloexec);
    if (fds[0] < 0) {
        file_unref(f[1]);
        return fds[0];
    }
    fds[1] = fd_install_new(s, t, f[1], cloexec);
    if (fds[1] < 0) {
        /* The first placeholder stays open in the target (no way to close
         * it from here); ours goes. */
        log_msg("task %d: second descriptor of a pair failed (%d), fd %d left open", t->tid, -fds[1], fds[0]);
        fd_clear(t, fds[0]);
        return fds[1];
    }
    return 0;
}
