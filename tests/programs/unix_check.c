/* unix_check: socketpair and AF_UNIX sockets between a process and its
 * children: stream ping-pong, datagram and seqpacket boundaries, an echo
 * server on a path name and on an abstract name, datagrams with sender
 * names, readiness, shutdown, errors.
 *
 * Usage: unix_check [virtual]
 *
 * Natively the waits last at least what they should; under Simterpose
 * ("virtual") exactly that, in simulated time.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "selfcheck.h"

#define NSEC INT64_C(1000000000)
#define MS INT64_C(1000000)

static bool virt;
#define now_ns() mono_ns()
#define expect_elapsed(what, got, want) check_wait(virt, what, got, want)
static char dir[64];

static socklen_t path_addr(struct sockaddr_un *a, const char *name)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    snprintf(a->sun_path, sizeof a->sun_path, "%s/%s", dir, name);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(a->sun_path) + 1);
}

static socklen_t abstract_addr(struct sockaddr_un *a, const char *name)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    size_t n = strlen(name);
    memcpy(a->sun_path + 1, name, n);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static void check_pair_ping_pong(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        fail("socketpair: %s", strerror(errno));
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        char b;
        for (int i = 0; i < 5; i++) {
            if (read(sv[1], &b, 1) != 1)
                _exit(2);
            sleep_ms(100);
            b++;
            if (write(sv[1], &b, 1) != 1)
                _exit(3);
        }
        _exit(0);
    }
    close(sv[1]);
    char b = 'a';
    int64_t t0 = now_ns();
    for (int i = 0; i < 5; i++)
        if (send(sv[0], &b, 1, 0) != 1 || recv(sv[0], &b, 1, 0) != 1)
            fail("socketpair round %d: %s", i, strerror(errno));
    if (b != 'f')
        fail("socketpair ping-pong: got %c", b);
    expect_elapsed("5 socketpair round trips, 100 ms each", now_ns() - t0, 500 * MS);
    char c;
    if (read(sv[0], &c, 1) != 0)
        fail("read once the child is gone: expected EOF");
    printf("ok: end of file once the peer is gone\n");
    expect_errno("send to a gone peer (MSG_NOSIGNAL)", send(sv[0], "x", 1, MSG_NOSIGNAL), EPIPE);
    close(sv[0]);
    reap_child(pid, 0);
}

static void check_boundaries(void)
{
    int types[] = {SOCK_DGRAM, SOCK_SEQPACKET};
    for (int i = 0; i < 2; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, types[i], 0, sv) < 0)
            fail("socketpair(%d): %s", types[i], strerror(errno));
        if (send(sv[0], "abc", 3, 0) != 3 || send(sv[0], "defgh", 5, 0) != 5 || send(sv[0], "ijklmnop", 8, 0) != 8)
            fail("sends");
        char buf[16];
        ssize_t a = recv(sv[1], buf, sizeof buf, 0), b = recv(sv[1], buf + 3, sizeof buf - 3, 0);
        if (a != 3 || b != 5 || memcmp(buf, "abcdefgh", 8))
            fail("type %d: received %zd then %zd, expected 3 then 5", types[i], a, b);
        struct iovec iov = {buf, 4};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
        ssize_t c = recvmsg(sv[1], &m, 0);
        if (c != 4 || !(m.msg_flags & MSG_TRUNC) || memcmp(buf, "ijkl", 4))
            fail("type %d: truncated message: %zd, flags %#x", types[i], c, m.msg_flags);
        int type = -1;
        socklen_t tl = sizeof type;
        if (getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != types[i])
            fail("SO_TYPE %d, expected %d", type, types[i]);
        close(sv[0]);
        close(sv[1]);
    }
    printf("ok: datagram and seqpacket pairs keep boundaries, MSG_TRUNC\n");
}

/* An echo server on a name, in a child; the client checks names, the
 * peer's credentials, readiness and the end. */
