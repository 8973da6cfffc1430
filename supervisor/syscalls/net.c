/* Socket syscalls on emulated AF_INET sockets (AF_UNIX ones: unix.c).
 * Other families (AF_NETLINK...) run natively in the target's own network
 * namespace. */
#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "../mem.h"
#include "io.h"

#define NSEC 1000000000LL

/* The emulated socket behind fd, or NULL: then the call runs natively
 * (a native fd >= EMU_FD_BASE, or a bad one: the kernel says EBADF). */
static struct file *sock_file(struct task *t, uint64_t fd)
{
    struct file *f = fd_get(t, (int)fd);
    return f && f->kind == FILE_SOCKET ? f : NULL;
}

/* AF_UNIX sockets of ours go to unix.c; other files of ours are not
 * sockets; the rest runs natively. */
#define SOCK_OR_NATIVE(f, t, arg, call)                                                                                \
    struct file *f = sock_file(t, arg);                                                                                \
    if (!f) {                                                                                                          \
        struct file *other_ = fd_get(t, (int)(arg));                                                                   \
        if (other_ && other_->kind == FILE_UNIX)                                                                       \
            return usock_##call(s, t, other_);                                                                         \
        if (other_)                                                                                                    \
            return SYSRET_ERRNO(ENOTSOCK);                                                                             \
        return SYSRET_CONTINUE;                                                                                        \
    }

struct sysret sys_socket(struct supervisor *s, struct task *t)
{
    int domain = (int)t->req.args[0], type = (int)t->req.args[1], proto = (int)t->req.args[2];
    int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (domain == AF_UNIX)
        return usock_socket(s, t);
    if (domain != AF_INET && domain != AF_INET6)
        return SYSRET_CONTINUE;
    if (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC | 0xf))
        return SYSRET_ERRNO(EINVAL);
    if (base != SOCK_STREAM && base != SOCK_DGRAM)
        return SYSRET_ERRNO(base == SOCK_RAW ? EPERM : ESOCKTNOSUPPORT);
    if (proto && !(base == SOCK_STREAM && proto == IPPROTO_TCP) && !(base == SOCK_DGRAM && proto == IPPROTO_UDP))
        return SYSRET_ERRNO(EPROTONOSUPPORT);
    int fd = fd_alloc(t, 0);
    if (fd < 0)
        return SYSRET_ERRNO(-fd);
    struct file *f = sock_create(s, t->proc->g->host, domain, base);
    sock_set_owner(f->sock, t->proc);
    if (type & SOCK_NONBLOCK)
        f->status_flags |= O_NONBLOCK;
    int r = fd_install(s, t, f, fd, type & SOCK_CLOEXEC);
    file_unref(f); /* the table holds it now (or nobody) */
    return r < 0 ? SYSRET_ERRNO(-r) : SYSRET_VALUE(r);
}

struct sysret sys_bind(struct supervisor *s, struct task *t)
{
    (void)s;
    SOCK_OR_NATIVE(f, t, t->req.args[0], bind);
    struct sockaddr_in a;
    int r = get_sockaddr(t, f->sock, t->req.args[1], t->req.args[2], &a);
    if (r < 0)
        return SYSRET_ERRNO(r == -ENETUNREACH ? EADDRNOTAVAIL : -r);
    if (a.sin_family != AF_INET)
        return SYSRET_ERRNO(EAFNOSUPPORT);
    r = sock_bind(f->sock, &a);
    return r < 0 ? SYSRET_ERRNO(-r) : SYSRET_VALUE(0);
}

struct sysret sys_listen(struct supervisor *s, struct task *t)
{
    (void)s;
    SOCK_OR_NATIVE(f, t, t->req.args[0], listen);
    int r = sock_listen(f->sock, (int)t->req.args[1]);
    return r < 0 ? SYSRET_ERRNO(-r) : SYSRET_VALUE(0);
}

