/* AF_UNIX sockets and socketpair, between emulated tasks of one host.
 *
 * Connected stream and seqpacket sockets are two channels (supervisor/
 * chan.c), one per direction; a datagram socket owns the message queue
 * others send to.  Names live per host: abstract names in our registry
 * only, path names also in the real filesystem (bind makes the socket
 * file, as Linux does, so unlink/stat/EADDRINUSE behave), matched by
 * inode.  Data moves at once: tasks of one host share no simulated link.
 * Descriptors passed with SCM_RIGHTS travel with the data: files of ours
 * by reference, native ones as our copy (pidfd_getfd) installed in the
 * receiver (unotify's ADDFD; the ptrace backend cannot).  SCM_CREDENTIALS
 * is accepted and not carried. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../chan.h"
#include "../mem.h"
#include "io.h"

#define NSEC 1000000000LL
#define UNIX_BUF 212992 /* net.core.wmem_default */
#define NAME_OFF offsetof(struct sockaddr_un, sun_path)

enum ustate { US_UNCONNECTED, US_LISTENING, US_CONNECTED };

struct usock {
    int type;                  /* SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET */
    enum ustate state;
    struct vhost *host;
    struct file *file;         /* its file (not a reference) */
    struct chan *in, *out;     /* connected: both; datagram: in, its queue */
    bool shut_rd, shut_wr;
    /* its name: namelen 0 = unbound; path names are told apart by inode */
    struct sockaddr_un name;
    socklen_t namelen;
    bool registered;           /* bound: in the host's list (not accepted ones) */
    dev_t dev;
    ino_t ino;
    struct usock *next_bound;  /* the host's named sockets */
    struct sockaddr_un peer;   /* connected: the peer's name */
    socklen_t peerlen;
    struct usock *pair;        /* datagram socketpair: the other one */
    bool dgram_connected;      /* datagram connect(): sends go to peer */
    struct ucred peercred;
    const struct group *peer_group; /* pids are seen from a group's namespace */
    struct file **queue;       /* listening: connections not accepted yet */
    size_t nqueue, qcap;
    int backlog;
    int sndbuf, rcvbuf;
    int64_t rcvtimeo_ns, sndtimeo_ns;
    int passcred;
};

static struct usock *us_of(const struct file *f) { return f->us; }
static bool nonblocking(const struct file *f, int flags) { return (f->status_flags & O_NONBLOCK) || (flags & MSG_DONTWAIT); }

static struct file *usock_new(struct task *t, int type)
{
    struct usock *u = calloc(1, sizeof *u);
    if (!u)
        abort();
    u->type = type;
    u->host = t->proc->g->host;
    u->sndbuf = u->rcvbuf = UNIX_BUF;
    struct file *f = file_new(FILE_UNIX);
    f->us = u;
    u->file = f;
    if (type == SOCK_DGRAM) {
        u->in = chan_new(UNIX_BUF, true);
        chan_attach(u->in, f, NULL);
    }
    return f;
}

int usock_type(const struct file *f) { return us_of(f)->type; }

static void unbind(struct usock *u)
{
    for (struct usock **p = &u->host->unix_bound; *p; p = &(*p)->next_bound) {
        if (*p == u) {
            *p = u->next_bound;
            return;
        }
    }
}

void usock_release(struct file *f)
{
    struct usock *u = us_of(f);
    if (u->registered)
        unbind(u);
    if (u->pair)
        u->pair->pair = NULL;
    struct chan *in = u->in, *out = u->out;
    struct file **queue = u->queue;
    size_t nqueue = u->nqueue;
    free(u);
    f->us = NULL;
    struct file *wake_in = in ? chan_unlink(in, f) : NULL, *wake_out = out ? chan_unlink(out, f) : NULL;
    for (size_t i = 0; i < nqueue; i++)
        file_unref(queue[i]); /* never accepted: their clients see the end */
    free(queue);
    chan_wake_unref(wake_in);
    chan_wake_unref(wake_out);
}

/* --- names --- */

static bool is_abstract(const struct sockaddr_un *a, socklen_t len) { return len > NAME_OFF && a->sun_path[0] == 0; }

/* Read and check a name the way unix_validate_addr does. */
static int get_name(const struct task *t, uint64_t addr, uint64_t len, struct sockaddr_un *a, socklen_t *alen)
{
    if ((int64_t)(int32_t)len < (int64_t)NAME_OFF || len > sizeof *a)
        return -EINVAL;
    memset(a, 0, sizeof *a);
    if (mem_read(t, addr, a, len) < 0)
        return -EFAULT;
    if (a->sun_family != AF_UNIX)
        return -EINVAL;
    *alen = (socklen_t)len;
    if (len > NAME_OFF && !is_abstract(a, *alen)) {
        /* A path ends at its NUL: keep the length Linux reports back. */
        size_t n = strnlen(a->sun_path, sizeof a->sun_path);
        *alen = (socklen_t)(NAME_OFF + n + (n < sizeof a->sun_path ? 1 : 0));
    }
    return 0;
}

/* The directory a relative path starts from: the task's cwd. */
static int cwd_fd(const struct task *t)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/cwd", t->tid);
    return open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

static mode_t task_umask(const struct task *t)
{
    char p[64], line[128];
    snprintf(p, sizeof p, "/proc/%d/status", t->tid);
    FILE *fp = fopen(p, "re");
    unsigned m = 022;
    if (fp) {
        while (fgets(line, sizeof line, fp))
            if (sscanf(line, "Umask: %o", &m) == 1)
                break;
        fclose(fp);
    }
    return (mode_t)m;
}

