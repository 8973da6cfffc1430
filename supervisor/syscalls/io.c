#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "../mem.h"

int iov_read(const struct task *t, uint64_t addr, uint64_t count, struct iovec *out)
{
    if (count > IO_IOV_MAX)
        return -EINVAL;
    if (count && mem_read(t, addr, out, count * sizeof *out) < 0)
        return -EFAULT;
    size_t total = 0;
    for (uint64_t i = 0; i < count; i++) {
        /* The kernel refuses a total that does not fit in ssize_t. */
        if (out[i].iov_len > (size_t)SSIZE_MAX - total)
            return -EINVAL;
        total += out[i].iov_len;
    }
    return 0;
}

size_t iov_total(const struct iovec *iov, int n)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    return total;
}

int iov_copy(const struct task *t, const struct iovec *iov, int n, size_t off, void *buf, size_t len, bool to_target)
{
    size_t done = 0;
    for (int i = 0; i < n && done < len; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        size_t k = iov[i].iov_len - off;
        if (k > len - done)
            k = len - done;
        uint64_t a = (uint64_t)(uintptr_t)iov[i].iov_base + off;
        int r = to_target ? mem_write(t, a, (char *)buf + done, k) : mem_read(t, a, (char *)buf + done, k);
        if (r < 0)
            return r;
        done += k;
        off = 0;
    }
    return 0;
}

int64_t deadline_after(int64_t timeout_ns) { return timeout_ns > 0 ? sim_now_ns() + timeout_ns : -1; }

bool wait_file(struct task *t, struct file *f, int64_t deadline)
{
    task_waited(t);
    file_ref(f); /* another task may close it meanwhile */
    waitlist_add(&f->waiters, t);
    bool ok = task_block(t, deadline);
    waitlist_remove(&f->waiters, t);
    file_unref(f);
    return ok;
}

static bool nonblocking(const struct file *f, int flags)
{
    return (f->status_flags & O_NONBLOCK) || (flags & MSG_DONTWAIT);
}

struct sysret send_error(struct task *t, int flags, int err, size_t sent)
{
    if (sent)
        return SYSRET_VALUE(sent);
    if (err == EPIPE && !(flags & MSG_NOSIGNAL))
        syscall(SYS_tgkill, t->proc->pid, t->tid, SIGPIPE);
    return SYSRET_ERRNO(err);
}

struct sysret do_send(struct supervisor *s, struct task *t, struct file *f, const struct iovec *iov, int niov,
                      int flags, const struct sockaddr_in *dest)
{
    (void)s;
    struct sock *k = f->sock;
    size_t total = iov_total(iov, niov), sent = 0;
    int64_t deadline = deadline_after(sock_opts(k)->sndtimeo_ns);
    if (sock_type(k) == SOCK_DGRAM) {
        if (total > 65507)
            return SYSRET_ERRNO(EMSGSIZE);
        void *buf = malloc(total ? total : 1);
        if (!buf)
            return SYSRET_ERRNO(ENOMEM);
        if (iov_copy(t, iov, niov, 0, buf, total, false) < 0) {
            free(buf);
            return SYSRET_ERRNO(EFAULT);
        }
        ssize_t r = sock_send(k, buf, total, dest);
        free(buf);
        return r < 0 ? send_error(t, flags, (int)-r, 0) : SYSRET_VALUE(r);
    }
    if (dest && sock_state(k) != SS_CONNECTED)
        return SYSRET_ERRNO(sock_state(k) == SS_UNCONNECTED ? EPIPE : ENOTCONN);
    while (sent < total || total == 0) {
        if (sock_state(k) != SS_CONNECTED)
            return send_error(t, flags, sock_state(k) == SS_CONNECTING ? EAGAIN : EPIPE, sent);
        size_t room = sock_send_room(k);
        /* A blocking writer waits for real room, not for each few bytes
         * the reader frees; a non-blocking one takes what there is. */
        if (!room || (!nonblocking(f, flags) && !sock_writable(k))) {
            ssize_t probe = sock_send(k, NULL, 0, NULL); /* is the peer still there? */
            if (probe < 0)
                return send_error(t, flags, (int)-probe, sent);
            if (nonblocking(f, flags)) {
                if (!sent)
                    task_charge_spin(t);
                return sent ? SYSRET_VALUE(sent) : SYSRET_ERRNO(EAGAIN);
            }
            if (!wait_file(t, f, deadline))
                return sent ? SYSRET_VALUE(sent) : SYSRET_ERRNO(EINTR);
            if (deadline >= 0 && sim_now_ns() >= deadline)
                return sent ? SYSRET_VALUE(sent) : SYSRET_ERRNO(EAGAIN);
            continue;
        }
        if (total == 0)
            return SYSRET_VALUE(0);
        size_t n = total - sent;
        if (n > room)
            n = room;
        if (n > IO_STEP)
            n = IO_STEP;
        void *buf = malloc(n);
        if (!buf)
            return SYSRET_ERRNO(ENOMEM);
        if (iov_copy(t, iov, niov, sent, buf, n, false) < 0) {
            free(buf);
            return sent ? SYSRET_VALUE(sent) : SYSRET_ERRNO(EFAULT);
        }
        ssize_t r = sock_send(k, buf, n, NULL);
        free(buf);
        if (r < 0)
            return send_error(t, flags, (int)-r, sent);
        sent += (size_t)r;
    }
    return SYSRET_VALUE(sent);
}