struct sysret sys_accept(struct supervisor *s, struct task *t)
{
    SOCK_OR_NATIVE(f, t, t->req.args[0], accept);
    int flags = t->req.nr == __NR_accept4 ? (int)t->req.args[3] : 0;
    if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
        return SYSRET_ERRNO(EINVAL);
    struct sock *k = f->sock;
    if (sock_type(k) != SOCK_STREAM)
        return SYSRET_ERRNO(EOPNOTSUPP);
    if (sock_state(k) != SS_LISTENING)
        return SYSRET_ERRNO(EINVAL);
    int64_t deadline = deadline_after(sock_opts(k)->rcvtimeo_ns);
    struct file *c;
    while (!(c = sock_accept(k))) {
        if (f->status_flags & O_NONBLOCK) {
            task_charge_spin(t);
            return SYSRET_ERRNO(EAGAIN);
        }
        if (!wait_file(t, f, deadline))
            return SYSRET_ERRNO(EINTR);
        if (deadline >= 0 && sim_now_ns() >= deadline)
            return SYSRET_ERRNO(EAGAIN);
    }
    sock_set_owner(c->sock, t->proc);
    int fd = fd_alloc(t, 0);
    if (fd >= 0) {
        if (flags & SOCK_NONBLOCK)
            c->status_flags |= O_NONBLOCK;
        fd = fd_install(s, t, c, fd, flags & SOCK_CLOEXEC);
    }
    file_unref(c); /* the backlog's reference: the table holds it now */
    if (fd < 0)
        return SYSRET_ERRNO(-fd);
    struct sockaddr_in peer;
    if (t->req.args[1] && sock_peer(c->sock, &peer) && put_sockaddr(t, c->sock, t->req.args[1], t->req.args[2], &peer) < 0)
        return SYSRET_ERRNO(EFAULT); /* as Linux: the connection is lost to the caller */
    return SYSRET_VALUE(fd);
}

struct sysret sys_connect(struct supervisor *s, struct task *t)
{
    (void)s;
    SOCK_OR_NATIVE(f, t, t->req.args[0], connect);
    struct sockaddr_in a;
    struct sock *k = f->sock;
    int r = get_sockaddr(t, k, t->req.args[1], t->req.args[2], &a);
    if (r < 0)
        return SYSRET_ERRNO(-r);
    r = sock_connect(k, &a);
    if (r != -EINPROGRESS)
        return r < 0 ? SYSRET_ERRNO(-r) : SYSRET_VALUE(0);
    if (f->status_flags & O_NONBLOCK)
        return SYSRET_ERRNO(EINPROGRESS);
    int64_t deadline = deadline_after(sock_opts(k)->sndtimeo_ns);
    while (sock_state(k) == SS_CONNECTING) {
        if (!wait_file(t, f, deadline))
            return SYSRET_ERRNO(EINTR);
        if (deadline >= 0 && sim_now_ns() >= deadline && sock_state(k) == SS_CONNECTING)
            return SYSRET_ERRNO(EINPROGRESS); /* SO_SNDTIMEO expired */
    }
    int e = sock_take_error(k);
    return e ? SYSRET_ERRNO(e) : SYSRET_VALUE(0);
}

struct sysret sys_shutdown(struct supervisor *s, struct task *t)
{
    (void)s;
    SOCK_OR_NATIVE(f, t, t->req.args[0], shutdown);
    int r = sock_shutdown(f->sock, (int)t->req.args[1]);
    return r < 0 ? SYSRET_ERRNO(-r) : SYSRET_VALUE(0);
}

struct sysret sys_getsockname(struct supervisor *s, struct task *t)
{
    (void)s;
    SOCK_OR_NATIVE(f, t, t->req.args[0], getsockname);
    struct sockaddr_in a;
    sock_local(f->sock, &a);
    int r = put_sockaddr(t, f->sock, t->req.args[1], t->req.args[2] ? t->req.args[2] : 1, &a);
    return r < 0 ? SYSRET_ERRNO(-r) : SYSRET_VALUE(0);
}

struct sysret sys_getpeername(struct supervisor *s, struct task *t)
{
    (void)s;
    SOCK_OR_NATIVE(f, t, t->req.args[0], getpeername);
    struct sockaddr_in a;
    if (!sock_peer(f->sock, &a))
        return SYSRET_ERRNO(ENOTCONN);
    int r = put_sockaddr(t, f->sock, t->req.args[1], t->req.args[2] ? t->req.args[2] : 1, &a);
    return r < 0 ? SYSRET_ERRNO(-r) : SYSRET_VALUE(0);
}

/* --- options --- */

static int get_int_opt(const struct task *t, uint64_t val, uint64_t len, int *out)
{
    if ((int32_t)len < (int32_t)sizeof(int))
        return -EINVAL;
    return mem_read(t, val, out, sizeof *out);
}