/* Stat a path name as the task would see it. */
static int stat_path(const struct task *t, const char *path, struct stat *st)
{
    int dir = path[0] == '/' ? AT_FDCWD : cwd_fd(t);
    if (path[0] != '/' && dir < 0)
        return -errno;
    int r = fstatat(dir, path, st, 0);
    r = r < 0 ? -errno : 0;
    if (dir >= 0)
        close(dir);
    return r;
}

/* The socket of this type named a on host h.  Abstract names of another
 * type are not found (ECONNREFUSED); a path of another type is EPROTOTYPE,
 * as Linux does. */
static struct usock *lookup(const struct vhost *h, const struct task *t, const struct sockaddr_un *a, socklen_t len,
                            int type, int *err)
{
    if (is_abstract(a, len)) {
        for (struct usock *u = h->unix_bound; u; u = u->next_bound)
            if (u->type == type && u->namelen == len && is_abstract(&u->name, u->namelen) &&
                !memcmp(u->name.sun_path, a->sun_path, len - NAME_OFF))
                return u;
        *err = ECONNREFUSED;
        return NULL;
    }
    struct stat st;
    int r = stat_path(t, a->sun_path, &st);
    if (r < 0) {
        *err = -r;
        return NULL;
    }
    for (struct usock *u = h->unix_bound; u; u = u->next_bound) {
        if (!is_abstract(&u->name, u->namelen) && u->dev == st.st_dev && u->ino == st.st_ino) {
            if (u->type == type)
                return u;
            *err = EPROTOTYPE;
            return NULL;
        }
    }
    *err = ECONNREFUSED; /* a socket file nobody on this host listens on */
    return NULL;
}

static int do_bind(struct task *t, struct usock *u, struct sockaddr_un *a, socklen_t len)
{
    if (u->namelen)
        return -EINVAL;
    if (len == NAME_OFF) {
        /* autobind: an abstract name of 5 hex digits */
        static unsigned next;
        int err;
        do {
            a->sun_path[0] = 0;
            snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "%05x", next++ & 0xfffff);
            len = NAME_OFF + 6;
        } while (lookup(u->host, t, a, len, u->type, &err));
    } else if (is_abstract(a, len)) {
        int err;
        for (int type = SOCK_STREAM; type <= SOCK_SEQPACKET; type++)
            if (lookup(u->host, t, a, len, type, &err))
                return -EADDRINUSE;
    } else {
        /* The socket file, made where the task would make it. */
        int dir = a->sun_path[0] == '/' ? AT_FDCWD : cwd_fd(t);
        if (a->sun_path[0] != '/' && dir < 0)
            return -errno;
        int r = mknodat(dir, a->sun_path, S_IFSOCK | (0777 & ~task_umask(t)), 0);
        struct stat st;
        if (r == 0)
            r = fstatat(dir, a->sun_path, &st, 0);
        r = r < 0 ? (errno == EEXIST ? -EADDRINUSE : -errno) : 0;
        if (dir >= 0)
            close(dir);
        if (r < 0)
            return r;
        u->dev = st.st_dev;
        u->ino = st.st_ino;
    }
    u->name = *a;
    u->namelen = len;
    u->registered = true;
    u->next_bound = u->host->unix_bound;
    u->host->unix_bound = u;
    return 0;
}

static int put_name(const struct task *t, uint64_t addr, uint64_t lenp, const struct sockaddr_un *a, socklen_t alen)
{
    if (!lenp)
        return 0;
    int32_t len;
    if (mem_read(t, lenp, &len, sizeof len) < 0)
        return -EFAULT;
    if (len < 0)
        return -EINVAL;
    struct sockaddr_un unnamed = {.sun_family = AF_UNIX};
    if (!alen) {
        a = &unnamed;
        alen = NAME_OFF;
    }
    if (addr && len > 0 && mem_write(t, addr, a, (size_t)len < alen ? (size_t)len : alen) < 0)
        return -EFAULT;
    int32_t real = (int32_t)alen;
    return mem_write(t, lenp, &real, sizeof real) < 0 ? -EFAULT : 0;
}

/* The sender of received data: an unnamed one leaves the length at 0
 * (getsockname of an unnamed socket says sizeof(sa_family_t)). */
static int put_from(const struct task *t, uint64_t addr, uint64_t lenp, const struct sockaddr_un *a, socklen_t alen)
{
    if (alen)
        return put_name(t, addr, lenp, a, alen);
    int32_t zero = 0;
    return lenp && mem_write(t, lenp, &zero, sizeof zero) < 0 ? -EFAULT : 0;
}

static struct ucred cred_of(const struct task *t)
{
    return (struct ucred){.pid = t->proc->ns_pid, .uid = getuid(), .gid = getgid()};
}

/* --- readiness --- */

static bool in_eof(const struct usock *u)
{
    return u->shut_rd || !u->in || !u->in->writer || u->in->wr_shut;
}

static bool out_closed(const struct usock *u)
{
    return u->shut_wr || !u->out || !u->out->reader || u->out->rd_shut;
}

static bool room_for_writer(const struct chan *c) { return chan_room(c) >= (c->cap >= 2 * PIPE_BUF ? PIPE_BUF : 1); }

static struct usock *dgram_dest(struct task *t, struct usock *u, int *err);