struct sysret do_recv(struct supervisor *s, struct task *t, struct file *f, const struct iovec *iov, int niov,
                      int flags, uint64_t from, uint64_t fromlen, int *msg_flags)
{
    (void)s;
    struct sock *k = f->sock;
    size_t total = iov_total(iov, niov), got = 0;
    bool peek = flags & MSG_PEEK, waitall = (flags & MSG_WAITALL) && !peek && sock_type(k) == SOCK_STREAM;
    int64_t deadline = deadline_after(sock_opts(k)->rcvtimeo_ns);
    for (;;) {
        if (sock_type(k) == SOCK_STREAM && sock_state(k) == SS_LISTENING)
            return SYSRET_ERRNO(ENOTCONN);
        if (sock_readable(k)) {
            size_t want = total - got;
            size_t avail = sock_unread(k);
            size_t cap = want < avail ? want : avail;
            if (sock_type(k) == SOCK_DGRAM)
                cap = avail < want ? avail : want;
            if (cap > IO_STEP)
                cap = IO_STEP;
            void *buf = malloc(cap ? cap : 1);
            if (!buf)
                return SYSRET_ERRNO(ENOMEM);
            struct sockaddr_in src;
            size_t dlen = 0;
            ssize_t n = sock_recv(k, buf, cap, peek, &src, &dlen);
            if (n < 0) {
                free(buf);
                if (n == -EAGAIN)
                    goto block;
                return got ? SYSRET_VALUE(got) : SYSRET_ERRNO((int)-n);
            }
            if (iov_copy(t, iov, niov, got, buf, (size_t)n, true) < 0) {
                free(buf);
                return SYSRET_ERRNO(EFAULT);
            }
            free(buf);
            got += (size_t)n;
            if (sock_type(k) == SOCK_DGRAM) {
                if (from && put_sockaddr(t, k, from, fromlen, &src) < 0)
                    return SYSRET_ERRNO(EFAULT);
                if (dlen > got && msg_flags)
                    *msg_flags |= MSG_TRUNC;
                return SYSRET_VALUE((flags & MSG_TRUNC) ? dlen : got);
            }
            if (from) /* TCP: no address, length 0 */
                put_sockaddr(t, k, 0, fromlen, NULL);
            if (n == 0 || !waitall || got == total)
                return SYSRET_VALUE(got);
            continue;
        }
    block:
        if (total == 0)
            return SYSRET_VALUE(0);
        if (nonblocking(f, flags)) {
            if (!got)
                task_charge_spin(t);
            return got ? SYSRET_VALUE(got) : SYSRET_ERRNO(EAGAIN);
        }
        if (!wait_file(t, f, deadline))
            return got ? SYSRET_VALUE(got) : SYSRET_ERRNO(EINTR);
        if (deadline >= 0 && sim_now_ns() >= deadline && !sock_readable(k))
            return got ? SYSRET_VALUE(got) : SYSRET_ERRNO(EAGAIN);
    }
}