static void check_echo(const struct sockaddr_un *a, socklen_t alen, const char *what)
{
    int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ls < 0 || bind(ls, (const struct sockaddr *)a, alen) < 0 || listen(ls, 4) < 0)
        fail("%s: server set-up: %s", what, strerror(errno));
    int again = socket(AF_UNIX, SOCK_STREAM, 0);
    expect_errno("bind of a name in use", bind(again, (const struct sockaddr *)a, alen), EADDRINUSE);
    close(again);
    pid_t pid = fork();
    if (pid == 0) {
        int c = accept(ls, NULL, NULL);
        if (c < 0)
            _exit(2);
        char buf[256];
        ssize_t n;
        while ((n = read(c, buf, sizeof buf)) > 0) {
            sleep_ms(20);
            if (write(c, buf, (size_t)n) != n)
                _exit(3);
        }
        _exit(n == 0 ? 0 : 4);
    }
    close(ls);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (const struct sockaddr *)a, alen) < 0)
        fail("%s: connect: %s", what, strerror(errno));
    struct sockaddr_un peer;
    socklen_t plen = sizeof peer;
    if (getpeername(s, (struct sockaddr *)&peer, &plen) < 0 || plen != alen || memcmp(&peer, a, alen))
        fail("%s: getpeername: length %u, expected %u", what, plen, alen);
    struct sockaddr_un self;
    socklen_t slen = sizeof self;
    if (getsockname(s, (struct sockaddr *)&self, &slen) < 0 || slen != sizeof(sa_family_t))
        fail("%s: getsockname of an unbound client: length %u", what, slen);
    struct ucred cred;
    socklen_t clen = sizeof cred;
    if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 || cred.pid != getpid() || cred.uid != getuid())
        fail("%s: SO_PEERCRED pid %d uid %d, expected %d %d", what, cred.pid, cred.uid, getpid(), getuid());
    int64_t t0 = now_ns();
    if (write(s, "hello", 5) != 5)
        fail("%s: write", what);
    struct pollfd pf = {s, POLLIN, 0};
    if (poll(&pf, 1, 5000) != 1 || !(pf.revents & POLLIN))
        fail("%s: poll for the echo: %#x", what, pf.revents);
    expect_elapsed("echo over AF_UNIX", now_ns() - t0, 20 * MS);
    char buf[16];
    if (read(s, buf, sizeof buf) != 5 || memcmp(buf, "hello", 5))
        fail("%s: echo differs", what);
    shutdown(s, SHUT_WR);
    if (read(s, buf, sizeof buf) != 0)
        fail("%s: after shutdown(SHUT_WR) the server should end", what);
    pf.events = POLLIN | POLLRDHUP;
    if (poll(&pf, 1, 0) != 1 || !(pf.revents & POLLRDHUP))
        fail("%s: POLLRDHUP missing (%#x)", what, pf.revents);
    close(s);
    reap_child(pid, 0);
    printf("ok: %s echo, names, SO_PEERCRED, shutdown\n", what);
}

static void check_datagrams(void)
{
    struct sockaddr_un sa, ca, from;
    socklen_t salen = path_addr(&sa, "dgram.srv"), calen = path_addr(&ca, "dgram.cli");
    int srv = socket(AF_UNIX, SOCK_DGRAM, 0), cli = socket(AF_UNIX, SOCK_DGRAM, 0), anon = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (bind(srv, (struct sockaddr *)&sa, salen) < 0 || bind(cli, (struct sockaddr *)&ca, calen) < 0)
        fail("datagram bind: %s", strerror(errno));
    struct stat st;
    if (stat(sa.sun_path, &st) < 0 || !S_ISSOCK(st.st_mode))
        fail("bind made no socket file at %s", sa.sun_path);
    if (sendto(cli, "one", 3, 0, (struct sockaddr *)&sa, salen) != 3 ||
        sendto(anon, "two", 3, 0, (struct sockaddr *)&sa, salen) != 3)
        fail("sendto: %s", strerror(errno));
    char buf[16];
    socklen_t flen = sizeof from;
    if (recvfrom(srv, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen) != 3 || flen != calen ||
        strcmp(from.sun_path, ca.sun_path))
        fail("first datagram: sender length %u", flen);
    flen = sizeof from;
    if (recvfrom(srv, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen) != 3 || flen != 0)
        fail("datagram from an unnamed socket: sender length %u, expected 0", flen);
    if (connect(anon, (struct sockaddr *)&sa, salen) < 0 || send(anon, "three", 5, 0) != 5 ||
        recv(srv, buf, sizeof buf, 0) != 5)
        fail("connected datagram socket: %s", strerror(errno));
    expect_errno("recv on an empty non-blocking socket", recv(srv, buf, sizeof buf, MSG_DONTWAIT), EAGAIN);
    close(srv);
    expect_errno("send to a closed name", send(anon, "x", 1, 0), ECONNREFUSED);
    struct sockaddr_un none;
    socklen_t nlen = path_addr(&none, "nothing-here");
    expect_errno("sendto a missing path", sendto(cli, "x", 1, 0, (struct sockaddr *)&none, nlen), ENOENT);
    close(cli);
    close(anon);
    unlink(sa.sun_path);
    unlink(ca.sun_path);
    printf("ok: datagrams carry their sender's name\n");
}

