/* Pipes between emulated tasks: two files of ours around a channel
 * (supervisor/chan.c).  A reader waiting for a writer waits in simulated
 * time like any emulated call, so pipelines never block in the kernel. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "../chan.h"
#include "../mem.h"
#include "io.h"

#define PIPE_DEFAULT_SIZE 65536       /* Linux: 16 pages */
#define PIPE_MAX_SIZE (1024 * 1024)   /* /proc/sys/fs/pipe-max-size */

static bool f_nonblocking(const struct file *f) { return f->status_flags & O_NONBLOCK; }

static struct sysret pipe_write(struct task *t, struct file *f, const struct iovec *iov, int niov)
{
    struct chan *c = f->pipe.out;
    size_t total = iov_total(iov, niov), done = 0;
    if (total == 0)
        return SYSRET_VALUE(0);
    for (;;) {
        if (!c->reader)
            return send_error(t, 0, EPIPE, done);
        size_t want = total - done, room = chan_room(c);
        /* Writes of at most PIPE_BUF bytes are atomic; packets (O_DIRECT)
         * are PIPE_BUF bytes at most each. */
        size_t unit = c->msgs ? (want < PIPE_BUF ? want : PIPE_BUF) : want;
        bool fits = c->msgs ? (!c->len || room >= unit) : (total <= PIPE_BUF ? room >= want : room > 0);
        if (fits) {
            size_t n = c->msgs ? unit : (want < room ? want : room);
            if (n > IO_STEP)
                n = IO_STEP;
            if (chan_write_iov(t, c, iov, niov, done, n) < 0)
                return done ? SYSRET_VALUE(done) : SYSRET_ERRNO(EFAULT);
            done += n;
            chan_notify(c); /* a wake-up: the reader may run, even close */
            if (done == total)
                return SYSRET_VALUE(done);
            continue;
        }
        if (f_nonblocking(f)) {
            if (!done)
                task_charge_spin(t);
            return done ? SYSRET_VALUE(done) : SYSRET_ERRNO(EAGAIN);
        }
        if (!wait_file(t, f, -1))
            return done ? SYSRET_VALUE(done) : SYSRET_ERRNO(EINTR);
    }
}

static struct sysret pipe_read(struct task *t, struct file *f, const struct iovec *iov, int niov)
{
    struct chan *c = f->pipe.in;
    size_t total = iov_total(iov, niov);
    if (total == 0)
        return SYSRET_VALUE(0);
    for (;;) {
        if (c->len) {
            struct chan_msg *m = c->msgs ? chan_first_msg(c) : NULL;
            size_t n = m ? m->len : c->len;
            if (n > total)
                n = total;
            if (n > IO_STEP)
                n = IO_STEP;
            /* A bad buffer loses nothing: the data stays queued. */
            if (chan_peek_iov(t, c, iov, niov, 0, n) < 0)
                return SYSRET_ERRNO(EFAULT);
            if (m)
                chan_drop_msg(c); /* the rest of a long packet is lost, as Linux */
            else
                chan_skip(c, n);
            chan_notify(c);
            return SYSRET_VALUE(n);
        }
        if (!c->writer)
            return SYSRET_VALUE(0); /* end of file */
        if (f_nonblocking(f)) {
            task_charge_spin(t);
            return SYSRET_ERRNO(EAGAIN);
        }
        if (!wait_file(t, f, -1))
            return SYSRET_ERRNO(EINTR);
    }
}

struct sysret pipe_io(struct task *t, struct file *f, const struct iovec *iov, int niov, bool writing)
{
    if (writing ? !f->pipe.out : !f->pipe.in)
        return SYSRET_ERRNO(EBADF); /* the other end */
    return writing ? pipe_write(t, f, iov, niov) : pipe_read(t, f, iov, niov);
}

/* pipe(fds) and pipe2(fds, flags). */
static struct sysret make_pipe(struct supervisor *s, struct task *t, uint64_t fds_addr, int flags)
{
    if (flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT))
        return SYSRET_ERRNO(EINVAL);
    int fds[2] = {-1, -1};
    if (mem_write(t, fds_addr, fds, sizeof fds) < 0)
        return SYSRET_ERRNO(EFAULT);
    struct chan *c = chan_new(PIPE_DEFAULT_SIZE, flags & O_DIRECT);
    struct file *end[2] = {file_new(FILE_PIPE), file_new(FILE_PIPE)};
    end[0]->pipe.in = c;
    end[0]->accmode = O_RDONLY;
    end[1]->pipe.out = c;
    end[1]->accmode = O_WRONLY;
    chan_attach(c, end[0], end[1]);
    for (int i = 0; i < 2; i++)
        end[i]->status_flags = flags & O_NONBLOCK;
    int r = fd_install_pair(s, t, end, flags & O_CLOEXEC, fds);
    if (r < 0)
        return SYSRET_ERRNO(-r);
    if (mem_write(t, fds_addr, fds, sizeof fds) < 0)
        return SYSRET_ERRNO(EFAULT);
    return SYSRET_VALUE(0);
}

struct sysret sys_pipe(struct supervisor *s, struct task *t) { return make_pipe(s, t, t->req.args[0], 0); }
struct sysret sys_pipe2(struct supervisor *s, struct task *t)
{
    return make_pipe(s, t, t->req.args[0], (int)t->req.args[1]);
}

int pipe_set_size(struct file *f, long size)
{
    if (size <= 0 || size > PIPE_MAX_SIZE)
        return size > 0 ? -EPERM : -EINVAL;
    size_t cap = 4096;
    while (cap < (size_t)size)
        cap *= 2;
    int r = chan_resize(f->pipe.in ? f->pipe.in : f->pipe.out, cap);
    return r < 0 ? r : (int)cap;
}

size_t pipe_size(const struct file *f) { return (f->pipe.in ? f->pipe.in : f->pipe.out)->cap; }

int chan_write_iov(const struct task *t, struct chan *c, const struct iovec *iov, int niov, size_t off, size_t n)
{
    char *buf = malloc(n ? n : 1);
    if (!buf)
        abort();
    int r = iov_copy(t, iov, niov, off, buf, n, false);
    if (r == 0) {
        if (c->msgs)
            chan_put_msg(c, buf, n, NULL, 0);
        else
            chan_put(c, buf, n);
    }
    free(buf);
    return r;
}

int chan_peek_iov(const struct task *t, struct chan *c, const struct iovec *iov, int niov, size_t off, size_t n)
{
    char *buf = malloc(n ? n : 1);
    if (!buf)
        abort();
    if (c->msgs)
        memcpy(buf, chan_first_msg(c)->data, n);
    else
        chan_get(c, buf, n, true);
    int r = iov_copy(t, iov, niov, off, buf, n, true);
    free(buf);
    return r;
}
