/* fd-based syscalls on emulated descriptors.  Only fds 0-2 and fds >=
 * EMU_FD_BASE reach these handlers (dup2/dup3/close_range always do);
 * anything that is not ours runs natively. */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "../../filters/filter.h"
#include "../chan.h"
#include "../dispatch.h"
#include "../mem.h"
#include "io.h"

#ifndef SIOCOUTQ
#define SIOCOUTQ TIOCOUTQ
#endif

/* read/write/readv/writev and the positioned variants: one path, a
 * single buffer or an iovec array. */
static struct sysret data_io(struct supervisor *s, struct task *t, bool vector, bool sending, bool positioned)
{
    struct file *f = fd_get(t, (int)t->req.args[0]);
    if (!f)
        return SYSRET_CONTINUE;
    if (f->kind == FILE_EPOLL)
        return SYSRET_ERRNO(EINVAL);
    /* preadv2/pwritev2 at offset -1 use the file position, like readv */
    bool at_offset = positioned && !((t->req.nr == __NR_preadv2 || t->req.nr == __NR_pwritev2) &&
                                     (int64_t)t->req.args[3] == -1);
    if (at_offset && f->kind != FILE_RANDOM)
        return SYSRET_ERRNO(ESPIPE); /* sockets, eventfds, timerfds cannot seek */
    struct iovec one = IOV1(t->req.args[1], t->req.args[2]), many[IO_IOV_MAX], *iov = &one;
    int n = 1;
    if (vector) {
        int r = iov_read(t, t->req.args[1], t->req.args[2], many);
        if (r < 0)
            return SYSRET_ERRNO(-r);
        iov = many;
        n = (int)t->req.args[2];
    }
    if (f->kind == FILE_RANDOM)
        return random_device_io(t, iov, n, sending);
    if (f->kind == FILE_PIPE)
        return pipe_io(t, f, iov, n, sending);
    if (f->kind == FILE_UNIX)
        return usock_io(t, f, iov, n, sending);
    if (f->kind == FILE_SIGNALFD)
        return sending ? SYSRET_ERRNO(EINVAL) : signalfd_read(t, f, iov_total(iov, n));
    if (f->kind != FILE_SOCKET)
        return counter_io(t, f, iov, n, sending);
    return sending ? do_send(s, t, f, iov, n, 0, NULL) : do_recv(s, t, f, iov, n, 0, 0, 0, NULL);
}

struct sysret sys_read(struct supervisor *s, struct task *t) { return data_io(s, t, false, false, false); }
struct sysret sys_write(struct supervisor *s, struct task *t) { return data_io(s, t, false, true, false); }
struct sysret sys_readv(struct supervisor *s, struct task *t) { return data_io(s, t, true, false, false); }
struct sysret sys_writev(struct supervisor *s, struct task *t) { return data_io(s, t, true, true, false); }
struct sysret sys_pread(struct supervisor *s, struct task *t)
{
    bool vector = t->req.nr != __NR_pread64;
    return data_io(s, t, vector, false, true);
}
struct sysret sys_pwrite(struct supervisor *s, struct task *t)
{
    bool vector = t->req.nr != __NR_pwrite64;
    return data_io(s, t, vector, true, true);
}

/* The kernel closes the placeholder; we drop our reference. */
struct sysret sys_close(struct supervisor *s, struct task *t)
{
    (void)s;
    fd_clear(t, (int)t->req.args[0]);
    return SYSRET_CONTINUE;
}

/* Duplicates of an emulated fd must stay where the filter traps: we
 * choose the number (the lowest free one >= EMU_FD_BASE) and install it. */
static struct sysret dup_to(struct supervisor *s, struct task *t, struct file *f, int min, bool cloexec)
{
    int fd = fd_alloc(t, min);
    if (fd < 0)
        return SYSRET_ERRNO(-fd);
    int r = fd_install(s, t, f, fd, cloexec);
    return r < 0 ? SYSRET_ERRNO(-r) : SYSRET_VALUE(fd);
}