static void check_errors(void)
{
    struct sockaddr_un a;
    socklen_t alen = abstract_addr(&a, "unix_check-nobody");
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    expect_errno("connect to an unknown abstract name", connect(s, (struct sockaddr *)&a, alen), ECONNREFUSED);
    close(s);
    /* bound, not listening */
    alen = abstract_addr(&a, "unix_check-quiet");
    int b = socket(AF_UNIX, SOCK_STREAM, 0);
    if (bind(b, (struct sockaddr *)&a, alen) < 0)
        fail("bind: %s", strerror(errno));
    s = socket(AF_UNIX, SOCK_STREAM, 0);
    expect_errno("connect to a socket that does not listen", connect(s, (struct sockaddr *)&a, alen), ECONNREFUSED);
    int d = socket(AF_UNIX, SOCK_DGRAM, 0);
    expect_errno("datagram connect to an abstract stream name", connect(d, (struct sockaddr *)&a, alen), ECONNREFUSED);
    if (listen(b, 1) < 0 || fcntl(b, F_SETFL, O_NONBLOCK) < 0)
        fail("listen");
    expect_errno("accept with nobody waiting", accept(b, NULL, NULL), EAGAIN);
    close(b);
    close(s);
    close(d);
    expect_errno("socket(AF_UNIX, SOCK_PACKET)", socket(AF_UNIX, SOCK_PACKET, 0), ESOCKTNOSUPPORT);
}

/* A child connects 50 ms late: the server sleeps in epoll_wait. */
static void check_epoll_accept(void)
{
    struct sockaddr_un a;
    socklen_t alen = abstract_addr(&a, "unix_check-epoll");
    int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (bind(ls, (struct sockaddr *)&a, alen) < 0 || listen(ls, 8) < 0)
        fail("listen: %s", strerror(errno));
    pid_t pid = fork();
    if (pid == 0) {
        sleep_ms(50);
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(s, (struct sockaddr *)&a, alen) < 0)
            _exit(2);
        _exit(write(s, "x", 1) == 1 ? 0 : 3);
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    int64_t t0 = now_ns();
    if (epoll_wait(ep, &ev, 1, 5000) != 1 || ev.data.fd != ls)
        fail("epoll_wait for a connection");
    expect_elapsed("epoll_wait until a client connects", now_ns() - t0, 50 * MS);
    int c = accept(ls, NULL, NULL);
    char x;
    if (c < 0 || read(c, &x, 1) != 1 || x != 'x')
        fail("accepted connection: %s", strerror(errno));
    close(c);
    close(ls);
    close(ep);
    reap_child(pid, 0);
}

static int send_fds(int sock, const int *fds, int n, const char *data)
{
    char ctl[CMSG_SPACE(4 * sizeof(int))];
    memset(ctl, 0, sizeof ctl);
    struct iovec iov = {(void *)data, strlen(data)};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                       .msg_controllen = CMSG_SPACE((size_t)n * sizeof(int))};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
    memcpy(CMSG_DATA(c), fds, (size_t)n * sizeof(int));
    return (int)sendmsg(sock, &m, 0);
}