unsigned usock_poll(const struct file *f)
{
    const struct usock *u = us_of(f);
    if (u->state == US_LISTENING)
        return u->nqueue ? POLLIN | POLLRDNORM : 0;
    if (u->type == SOCK_DGRAM) {
        unsigned m = u->in->len ? POLLIN | POLLRDNORM : 0;
        const struct usock *d = u->pair ? u->pair : NULL;
        if (!d || room_for_writer(d->in))
            m |= POLLOUT | POLLWRNORM;
        return m;
    }
    if (u->state != US_CONNECTED)
        return POLLOUT | POLLWRNORM | POLLHUP;
    unsigned m = 0;
    if (u->in->len)
        m |= POLLIN | POLLRDNORM;
    if (in_eof(u))
        m |= POLLIN | POLLRDNORM | POLLRDHUP;
    if (in_eof(u) && out_closed(u))
        m |= POLLHUP;
    if (!out_closed(u) && room_for_writer(u->out))
        m |= POLLOUT | POLLWRNORM;
    return m;
}

size_t usock_unread(const struct file *f)
{
    const struct usock *u = us_of(f);
    if (!u->in)
        return 0;
    if (u->in->msgs && u->type == SOCK_DGRAM)
        return chan_first_msg(u->in) ? chan_first_msg(u->in)->len : 0;
    return u->in->len;
}

/* --- creation --- */

static int check_type(int type, int proto, int *base)
{
    *base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC | 0xf))
        return -EINVAL;
    if (*base == SOCK_RAW)
        *base = SOCK_DGRAM; /* Linux takes it for SOCK_DGRAM */
    if (*base != SOCK_STREAM && *base != SOCK_DGRAM && *base != SOCK_SEQPACKET)
        return -ESOCKTNOSUPPORT;
    if (proto != 0 && proto != PF_UNIX)
        return -EPROTONOSUPPORT;
    return 0;
}

struct sysret usock_socket(struct supervisor *s, struct task *t)
{
    int type = (int)t->req.args[1], base;
    int r = check_type(type, (int)t->req.args[2], &base);
    if (r < 0)
        return SYSRET_ERRNO(-r);
    struct file *f = usock_new(t, base);
    f->status_flags = type & SOCK_NONBLOCK ? O_NONBLOCK : 0;
    return SYSRET_OR_ERRNO(fd_install_new(s, t, f, type & SOCK_CLOEXEC));
}

/* Join two sockets: a channel each way (stream, seqpacket). */
static void connect_pair(struct usock *a, struct usock *b)
{
    bool msgs = a->type != SOCK_STREAM;
    a->out = b->in = chan_new(UNIX_BUF, msgs);
    b->out = a->in = chan_new(UNIX_BUF, msgs);
    chan_attach(a->out, b->file, a->file);
    chan_attach(b->out, a->file, b->file);
    a->state = b->state = US_CONNECTED;
}

struct sysret sys_socketpair(struct supervisor *s, struct task *t)
{
    int domain = (int)t->req.args[0], type = (int)t->req.args[1], base;
    uint64_t sv = t->req.args[3];
    if (domain != AF_UNIX)
        return SYSRET_CONTINUE; /* the kernel says EOPNOTSUPP or EAFNOSUPPORT */
    int r = check_type(type, (int)t->req.args[2], &base);
    if (r < 0)
        return SYSRET_ERRNO(-r);
    int fds[2] = {-1, -1};
    if (mem_write(t, sv, fds, sizeof fds) < 0)
        return SYSRET_ERRNO(EFAULT);
    struct file *f[2] = {usock_new(t, base), usock_new(t, base)};
    struct usock *a = us_of(f[0]), *b = us_of(f[1]);
    if (base == SOCK_DGRAM) {
        a->pair = b;
        b->pair = a;
    } else {
        connect_pair(a, b);
    }
    a->peercred = b->peercred = cred_of(t);
    a->peer_group = b->peer_group = t->proc->g;
    for (int i = 0; i < 2; i++)
        f[i]->status_flags = type & SOCK_NONBLOCK ? O_NONBLOCK : 0;
    int r2 = fd_install_pair(s, t, f, type & SOCK_CLOEXEC, fds);
    if (r2 < 0)
        return SYSRET_ERRNO(-r2);
    return mem_write(t, sv, fds, sizeof fds) < 0 ? SYSRET_ERRNO(EFAULT) : SYSRET_VALUE(0);
}

/* --- connection set-up --- */

struct sysret usock_bind(struct supervisor *s, struct task *t, struct file *f)
{
    (void)s;
    struct sockaddr_un a;
    socklen_t len;
    int r = get_name(t, t->req.args[1], t->req.args[2], &a, &len);
    if (r == 0)
        r = do_bind(t, us_of(f), &a, len);
    return SYSRET_OR_ERRNO(r);
}

struct sysret usock_listen(struct supervisor *s, struct task *t, struct file *f)
{
    (void)s;
    struct usock *u = us_of(f);
    if (u->type == SOCK_DGRAM)
        return SYSRET_ERRNO(EOPNOTSUPP);
    if (u->state == US_CONNECTED || !u->namelen)
        return SYSRET_ERRNO(EINVAL);
    int backlog = (int)t->req.args[1];
    u->backlog = backlog < 0 || backlog > 4096 ? 4096 : backlog;
    u->state = US_LISTENING;
    u->peercred = cred_of(t); /* what connectors see as their peer */
    u->peer_group = t->proc->g;
    file_notify(f); /* connectors waiting for room in the queue */
    return SYSRET_VALUE(0);
}