/* eventfd and timerfd: 8-byte values, blocking in simulated time. */
struct sysret counter_io(struct task *t, struct file *f, const struct iovec *iov, int niov, bool writing)
{
    if (iov_total(iov, niov) < sizeof(uint64_t) || (writing && f->kind == FILE_TIMERFD))
        return SYSRET_ERRNO(EINVAL);
    uint64_t v;
    if (writing) {
        if (iov_copy(t, iov, niov, 0, &v, sizeof v, false) < 0)
            return SYSRET_ERRNO(EFAULT);
        if (v == UINT64_MAX)
            return SYSRET_ERRNO(EINVAL);
    }
    for (;;) {
        int64_t wake_at = -1;
        if (f->kind == FILE_TIMERFD) {
            timerfd_settle(f);
            if (f->tfd.ticks) {
                v = f->tfd.ticks;
                if (iov_copy(t, iov, niov, 0, &v, sizeof v, true) < 0)
                    return SYSRET_ERRNO(EFAULT);
                f->tfd.ticks = 0;
                return SYSRET_VALUE(sizeof v);
            }
            wake_at = f->tfd.next_ns;
        } else if (writing) {
            if (v < UINT64_MAX - f->evfd.count) { /* the count stays below UINT64_MAX */
                f->evfd.count += v;
                file_notify(f);
                return SYSRET_VALUE(sizeof v);
            }
        } else if (f->evfd.count) {
            v = f->evfd.semaphore ? 1 : f->evfd.count;
            if (iov_copy(t, iov, niov, 0, &v, sizeof v, true) < 0)
                return SYSRET_ERRNO(EFAULT);
            f->evfd.count -= v;
            file_notify(f);
            return SYSRET_VALUE(sizeof v);
        }
        if (f->status_flags & O_NONBLOCK) {
            task_charge_spin(t);
            return SYSRET_ERRNO(EAGAIN);
        }
        if (!wait_file(t, f, wake_at))
            return SYSRET_ERRNO(EINTR);
    }
}

/* eventfd(initval) and eventfd2(initval, flags). */
struct sysret sys_eventfd(struct supervisor *s, struct task *t)
{
    int flags = t->req.nr == __NR_eventfd2 ? (int)t->req.args[1] : 0;
    if (flags & ~(EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE))
        return SYSRET_ERRNO(EINVAL);
    struct file *f = file_new(FILE_EVENTFD);
    f->evfd.count = (uint32_t)t->req.args[0];
    f->evfd.semaphore = flags & EFD_SEMAPHORE;
    f->status_flags = flags & EFD_NONBLOCK; /* == O_NONBLOCK */
    int r = fd_install_new(s, t, f, flags & EFD_CLOEXEC);
    return SYSRET_OR_ERRNO(r);
}

/* sendfile(out, in), splice(in, _, out), tee(in, out), vmsplice(fd),
 * copy_file_range(in, _, out): natively unless a descriptor is ours. */
struct sysret sys_kernel_copy(struct supervisor *s, struct task *t)
{
    int a = (int)t->req.args[0], b;
    switch (t->req.nr) {
    case __NR_splice:
    case __NR_copy_file_range:
        b = (int)t->req.args[2];
        break;
    case __NR_vmsplice:
        b = a;
        break;
    default: /* sendfile, tee */
        b = (int)t->req.args[1];
        break;
    }
    if (fd_get(t, a) || fd_get(t, b)) {
        if (s->opt->verbose)
            log_msg("task %d: %s with an emulated descriptor: EINVAL (callers fall back to read/write)", t->tid,
                    dispatch_entry(t->req.nr)->name);
        return SYSRET_ERRNO(EINVAL);
    }
    return SYSRET_CONTINUE;
}

/* Nothing of ours can seek but the random devices (always at 0). */
struct sysret sys_lseek(struct supervisor *s, struct task *t)
{
    (void)s;
    struct file *f = fd_get(t, (int)t->req.args[0]);
    if (!f)
        return SYSRET_CONTINUE;
    return f->kind == FILE_RANDOM ? SYSRET_VALUE(0) : SYSRET_ERRNO(ESPIPE);
}

struct sysret sys_dup(struct supervisor *s, struct task *t)
{
    struct file *f = fd_get(t, (int)t->req.args[0]);
    return f ? dup_to(s, t, f, 0, false) : SYSRET_CONTINUE;
}

struct sysret sys_dup2(struct supervisor *s, struct task *t)
{
    int oldfd = (int)t->req.args[0], newfd = (int)t->req.args[1];
    int flags = t->req.nr == __NR_dup3 ? (int)t->req.args[2] : 0;
    struct file *f = fd_get(t, oldfd);
    if (!f) {
        /* A native file is about to replace what we had at newfd (if the
         * kernel will accept the call). */
        if (fd_get(t, newfd) && oldfd != newfd && !(flags & ~O_CLOEXEC) && fd_native_open(t, oldfd))
            fd_clear(t, newfd);
        return SYSRET_CONTINUE;
    }
    if (flags & ~O_CLOEXEC)
        return SYSRET_ERRNO(EINVAL);
    if (oldfd == newfd)
        return t->req.nr == __NR_dup3 ? SYSRET_ERRNO(EINVAL) : SYSRET_VALUE(newfd);
    if (!fd_in_trap_range(newfd)) {
        /* Out of the filter's sight our object would be dead: refuse
         * rather than hand the program a placeholder nobody serves. */
        log_msg("task %d: dup2 of an emulated file to fd %d (3..%d) is not supported", t->tid, newfd,
                EMU_FD_BASE - 1);
        return SYSRET_ERRNO(EINVAL);
    }
    int r = fd_install(s, t, f, newfd, flags & O_CLOEXEC);
    return r < 0 ? SYSRET_ERRNO(-r) : SYSRET_VALUE(newfd);
}