/* Receive data and descriptors; returns how many descriptors came. */
static int recv_fds(int sock, int *fds, char *data, size_t len, int *msg_flags)
{
    char ctl[CMSG_SPACE(4 * sizeof(int))];
    struct iovec iov = {data, len};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
    ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    if (n < 0)
        return -1;
    data[n] = 0;
    *msg_flags = m.msg_flags;
    int got = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            memcpy(fds + got, CMSG_DATA(c), (size_t)k * sizeof(int));
            got += k;
        }
    return got;
}

/* SCM_RIGHTS: a pipe's read end (ours) and a regular file (native) go to
 * a child over a socketpair; the child reads both.  Under the ptrace
 * backend a native descriptor cannot be passed (EOPNOTSUPP). */
static void check_rights(bool native_ok)
{
    int sv[2], p[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || pipe(p) < 0)
        fail("socketpair/pipe: %s", strerror(errno));
    char path[96];
    snprintf(path, sizeof path, "%s/passed.txt", dir);
    int file = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (file < 0 || write(file, "native file", 11) != 11 || lseek(file, 0, SEEK_SET) != 0)
        fail("temporary file: %s", strerror(errno));
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        int fds[4], flags = 0;
        char data[16], buf[32];
        int n = recv_fds(sv[1], fds, data, sizeof data - 1, &flags);
        if (n != (native_ok ? 2 : 1) || strcmp(data, "fds") != 0 || (flags & MSG_CTRUNC))
            _exit(2);
        if (!(fcntl(fds[0], F_GETFD) & FD_CLOEXEC))
            _exit(3); /* MSG_CMSG_CLOEXEC */
        ssize_t k = read(fds[0], buf, sizeof buf);
        if (k != 8 || memcmp(buf, "via pipe", 8))
            _exit(4);
        if (native_ok && (read(fds[1], buf, sizeof buf) != 11 || memcmp(buf, "native file", 11)))
            _exit(5);
        _exit(write(sv[1], "ok", 2) == 2 ? 0 : 6);
    }
    close(sv[1]);
    if (write(p[1], "via pipe", 8) != 8)
        fail("pipe write");
    if (!native_ok) {
        int both[2] = {p[0], file};
        expect_errno("passing a native fd under the ptrace backend", send_fds(sv[0], both, 2, "fds"), EOPNOTSUPP);
    }
    int fds[2] = {p[0], file};
    if (send_fds(sv[0], fds, native_ok ? 2 : 1, "fds") != 3)
        fail("sendmsg(SCM_RIGHTS): %s", strerror(errno));
    close(p[0]);
    char reply[4] = {0};
    if (read(sv[0], reply, 2) != 2 || strcmp(reply, "ok"))
        fail("the child did not read the passed descriptors");
    reap_child(pid, 0);
    close(p[1]);
    close(sv[0]);
    close(file);
    unlink(path);
    printf("ok: SCM_RIGHTS passes a pipe end%s\n", native_ok ? " and a native file" : "");
}

int main(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && strcmp(argv[1], "virtual") != 0)) {
        fprintf(stderr, "usage: %s [virtual]\n", argv[0]);
        return 2;
    }
    virt = argc == 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof dir, "/tmp/unix_check.XXXXXX");
    if (!mkdtemp(dir))
        fail("mkdtemp: %s", strerror(errno));
    check_pair_ping_pong();
    check_boundaries();
    struct sockaddr_un a;
    socklen_t alen = path_addr(&a, "echo.sock");
    check_echo(&a, alen, "path name");
    unlink(a.sun_path);
    alen = abstract_addr(&a, "unix_check-echo");
    check_echo(&a, alen, "abstract name");
    check_datagrams();
    check_errors();
    check_epoll_accept();
    const char *backend = getenv("SIMTERPOSE_BACKEND");
    check_rights(!(virt && backend && strcmp(backend, "ptrace") == 0));
    rmdir(dir);
    printf("unix_check: all passed\n");
    return 0;
}