struct sysret usock_connect(struct supervisor *s, struct task *t, struct file *f)
{
    (void)s;
    struct usock *u = us_of(f);
    struct sockaddr_un a;
    socklen_t len;
    uint16_t family;
    if (t->req.args[2] >= sizeof family && mem_read(t, t->req.args[1], &family, sizeof family) == 0 &&
        family == AF_UNSPEC && u->type == SOCK_DGRAM) {
        u->dgram_connected = false; /* dissolve the association */
        return SYSRET_VALUE(0);
    }
    int r = get_name(t, t->req.args[1], t->req.args[2], &a, &len);
    if (r < 0)
        return SYSRET_ERRNO(-r);
    if (len == NAME_OFF)
        return SYSRET_ERRNO(EINVAL);
    int err;
    if (u->type == SOCK_DGRAM) {
        struct usock *d = lookup(u->host, t, &a, len, SOCK_DGRAM, &err);
        if (!d)
            return SYSRET_ERRNO(err);
        u->peer = d->name;
        u->peerlen = d->namelen;
        u->dgram_connected = true;
        return SYSRET_VALUE(0);
    }
    if (u->state == US_CONNECTED)
        return SYSRET_ERRNO(EISCONN);
    if (u->state == US_LISTENING)
        return SYSRET_ERRNO(EINVAL);
    int64_t deadline = deadline_after(u->sndtimeo_ns);
    for (;;) {
        struct usock *l = lookup(u->host, t, &a, len, u->type, &err);
        if (!l)
            return SYSRET_ERRNO(err);
        if (l->state != US_LISTENING)
            return SYSRET_ERRNO(ECONNREFUSED);
        if (l->nqueue <= (size_t)l->backlog) {
            struct file *sf = usock_new(t, u->type);
            struct usock *sv = us_of(sf);
            sv->name = l->name; /* getsockname of an accepted socket: the listener's name */
            sv->namelen = l->namelen;
            sv->peer = u->name;
            sv->peerlen = u->namelen;
            sv->peercred = cred_of(t);
            sv->peer_group = t->proc->g;
            u->peer = l->name;
            u->peerlen = l->namelen;
            u->peercred = l->peercred; /* the listener's, from listen() */
            u->peer_group = l->peer_group;
            connect_pair(u, sv);
            if (l->nqueue == l->qcap) {
                l->qcap = l->qcap ? 2 * l->qcap : 8;
                l->queue = realloc(l->queue, l->qcap * sizeof *l->queue);
                if (!l->queue)
                    abort();
            }
            l->queue[l->nqueue++] = sf; /* the queue holds the new file */
            file_notify(l->file);
            return SYSRET_VALUE(0);
        }
        if (f->status_flags & O_NONBLOCK)
            return SYSRET_ERRNO(EAGAIN);
        if (!wait_file(t, l->file, deadline))
            return SYSRET_ERRNO(EINTR);
        if (deadline >= 0 && sim_now_ns() >= deadline)
            return SYSRET_ERRNO(ETIMEDOUT);
    }
}

struct sysret usock_accept(struct supervisor *s, struct task *t, struct file *f)
{
    struct usock *u = us_of(f);
    int flags = t->req.nr == __NR_accept4 ? (int)t->req.args[3] : 0;
    if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
        return SYSRET_ERRNO(EINVAL);
    if (u->type == SOCK_DGRAM)
        return SYSRET_ERRNO(EOPNOTSUPP);
    if (u->state != US_LISTENING)
        return SYSRET_ERRNO(EINVAL);
    int64_t deadline = deadline_after(u->rcvtimeo_ns);
    while (!u->nqueue) {
        if (f->status_flags & O_NONBLOCK) {
            task_charge_spin(t);
            return SYSRET_ERRNO(EAGAIN);
        }
        if (!wait_file(t, f, deadline))
            return SYSRET_ERRNO(EINTR);
        if (deadline >= 0 && sim_now_ns() >= deadline && !u->nqueue)
            return SYSRET_ERRNO(EAGAIN);
        if (u->state != US_LISTENING)
            return SYSRET_ERRNO(EINVAL);
    }
    struct file *c = u->queue[0];
    memmove(u->queue, u->queue + 1, --u->nqueue * sizeof *u->queue);
    file_notify(f); /* room in the queue for waiting connectors */
    struct usock *cu = us_of(c);
    if (flags & SOCK_NONBLOCK)
        c->status_flags |= O_NONBLOCK;
    int fd = fd_install_new(s, t, c, flags & SOCK_CLOEXEC);
    if (fd < 0)
        return SYSRET_ERRNO(-fd);
    if (t->req.args[1] && put_name(t, t->req.args[1], t->req.args[2], &cu->peer, cu->peerlen) < 0)
        return SYSRET_ERRNO(EFAULT);
    return SYSRET_VALUE(fd);
}

struct sysret usock_shutdown(struct supervisor *s, struct task *t, struct file *f)
{
    (void)s;
    struct usock *u = us_of(f);
    int how = (int)t->req.args[1];
    if (how < SHUT_RD || how > SHUT_RDWR)
        return SYSRET_ERRNO(EINVAL);
    if (u->type != SOCK_DGRAM && u->state != US_CONNECTED)
        return SYSRET_ERRNO(ENOTCONN);
    if (how != SHUT_WR) {
        u->shut_rd = true;
        if (u->in && u->type != SOCK_DGRAM)
            u->in->rd_shut = true;
    }
    if (how != SHUT_RD) {
        u->shut_wr = true;
        if (u->out)
            u->out->wr_shut = true;
    }
    file_notify(f);
    if (u->in && u->type != SOCK_DGRAM)
        chan_notify(u->in);
    if (u->out)
        chan_notify(u->out);
    return SYSRET_VALUE(0);
}