struct sysret sys_setsockopt(struct supervisor *s, struct task *t)
{
    SOCK_OR_NATIVE(f, t, t->req.args[0], setsockopt);
    int level = (int)t->req.args[1], name = (int)t->req.args[2];
    uint64_t val = t->req.args[3], len = t->req.args[4];
    struct sock_opts *o = sock_opts(f->sock);
    int v = 0, r = 0;
    if (level == SOL_SOCKET && (name == SO_RCVTIMEO_OLD || name == SO_SNDTIMEO_OLD)) {
        int64_t ns;
        r = sockopt_get_timeval(t, val, len, &ns);
        if (!r)
            *(name == SO_RCVTIMEO_OLD ? &o->rcvtimeo_ns : &o->sndtimeo_ns) = ns;
        return r < 0 ? SYSRET_ERRNO(-r) : SYSRET_VALUE(0);
    }
    if (level == SOL_SOCKET && name == SO_LINGER) {
        struct linger l;
        if ((int32_t)len < (int32_t)sizeof l)
            return SYSRET_ERRNO(EINVAL);
        if (mem_read(t, val, &l, sizeof l) < 0)
            return SYSRET_ERRNO(EFAULT);
        o->linger_on = l.l_onoff != 0;
        o->linger_s = l.l_linger;
        return SYSRET_VALUE(0);
    }
    if (level == SOL_SOCKET || level == IPPROTO_TCP || (level == IPPROTO_IPV6 && name == IPV6_V6ONLY)) {
        r = get_int_opt(t, val, len, &v);
        if (r < 0)
            return SYSRET_ERRNO(r == -EINVAL ? EINVAL : EFAULT);
    }
    if (level == SOL_SOCKET) {
        switch (name) {
        case SO_REUSEADDR: o->reuseaddr = v; break;
        case SO_REUSEPORT: o->reuseport = v; break;
        case SO_KEEPALIVE: o->keepalive = v; break;
        case SO_BROADCAST: o->broadcast = v; break;
        /* Linux doubles the value (bookkeeping overhead), with a floor. */
        case SO_SNDBUF: case SO_SNDBUFFORCE: o->sndbuf = v < 2304 ? 4608 : 2 * v; o->sndbuf_set = true; break;
        case SO_RCVBUF: case SO_RCVBUFFORCE: o->rcvbuf = v < 1152 ? 2304 : 2 * v; break;
        default: break; /* accepted and ignored: see docs/network.md */
        }
    } else if (level == IPPROTO_TCP && name == TCP_NODELAY) {
        o->nodelay = v;
    } else if (level == IPPROTO_IPV6 && name == IPV6_V6ONLY) {
        if (sock_family(f->sock) != AF_INET6)
            return SYSRET_ERRNO(ENOPROTOOPT);
        o->v6only = v;
    }
    if (s->opt->verbose)
        log_msg("task %d: setsockopt(level %d, name %d) on an emulated socket", t->tid, level, name);
    return SYSRET_VALUE(0);
}

struct sysret sys_getsockopt(struct supervisor *s, struct task *t)
{
    (void)s;
    SOCK_OR_NATIVE(f, t, t->req.args[0], getsockopt);
    int level = (int)t->req.args[1], name = (int)t->req.args[2];
    uint64_t val = t->req.args[3], lenp = t->req.args[4];
    struct sock *k = f->sock;
    struct sock_opts *o = sock_opts(k);
    int32_t len;
    if (mem_read(t, lenp, &len, sizeof len) < 0)
        return SYSRET_ERRNO(EFAULT);
    if (len < 0)
        return SYSRET_ERRNO(EINVAL);
    union {
        int i;
        struct linger l;
        struct timeval tv;
        struct tcp_info ti;
    } out;
    memset(&out, 0, sizeof out);
    size_t size = sizeof(int);
    if (level == SOL_SOCKET) {
        switch (name) {
        case SO_TYPE: out.i = sock_type(k); break;
        case SO_DOMAIN: out.i = sock_family(k); break;
        case SO_PROTOCOL: out.i = sock_type(k) == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP; break;
        case SO_ERROR: out.i = sock_take_error(k); break;
        case SO_ACCEPTCONN: out.i = sock_state(k) == SS_LISTENING; break;
        case SO_REUSEADDR: out.i = o->reuseaddr; break;
        case SO_REUSEPORT: out.i = o->reuseport; break;
        case SO_KEEPALIVE: out.i = o->keepalive; break;
        case SO_BROADCAST: out.i = o->broadcast; break;
        case SO_SNDBUF: out.i = o->sndbuf; break;
        case SO_RCVBUF: out.i = o->rcvbuf; break;
        case SO_LINGER:
            out.l = (struct linger){o->linger_on, o->linger_s};
            size = sizeof out.l;
            break;
        case SO_RCVTIMEO_OLD:
        case SO_SNDTIMEO_OLD: {
            int64_t ns = name == SO_RCVTIMEO_OLD ? o->rcvtimeo_ns : o->sndtimeo_ns;
            out.tv = (struct timeval){ns / NSEC, (ns % NSEC) / 1000};
            size = sizeof out.tv;
            break;
        }
        default:
            return SYSRET_ERRNO(ENOPROTOOPT);
        }
    } else if (level == IPPROTO_TCP && sock_type(k) == SOCK_STREAM) {
        switch (name) {
        case TCP_NODELAY: out.i = o->nodelay; break;
        case TCP_MAXSEG: out.i = 1448; break;
        case TCP_CONGESTION:
            memcpy(&out, "cubic", 6);
            size = 16; /* TCP_CA_NAME_MAX */
            break;
        case TCP_INFO:
            /* What a program may print: state, MSS and the route's RTT. */
            out.ti.tcpi_state = sock_state(k) == SS_CONNECTED ? 1 /* ESTABLISHED */ : 7 /* CLOSE */;
            out.ti.tcpi_snd_mss = out.ti.tcpi_rcv_mss = 1448;
            out.ti.tcpi_rtt = sock_rtt_us(k);
            out.ti.tcpi_snd_cwnd = (uint32_t)(sock_window(k) / 1448); /* in segments */
            size = sizeof out.ti;
            break;
        default:
            return SYSRET_ERRNO(ENOPROTOOPT);
        }
    } else if (level == IPPROTO_IPV6 && name == IPV6_V6ONLY && sock_family(k) == AF_INET6) {
        out.i = o->v6only;
    } else {
        return SYSRET_ERRNO(ENOPROTOOPT);
    }
    return sockopt_put(t, val, lenp, len, &out, size);
}