struct sysret sys_close_range(struct supervisor *s, struct task *t)
{
    (void)s;
    unsigned first = (unsigned)t->req.args[0], last = (unsigned)t->req.args[1];
    unsigned flags = (unsigned)t->req.args[2];
    if (first > last)
        return SYSRET_CONTINUE; /* EINVAL from the kernel */
    struct fdtable *tab = t->proc->fds;
    for (size_t i = 0; i < tab->cap; i++) {
        unsigned fd = (unsigned)fdtable_slot_fd(i);
        if (fd < first || fd > last || !tab->v[i].file)
            continue;
        if (flags & CLOSE_RANGE_CLOEXEC)
            tab->v[i].cloexec = true;
        else
            fd_clear(t, (int)fd);
    }
    return SYSRET_CONTINUE;
}

struct sysret sys_fcntl(struct supervisor *s, struct task *t)
{
    int fd = (int)t->req.args[0], cmd = (int)t->req.args[1], r;
    struct fd_entry *e = fd_entry(t, fd);
    if (!e)
        return SYSRET_CONTINUE;
    struct file *f = e->file;
    switch (cmd) {
    case F_GETFL:
        return SYSRET_VALUE(f->accmode | f->status_flags);
    case F_GETPIPE_SZ:
    case F_SETPIPE_SZ:
        if (f->kind != FILE_PIPE)
            return SYSRET_ERRNO(EBADF);
        if (cmd == F_GETPIPE_SZ)
            return SYSRET_VALUE(pipe_size(f));
        r = pipe_set_size(f, (long)(int)t->req.args[2]);
        if (r >= 0)
            file_notify(f); /* more room: writers may go on */
        return SYSRET_OR_ERRNO(r);
    case F_SETFL:
        f->status_flags = (f->status_flags & ~O_NONBLOCK) | ((int)t->req.args[2] & O_NONBLOCK);
        file_notify(f);
        return SYSRET_VALUE(0);
    case F_SETFD:
        e->cloexec = t->req.args[2] & FD_CLOEXEC;
        return SYSRET_CONTINUE; /* the placeholder's flag matters at exec */
    case F_DUPFD:
    case F_DUPFD_CLOEXEC:
        if ((int)t->req.args[2] < 0)
            return SYSRET_ERRNO(EINVAL);
        return dup_to(s, t, f, (int)t->req.args[2], cmd == F_DUPFD_CLOEXEC);
    default:
        return SYSRET_CONTINUE; /* F_GETFD, locks, owners: the placeholder answers */
    }
}

struct sysret sys_ioctl(struct supervisor *s, struct task *t)
{
    (void)s;
    struct file *f = fd_get(t, (int)t->req.args[0]);
    if (!f)
        return SYSRET_CONTINUE;
    unsigned long req = (unsigned long)t->req.args[1];
    int v;
    if ((f->kind == FILE_PIPE || f->kind == FILE_UNIX) && req == FIONREAD) {
        v = f->kind == FILE_UNIX ? (int)usock_unread(f) : f->pipe.in ? (int)f->pipe.in->len : 0;
        return mem_write(t, t->req.args[2], &v, sizeof v) < 0 ? SYSRET_ERRNO(EFAULT) : SYSRET_VALUE(0);
    }
    if (req != FIONBIO && f->kind != FILE_SOCKET)
        return SYSRET_CONTINUE; /* the placeholder is of the same kind: it answers */
    switch (req) {
    case FIONREAD:
        v = (int)sock_unread(f->sock);
        break;
    case SIOCOUTQ:
        v = (int)sock_unsent(f->sock);
        break;
    case FIONBIO:
        if (mem_read(t, t->req.args[2], &v, sizeof v) < 0)
            return SYSRET_ERRNO(EFAULT);
        f->status_flags = v ? f->status_flags | O_NONBLOCK : f->status_flags & ~O_NONBLOCK;
        return SYSRET_VALUE(0);
    default:
        return SYSRET_CONTINUE; /* interface queries and the like: the placeholder */
    }
    if (sock_state(f->sock) == SS_LISTENING)
        return SYSRET_ERRNO(EINVAL);
    if (mem_write(t, t->req.args[2], &v, sizeof v) < 0)
        return SYSRET_ERRNO(EFAULT);
    return SYSRET_VALUE(0);
}