struct sysret usock_getsockname(struct supervisor *s, struct task *t, struct file *f)
{
    (void)s;
    struct usock *u = us_of(f);
    return SYSRET_OR_ERRNO(put_name(t, t->req.args[1], t->req.args[2], &u->name, u->namelen));
}

struct sysret usock_getpeername(struct supervisor *s, struct task *t, struct file *f)
{
    (void)s;
    struct usock *u = us_of(f);
    if (!(u->state == US_CONNECTED || u->dgram_connected || u->pair))
        return SYSRET_ERRNO(ENOTCONN);
    return SYSRET_OR_ERRNO(put_name(t, t->req.args[1], t->req.args[2], &u->peer, u->peerlen));
}

struct sysret usock_setsockopt(struct supervisor *s, struct task *t, struct file *f)
{
    (void)s;
    struct usock *u = us_of(f);
    int level = (int)t->req.args[1], name = (int)t->req.args[2];
    uint64_t val = t->req.args[3], len = t->req.args[4];
    if (level != SOL_SOCKET)
        return SYSRET_ERRNO(EOPNOTSUPP);
    if (name == SO_RCVTIMEO_OLD || name == SO_SNDTIMEO_OLD) {
        int64_t ns;
        int r = sockopt_get_timeval(t, val, len, &ns);
        if (!r)
            *(name == SO_RCVTIMEO_OLD ? &u->rcvtimeo_ns : &u->sndtimeo_ns) = ns;
        return SYSRET_OR_ERRNO(r);
    }
    int v = 0;
    if ((int32_t)len < (int32_t)sizeof v)
        return SYSRET_ERRNO(EINVAL);
    if (mem_read(t, val, &v, sizeof v) < 0)
        return SYSRET_ERRNO(EFAULT);
    switch (name) {
    case SO_SNDBUF: case SO_SNDBUFFORCE: u->sndbuf = v < 2304 ? 4608 : 2 * v; break;
    case SO_RCVBUF: case SO_RCVBUFFORCE: u->rcvbuf = v < 1152 ? 2304 : 2 * v; break;
    case SO_PASSCRED: u->passcred = v != 0; break;
    default: break; /* accepted and ignored, as for AF_INET (docs/network.md) */
    }
    return SYSRET_VALUE(0);
}

struct sysret usock_getsockopt(struct supervisor *s, struct task *t, struct file *f)
{
    (void)s;
    struct usock *u = us_of(f);
    int level = (int)t->req.args[1], name = (int)t->req.args[2];
    uint64_t val = t->req.args[3], lenp = t->req.args[4];
    int32_t len;
    if (mem_read(t, lenp, &len, sizeof len) < 0)
        return SYSRET_ERRNO(EFAULT);
    if (len < 0)
        return SYSRET_ERRNO(EINVAL);
    union {
        int i;
        struct ucred cred;
        struct timeval tv;
    } out;
    memset(&out, 0, sizeof out);
    size_t size = sizeof(int);
    if (level != SOL_SOCKET)
        return SYSRET_ERRNO(EOPNOTSUPP);
    switch (name) {
    case SO_TYPE: out.i = u->type; break;
    case SO_DOMAIN: out.i = AF_UNIX; break;
    case SO_PROTOCOL: out.i = 0; break;
    case SO_ERROR: out.i = 0; break;
    case SO_ACCEPTCONN: out.i = u->state == US_LISTENING; break;
    case SO_SNDBUF: out.i = u->sndbuf; break;
    case SO_RCVBUF: out.i = u->rcvbuf; break;
    case SO_PASSCRED: out.i = u->passcred; break;
    case SO_PEERCRED:
        /* A pid from another PID namespace (another deployed program) is
         * not visible: 0, as Linux reports it. */
        out.cred = u->peercred;
        if (u->peer_group != t->proc->g)
            out.cred.pid = 0;
        if (!u->peer_group)
            out.cred = (struct ucred){0, (uid_t)-1, (gid_t)-1};
        size = sizeof out.cred;
        break;
    case SO_RCVTIMEO_OLD:
    case SO_SNDTIMEO_OLD: {
        int64_t ns = name == SO_RCVTIMEO_OLD ? u->rcvtimeo_ns : u->sndtimeo_ns;
        out.tv = (struct timeval){ns / NSEC, (ns % NSEC) / 1000};
        size = sizeof out.tv;
        break;
    }
    default:
        return SYSRET_ERRNO(ENOPROTOOPT);
    }
    return sockopt_put(t, val, lenp, len, &out, size);
}

/* --- data --- */

/* Where a datagram goes: the named destination, else the connected peer. */
static struct usock *dgram_dest(struct task *t, struct usock *u, int *err)
{
    if (u->pair)
        return u->pair;
    if (!u->dgram_connected) {
        *err = u->type == SOCK_DGRAM ? ENOTCONN : EPIPE;
        return NULL;
    }
    return lookup(u->host, t, &u->peer, u->peerlen, SOCK_DGRAM, err);
}