/* --- data --- */

struct sysret sys_sendto(struct supervisor *s, struct task *t)
{
    SOCK_OR_NATIVE(f, t, t->req.args[0], sendto);
    struct iovec iov = IOV1(t->req.args[1], t->req.args[2]);
    int flags = (int)t->req.args[3];
    struct sockaddr_in dest, *dp = NULL;
    if (t->req.args[4]) {
        int r = get_sockaddr(t, f->sock, t->req.args[4], t->req.args[5], &dest);
        if (r < 0)
            return SYSRET_ERRNO(-r);
        if (sock_type(f->sock) == SOCK_DGRAM)
            dp = &dest;
    }
    return do_send(s, t, f, &iov, 1, flags, dp);
}

struct sysret sys_recvfrom(struct supervisor *s, struct task *t)
{
    SOCK_OR_NATIVE(f, t, t->req.args[0], recvfrom);
    struct iovec iov = IOV1(t->req.args[1], t->req.args[2]);
    return do_recv(s, t, f, &iov, 1, (int)t->req.args[3], t->req.args[4], t->req.args[5], NULL);
}

struct sysret sys_sendmsg(struct supervisor *s, struct task *t)
{
    SOCK_OR_NATIVE(f, t, t->req.args[0], sendmsg);
    struct msghdr m;
    if (mem_read(t, t->req.args[1], &m, sizeof m) < 0)
        return SYSRET_ERRNO(EFAULT);
    struct iovec iov[IO_IOV_MAX];
    int r = iov_read(t, (uint64_t)(uintptr_t)m.msg_iov, m.msg_iovlen, iov);
    if (r < 0)
        return SYSRET_ERRNO(-r);
    struct sockaddr_in dest, *dp = NULL;
    if (m.msg_name && sock_type(f->sock) == SOCK_DGRAM) {
        r = get_sockaddr(t, f->sock, (uint64_t)(uintptr_t)m.msg_name, m.msg_namelen, &dest);
        if (r < 0)
            return SYSRET_ERRNO(-r);
        dp = &dest;
    }
    /* Ancillary data (msg_control) is ignored. */
    return do_send(s, t, f, iov, (int)m.msg_iovlen, (int)t->req.args[2], dp);
}

struct sysret sys_recvmsg(struct supervisor *s, struct task *t)
{
    SOCK_OR_NATIVE(f, t, t->req.args[0], recvmsg);
    uint64_t maddr = t->req.args[1];
    struct msghdr m;
    if (mem_read(t, maddr, &m, sizeof m) < 0)
        return SYSRET_ERRNO(EFAULT);
    struct iovec iov[IO_IOV_MAX];
    int r = iov_read(t, (uint64_t)(uintptr_t)m.msg_iov, m.msg_iovlen, iov);
    if (r < 0)
        return SYSRET_ERRNO(-r);
    int msg_flags = 0;
    uint64_t namelen_addr = maddr + offsetof(struct msghdr, msg_namelen);
    struct sysret ret = do_recv(s, t, f, iov, (int)m.msg_iovlen, (int)t->req.args[2],
                                (uint64_t)(uintptr_t)m.msg_name, m.msg_name ? namelen_addr : 0, &msg_flags);
    if (ret.kind == RET_VALUE) {
        size_t zero = 0;
        if (mem_write(t, maddr + offsetof(struct msghdr, msg_controllen), &zero, sizeof zero) < 0 ||
            mem_write(t, maddr + offsetof(struct msghdr, msg_flags), &msg_flags, sizeof msg_flags) < 0)
            return SYSRET_ERRNO(EFAULT);
    }
    return ret;
}