int put_sockaddr(const struct task *t, const struct sock *k, uint64_t addr, uint64_t addrlen_ptr,
                 const struct sockaddr_in *a)
{
    if (!addrlen_ptr)
        return addr ? -EFAULT : 0;
    int32_t len;
    if (mem_read(t, addrlen_ptr, &len, sizeof len) < 0)
        return -EFAULT;
    if (len < 0)
        return -EINVAL;
    union {
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } out;
    memset(&out, 0, sizeof out);
    int32_t real = 0;
    if (a && sock_family(k) == AF_INET6) {
        out.in6.sin6_family = AF_INET6;
        out.in6.sin6_port = a->sin_port;
        if (a->sin_addr.s_addr != htonl(INADDR_ANY)) {
            out.in6.sin6_addr.s6_addr[10] = out.in6.sin6_addr.s6_addr[11] = 0xff;
            memcpy(&out.in6.sin6_addr.s6_addr[12], &a->sin_addr, 4);
        }
        real = sizeof out.in6;
    } else if (a) {
        out.in = *a;
        out.in.sin_family = AF_INET;
        real = sizeof out.in;
    }
    if (a && addr && len > 0 && mem_write(t, addr, &out, (size_t)(len < real ? len : real)) < 0)
        return -EFAULT;
    return mem_write(t, addrlen_ptr, &real, sizeof real) < 0 ? -EFAULT : 0;
}

int get_sockaddr(const struct task *t, const struct sock *k, uint64_t addr, uint64_t len, struct sockaddr_in *a)
{
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } u;
    if ((int64_t)(int32_t)len < (int64_t)sizeof(sa_family_t) || len > 128)
        return -EINVAL;
    memset(&u, 0, sizeof u);
    memset(a, 0, sizeof *a);
    if (mem_read(t, addr, &u, len < sizeof u ? len : sizeof u) < 0)
        return -EFAULT;
    a->sin_family = u.sa.sa_family;
    if (u.sa.sa_family == AF_UNSPEC)
        return 0;
    if (u.sa.sa_family == AF_INET) {
        if (len < sizeof u.in)
            return -EINVAL;
        if (sock_family(k) == AF_INET6)
            return -EAFNOSUPPORT; /* Linux: an AF_INET6 socket wants sockaddr_in6 */
        *a = u.in;
        return 0;
    }
    if (u.sa.sa_family != AF_INET6 || sock_family(k) != AF_INET6)
        return -EAFNOSUPPORT;
    if (len < sizeof u.in6)
        return -EINVAL;
    const uint8_t *b = u.in6.sin6_addr.s6_addr;
    static const uint8_t any[16], loop[16] = {[15] = 1}, mapped[12] = {[10] = 0xff, [11] = 0xff};
    a->sin_family = AF_INET;
    a->sin_port = u.in6.sin6_port;
    if (!memcmp(b, any, 16))
        a->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (!memcmp(b, loop, 16))
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (!memcmp(b, mapped, 12))
        memcpy(&a->sin_addr, b + 12, 4);
    else
        return -ENETUNREACH; /* a real IPv6 address: no such network here */
    return 0;
}

int sockopt_get_timeval(const struct task *t, uint64_t val, uint64_t len, int64_t *ns)
{
    struct timeval tv;
    if ((int32_t)len < (int32_t)sizeof tv)
        return -EINVAL;
    if (mem_read(t, val, &tv, sizeof tv) < 0)
        return -EFAULT;
    if (tv.tv_usec < 0 || tv.tv_usec >= 1000000)
        return -EDOM;
    *ns = tv.tv_sec < 0 ? 0 : tv.tv_sec * 1000000000LL + tv.tv_usec * 1000;
    return 0;
}

struct sysret sockopt_put(const struct task *t, uint64_t val, uint64_t lenp, int32_t len, const void *out,
                          size_t size)
{
    int32_t n = (size_t)len < size ? len : (int32_t)size;
    if (mem_write(t, val, out, (size_t)n) < 0 || mem_write(t, lenp, &n, sizeof n) < 0)
        return SYSRET_ERRNO(EFAULT);
    return SYSRET_VALUE(0);
}