/* rights: passed descriptors, ours to give or free. */
static struct sysret send_dgram(struct task *t, struct file *f, const struct iovec *iov, int niov, int flags,
                                const struct sockaddr_un *to, socklen_t tolen, struct passed_fds *rights)
{
    struct usock *u = us_of(f);
    size_t total = iov_total(iov, niov);
    if (u->shut_wr) {
        passed_free(rights);
        return send_error(t, flags, EPIPE, 0);
    }
    if (total > (size_t)u->sndbuf - 32) {
        passed_free(rights);
        return SYSRET_ERRNO(EMSGSIZE);
    }
    char *buf = malloc(total ? total : 1);
    if (!buf)
        abort();
    if (iov_copy(t, iov, niov, 0, buf, total, false) < 0) {
        free(buf);
        passed_free(rights);
        return SYSRET_ERRNO(EFAULT);
    }
    int64_t deadline = deadline_after(u->sndtimeo_ns);
    struct sysret r;
    for (;;) {
        int err = 0;
        struct usock *d = to ? lookup(u->host, t, to, tolen, SOCK_DGRAM, &err) : dgram_dest(t, u, &err);
        if (!d) {
            r = SYSRET_ERRNO(err);
            break;
        }
        if (chan_put_msg(d->in, buf, total, u->namelen ? &u->name : NULL, u->namelen) == 0) {
            d->in->last->rights = rights;
            rights = NULL;
            chan_notify(d->in);
            r = SYSRET_VALUE(total);
            break;
        }
        if (nonblocking(f, flags)) {
            task_charge_spin(t);
            r = SYSRET_ERRNO(EAGAIN);
            break;
        }
        /* Wait for the receiver to take something: it notifies its file. */
        if (!wait_file(t, d->file, deadline)) {
            r = SYSRET_ERRNO(EINTR);
            break;
        }
        if (deadline >= 0 && sim_now_ns() >= deadline) {
            r = SYSRET_ERRNO(EAGAIN);
            break;
        }
    }
    free(buf);
    passed_free(rights); /* not sent */
    return r;
}

static struct sysret send_stream_locked(struct task *t, struct file *f, const struct iovec *iov, int niov, int flags,
                                        struct passed_fds **rights);

static struct sysret send_stream(struct task *t, struct file *f, const struct iovec *iov, int niov, int flags,
                                 struct passed_fds *rights)
{
    struct sysret r = send_stream_locked(t, f, iov, niov, flags, &rights);
    passed_free(rights); /* what was not sent */
    return r;
}

/* *rights go with the first byte sent (and *rights becomes NULL). */
static struct sysret send_stream_locked(struct task *t, struct file *f, const struct iovec *iov, int niov, int flags,
                                        struct passed_fds **rights)
{
    struct usock *u = us_of(f);
    size_t total = iov_total(iov, niov), done = 0;
    if (u->state != US_CONNECTED)
        return SYSRET_ERRNO(ENOTCONN);
    struct chan *c = u->out;
    bool packets = c->msgs;
    if (packets && total > c->cap)
        return SYSRET_ERRNO(EMSGSIZE);
    int64_t deadline = deadline_after(u->sndtimeo_ns);
    for (;;) {
        if (out_closed(u))
            return send_error(t, flags, EPIPE, done);
        size_t room = chan_room(c), want = total - done;
        bool fits = packets ? (!c->len || room >= want) : room > 0;
        if (fits && (want || packets || !total)) {
            size_t n = packets ? want : (want < room ? want : room);
            if (n > IO_STEP && !packets)
                n = IO_STEP;
            uint64_t first_byte = c->written;
            if (chan_write_iov(t, c, iov, niov, done, n) < 0)
                return done ? SYSRET_VALUE(done) : SYSRET_ERRNO(EFAULT);
            if (packets)
                c->last->rights = *rights;
            else if (*rights)
                chan_add_rights(c, *rights, first_byte);
            *rights = NULL;
            done += n;
            chan_notify(c);
            if (done == total)
                return SYSRET_VALUE(done);
            continue;
        }
        if (nonblocking(f, flags)) {
            if (!done)
                task_charge_spin(t);
            return done ? SYSRET_VALUE(done) : SYSRET_ERRNO(EAGAIN);
        }
        if (!wait_file(t, f, deadline))
            return done ? SYSRET_VALUE(done) : SYSRET_ERRNO(EINTR);
        if (deadline >= 0 && sim_now_ns() >= deadline)
            return done ? SYSRET_VALUE(done) : SYSRET_ERRNO(EAGAIN);
    }
}

/* A recvmsg's control buffer: where passed descriptors go. */
struct recv_ctl {
    struct supervisor *s;
    uint64_t addr;
    size_t len;
    bool cloexec;
    size_t used;    /* bytes of control written */
    int *msg_flags; /* MSG_CTRUNC */
};

static void deliver_rights(struct task *t, struct passed_fds *p, struct recv_ctl *ctl);

/* Receive into iov; from/fromlen: where the sender's name goes (0: not
 * wanted); *msg_flags gets MSG_TRUNC; ctl: recvmsg's control buffer (NULL:
 * passed descriptors are dropped, as Linux closes them). */
static struct sysret recv_any(struct task *t, struct file *f, const struct iovec *iov, int niov, int flags,
                              uint64_t from, uint64_t fromlen, int *msg_flags, struct recv_ctl *ctl)
{
    struct usock *u = us_of(f);
    if (u->state == US_LISTENING || (u->type != SOCK_DGRAM && u->state != US_CONNECTED))
        return SYSRET_ERRNO(u->type == SOCK_STREAM ? EINVAL : ENOTCONN);
    struct chan *c = u->in;
    size_t total = iov_total(iov, niov), got = 0;
    bool peek = flags & MSG_PEEK, waitall = (flags & MSG_WAITALL) && !peek && !c->msgs;
    int64_t deadline = deadline_after(u->rcvtimeo_ns);
    for (;;) {
        if (c->len) {
            struct chan_msg *m = c->msgs ? chan_first_msg(c) : NULL;
            size_t avail = m ? m->len : c->len, n = total - got < avail ? total - got : avail;
            if (n > IO_STEP && !m)
                n = IO_STEP;
            /* Byte stream: passed descriptors come with the byte they were
             * sent with; a read stops before the next ones. */
            struct chan_rights *r = m || peek ? NULL : chan_first_rights(c);
            bool with_rights = r && r->at <= c->consumed;
            if (with_rights && got)
                return SYSRET_VALUE(got); /* their bytes start a new read */
            struct chan_rights *next = with_rights ? r->next : r;
            if (next && next->at - c->consumed < n)
                n = next->at - c->consumed;
            if (chan_peek_iov(t, c, iov, niov, got, n) < 0)
                return got ? SYSRET_VALUE(got) : SYSRET_ERRNO(EFAULT);
            if (m) {
                size_t whole = m->len;
                bool dg = u->type == SOCK_DGRAM;
                if (from && put_from(t, from, fromlen, dg ? &m->from : &u->peer, dg ? m->fromlen : u->peerlen) < 0)
                    return SYSRET_ERRNO(EFAULT);
                if (whole > n && msg_flags)
                    *msg_flags |= MSG_TRUNC;
                if (!peek) {
                    struct passed_fds *p = m->rights;
                    m->rights = NULL;
                    chan_drop_msg(c);
                    if (p && ctl)
                        deliver_rights(t, p, ctl);
                    else
                        passed_free(p);
                    chan_notify(c);
                }
                return SYSRET_VALUE((flags & MSG_TRUNC) ? whole : n);
            }
            if (!peek) {
                chan_skip(c, n);
                if (with_rights) {
                    struct passed_fds *p = chan_take_rights(c);
                    if (ctl)
                        deliver_rights(t, p, ctl);
                    else
                        passed_free(p);
                }
                chan_notify(c);
            }
            got += n;
            if (with_rights)
                return SYSRET_VALUE(got); /* nothing glued after them */
            if (from && put_from(t, from, fromlen, &u->peer, u->peerlen) < 0)
                return SYSRET_ERRNO(EFAULT);
            if (!waitall || got == total)
                return SYSRET_VALUE(got);
            continue;
        }
        if (total == 0 && !c->msgs)
            return SYSRET_VALUE(0);
        if (u->type != SOCK_DGRAM ? in_eof(u) : u->shut_rd)
            return SYSRET_VALUE(got);
        if (nonblocking(f, flags)) {
            if (!got)
                task_charge_spin(t);
            return got ? SYSRET_VALUE(got) : SYSRET_ERRNO(EAGAIN);
        }
        if (!wait_file(t, f, deadline))
            return got ? SYSRET_VALUE(got) : SYSRET_ERRNO(EINTR);
        if (deadline >= 0 && sim_now_ns() >= deadline && !c->len)
            return got ? SYSRET_VALUE(got) : SYSRET_ERRNO(EAGAIN);
    }
}

static struct sysret send_any(struct task *t, struct file *f, const struct iovec *iov, int niov, int flags,
                              uint64_t to, uint64_t tolen, struct passed_fds *rights)
{
    struct usock *u = us_of(f);
    if (u->type == SOCK_DGRAM) {
        struct sockaddr_un a;
        socklen_t alen = 0;
        if (to) {
            int r = get_name(t, to, tolen, &a, &alen);
            if (r < 0) {
                passed_free(rights);
                return SYSRET_ERRNO(-r);
            }
        }
        return send_dgram(t, f, iov, niov, flags, to ? &a : NULL, alen, rights);
    }
    if (to && u->state == US_CONNECTED) {
        passed_free(rights);
        return SYSRET_ERRNO(EISCONN);
    }
    return send_stream(t, f, iov, niov, flags, rights);
}

struct sysret usock_io(struct task *t, struct file *f, const struct iovec *iov, int niov, bool sending)
{
    return sending ? send_any(t, f, iov, niov, 0, 0, 0, NULL) : recv_any(t, f, iov, niov, 0, 0, 0, NULL, NULL);
}

struct sysret usock_sendto(struct supervisor *s, struct task *t, struct file *f)
{
    (void)s;
    struct iovec iov = IOV1(t->req.args[1], t->req.args[2]);
    return send_any(t, f, &iov, 1, (int)t->req.args[3], t->req.args[4], t->req.args[4] ? t->req.args[5] : 0, NULL);
}

struct sysret usock_recvfrom(struct supervisor *s, struct task *t, struct file *f)
{
    (void)s;
    struct iovec iov = IOV1(t->req.args[1], t->req.args[2]);
    return recv_any(t, f, &iov, 1, (int)t->req.args[3], t->req.args[4], t->req.args[5], NULL, NULL);
}

/* The SCM_RIGHTS of a sendmsg (SCM_CREDENTIALS is accepted, not carried).
 * NULL with *err 0: none. */
static struct passed_fds *read_rights(struct supervisor *s, struct task *t, const struct msghdr *m, int *err)
{
    *err = 0;
    if (!m->msg_controllen)
        return NULL;
    if (m->msg_controllen > 65536) {
        *err = ENOBUFS;
        return NULL;
    }
    char *buf = malloc(m->msg_controllen);
    if (!buf)
        abort();
    if (mem_read(t, (uint64_t)(uintptr_t)m->msg_control, buf, m->msg_controllen) < 0) {
        free(buf);
        *err = EFAULT;
        return NULL;
    }
    struct msghdr local = {.msg_control = buf, .msg_controllen = m->msg_controllen};
    struct passed_fds *p = NULL;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&local); c && !*err; c = CMSG_NXTHDR(&local, c)) {
        if (c->cmsg_len < CMSG_LEN(0) || c->cmsg_len > m->msg_controllen || c->cmsg_level != SOL_SOCKET) {
            *err = EINVAL;
            break;
        }
        if (c->cmsg_type == SCM_CREDENTIALS)
            continue;
        if (c->cmsg_type != SCM_RIGHTS) {
            *err = EINVAL;
            break;
        }
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        if (!p && !(p = calloc(1, sizeof *p)))
            abort();
        if ((size_t)p->n + n > PASSED_MAX) {
            *err = EINVAL;
            break;
        }
        const int *fds = (const int *)CMSG_DATA(c);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, fds + i, sizeof fd);
            struct file *ef = fd_get(t, fd);
            p->emu[p->n] = NULL;
            p->native[p->n] = -1;
            if (ef) {
                file_ref(ef);
                p->emu[p->n++] = ef;
                continue;
            }
            if (!s->backend->install_native) {
                log_msg("task %d: passing a native fd over AF_UNIX is not supported by the %s backend", t->tid,
                        s->backend->name);
                *err = EOPNOTSUPP;
                break;
            }
            int local_fd = (int)syscall(SYS_pidfd_getfd, t->proc->pidfd, fd, 0);
            if (local_fd < 0) {
                *err = EBADF;
                break;
            }
            p->native[p->n++] = local_fd;
        }
    }
    free(buf);
    if (*err) {
        passed_free(p);
        return NULL;
    }
    return p;
}

/* Install the passed descriptors in t, as many as its control buffer has
 * room for (the rest are closed: MSG_CTRUNC), and write the SCM_RIGHTS
 * message there.  Frees p. */
static void deliver_rights(struct task *t, struct passed_fds *p, struct recv_ctl *ctl)
{
    size_t room = ctl->len > ctl->used ? ctl->len - ctl->used : 0;
    int fit = room < CMSG_LEN(0) ? 0 : (int)((room - CMSG_LEN(0)) / sizeof(int));
    int fds[PASSED_MAX], got = 0;
    for (int i = 0; i < p->n; i++) {
        if (i >= fit) {
            *ctl->msg_flags |= MSG_CTRUNC;
            continue;
        }
        int fd;
        if (p->emu[i]) {
            fd = fd_install_new(ctl->s, t, p->emu[i], ctl->cloexec); /* takes the reference */
            p->emu[i] = NULL;
        } else {
            fd = ctl->s->backend->install_native(ctl->s, t, p->native[i], ctl->cloexec);
        }
        if (fd < 0) {
            *ctl->msg_flags |= MSG_CTRUNC;
            continue;
        }
        fds[got++] = fd;
    }
    passed_free(p);
    if (!got)
        return;
    struct cmsghdr h = {.cmsg_len = CMSG_LEN((size_t)got * sizeof(int)), .cmsg_level = SOL_SOCKET, .cmsg_type = SCM_RIGHTS};
    uint64_t at = ctl->addr + ctl->used;
    if (mem_write(t, at, &h, sizeof h) < 0 || mem_write(t, at + CMSG_LEN(0), fds, (size_t)got * sizeof(int)) < 0)
        return; /* the descriptors stay installed, as Linux on a fault */
    size_t space = CMSG_SPACE((size_t)got * sizeof(int));
    ctl->used += space < room ? space : room;
}

struct sysret usock_sendmsg(struct supervisor *s, struct task *t, struct file *f)
{
    struct msghdr m;
    if (mem_read(t, t->req.args[1], &m, sizeof m) < 0)
        return SYSRET_ERRNO(EFAULT);
    struct iovec iov[IO_IOV_MAX];
    int r = iov_read(t, (uint64_t)(uintptr_t)m.msg_iov, m.msg_iovlen, iov);
    if (r < 0)
        return SYSRET_ERRNO(-r);
    int err;
    struct passed_fds *rights = read_rights(s, t, &m, &err);
    if (err)
        return SYSRET_ERRNO(err);
    return send_any(t, f, iov, (int)m.msg_iovlen, (int)t->req.args[2], (uint64_t)(uintptr_t)m.msg_name,
                    m.msg_name ? m.msg_namelen : 0, rights);
}

struct sysret usock_recvmsg(struct supervisor *s, struct task *t, struct file *f)
{
    uint64_t maddr = t->req.args[1];
    int flags = (int)t->req.args[2];
    struct msghdr m;
    if (mem_read(t, maddr, &m, sizeof m) < 0)
        return SYSRET_ERRNO(EFAULT);
    struct iovec iov[IO_IOV_MAX];
    int r = iov_read(t, (uint64_t)(uintptr_t)m.msg_iov, m.msg_iovlen, iov);
    if (r < 0)
        return SYSRET_ERRNO(-r);
    int msg_flags = 0;
    struct recv_ctl ctl = {s, (uint64_t)(uintptr_t)m.msg_control, m.msg_control ? m.msg_controllen : 0,
                           flags & MSG_CMSG_CLOEXEC, 0, &msg_flags};
    uint64_t namelen_addr = maddr + offsetof(struct msghdr, msg_namelen);
    struct sysret ret = recv_any(t, f, iov, (int)m.msg_iovlen, flags, (uint64_t)(uintptr_t)m.msg_name,
                                 m.msg_name ? namelen_addr : 0, &msg_flags, &ctl);
    if (ret.kind == RET_VALUE) {
        if (mem_write(t, maddr + offsetof(struct msghdr, msg_controllen), &ctl.used, sizeof ctl.used) < 0 ||
            mem_write(t, maddr + offsetof(struct msghdr, msg_flags), &msg_flags, sizeof msg_flags) < 0)
            return SYSRET_ERRNO(EFAULT);
    }
    return ret;
}
