/* net_errors: self-checking test of socket error cases, options and fd
 * handling, in one process over 127.0.0.1.
 *
 * Usage: net_errors [virtual]
 *        net_errors --check-fds CLOEXEC_FD KEPT_FD   (helper, after exec)
 *
 * Checks: ECONNREFUSED (blocking and non-blocking connect, SO_ERROR read
 * once); EADDRINUSE (plain double bind, SO_REUSEADDR with a listener),
 * SO_REUSEPORT double bind; bind to port 0; EAGAIN (O_NONBLOCK, MSG_DONTWAIT);
 * EOF, shutdown(SHUT_WR), EPIPE/ECONNRESET after the peer closed (SIGPIPE
 * ignored, and MSG_NOSIGNAL); getsockopt/setsockopt of common options;
 * FIONREAD and FIONBIO; fcntl flags and dup/dup2/dup3/F_DUPFD_CLOEXEC on
 * sockets; EFAULT/EINVAL for bad pointers and lengths (raw syscalls); a
 * socket shared with a forked child; close-on-exec of sockets (re-executes
 * itself through /proc/self/exe in the --check-fds helper mode).
 * "virtual" (run under Simterpose) adds no check here: all checks are
 * functional.
 * Exit status: 0 on success, 1 on a failed check (one "FAIL: ..." line on
 * stderr), 2 on a usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nettest.h"
#include "selfcheck.h"

#define SELF_EXE "/proc/self/exe"
#define WAIT_MS 5000
#define RETRIES 50
#define PAUSE_NS 20000000L
#define CHILD_ERR_EXEC 127
#define CHILD_ERR_IO 120

static bool virt;
static const char *argv0;

/* r is a syscall result: it must be -1 with errno == want. */
static void expect_err(long r, int want, const char *what)
{
    int e = errno;
    if (r != -1 || e != want)
        fail("%s (expected -1 %s, got %ld errno=%d %s)", what, errname(want), r,
             r == -1 ? e : 0, r == -1 ? errname(e) : "none");
}

static void set_int(int fd, int level, int opt, int val, const char *what)
{
    if (setsockopt(fd, level, opt, &val, sizeof val) != 0)
        fail_errno("setsockopt(%s, %d)", what, val);
}

static int get_int(int fd, int level, int opt, const char *what)
{
    int val = -12345;
    socklen_t len = sizeof val;
    if (getsockopt(fd, level, opt, &val, &len) != 0)
        fail_errno("getsockopt(%s)", what);
    if (len != sizeof val)
        fail("getsockopt(%s) optlen (expected %zu, got %u)", what, sizeof val, (unsigned)len);
    return val;
}

/* Binds fd to 127.0.0.1:port (0 = any) and returns the bound port. */
static uint16_t bind_lo(int fd, uint16_t port)
{
    struct sockaddr_in sa = make_sockaddr(INADDR_LOOPBACK, port);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        fail_errno("bind(127.0.0.1:%u)", (unsigned)port);
    socklen_t len = sizeof sa;
    memset(&sa, 0, sizeof sa);
    if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        fail_errno("getsockname after bind");
    if (len != sizeof sa || sa.sin_family != AF_INET ||
        sa.sin_addr.s_addr != htonl(INADDR_LOOPBACK))
        fail("getsockname after bind(127.0.0.1) (expected AF_INET 127.0.0.1, got family %d, "
             "length %u)",
             sa.sin_family, (unsigned)len);
    if (port != 0 && ntohs(sa.sin_port) != port)
        fail("getsockname after bind(port %u) (expected that port, got %u)", (unsigned)port,
             (unsigned)ntohs(sa.sin_port));
    return ntohs(sa.sin_port);
}

static void connect_lo(int fd, uint16_t port)
{
    struct sockaddr_in sa = make_sockaddr(INADDR_LOOPBACK, port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        fail_errno("connect(127.0.0.1:%u)", (unsigned)port);
}

/* A connected TCP pair over 127.0.0.1: *c is the connecting side, *s the
 * accepted one (both blocking, no flags). */
static void tcp_pair(int *c, int *s)
{
    int l = xsocket(SOCK_STREAM);
    uint16_t port = bind_lo(l, 0);
    if (listen(l, 4) != 0)
        fail_errno("listen");
    *c = xsocket(SOCK_STREAM);
    connect_lo(*c, port);
    *s = accept(l, NULL, NULL);
    if (*s < 0)
        fail_errno("accept");
    xclose(l);
}

static void wait_readable(int fd, const char *what)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, WAIT_MS);
    if (n < 0)
        fail_errno("poll(POLLIN) on %s", what);
    if (n == 0)
        fail("poll(POLLIN) on %s (expected readable within %d ms, got a timeout)", what, WAIT_MS);
}

static void send_str(int fd, const char *s, const char *what)
{
    size_t len = strlen(s);
    ssize_t n = send(fd, s, len, 0);
    if (n < 0)
        fail_errno("send(\"%s\") on %s", s, what);
    if ((size_t)n != len)
        fail("send(\"%s\") on %s (expected %zu bytes, got %zd)", s, what, len, n);
}

/* Receives exactly strlen(s) bytes and compares them with s. */
static void recv_str(int fd, const char *s, const char *what)
{
    char buf[256];
    size_t len = strlen(s), got = 0;
    while (got < len) {
        ssize_t n = recv(fd, buf + got, len - got, 0);
        if (n < 0)
            fail_errno("recv(\"%s\") on %s", s, what);
        if (n == 0)
            fail("recv(\"%s\") on %s (expected %zu more bytes, got EOF)", s, what, len - got);
        got += (size_t)n;
    }
    if (memcmp(buf, s, len) != 0)
        fail("recv on %s (expected \"%s\", got \"%.*s\")", what, s, (int)len, buf);
}

static void expect_eof(int fd, const char *what)
{
    char c;
    ssize_t n = recv(fd, &c, 1, 0);
    if (n != 0)
        fail("recv on %s (expected 0 = EOF, got %zd%s%s)", what, n, n < 0 ? " errno=" : "",
             n < 0 ? errname(errno) : "");
}

/* ---------------------------------------------------------------------- */

static void test_sockopts(void)
{
    int t = xsocket(SOCK_STREAM), u = xsocket(SOCK_DGRAM);
    int v = get_int(t, SOL_SOCKET, SO_TYPE, "SO_TYPE");
    if (v != SOCK_STREAM)
        fail("getsockopt(SO_TYPE) of a TCP socket (expected %d SOCK_STREAM, got %d)", SOCK_STREAM,
             v);
    v = get_int(u, SOL_SOCKET, SO_TYPE, "SO_TYPE");
    if (v != SOCK_DGRAM)
        fail("getsockopt(SO_TYPE) of a UDP socket (expected %d SOCK_DGRAM, got %d)", SOCK_DGRAM, v);
    printf("ok: SO_TYPE: TCP -> SOCK_STREAM, UDP -> SOCK_DGRAM\n");

    if ((v = get_int(t, SOL_SOCKET, SO_ERROR, "SO_ERROR")) != 0)
        fail("getsockopt(SO_ERROR) of a new TCP socket (expected 0, got %d)", v);
    if ((v = get_int(u, SOL_SOCKET, SO_ERROR, "SO_ERROR")) != 0)
        fail("getsockopt(SO_ERROR) of a new UDP socket (expected 0, got %d)", v);
    printf("ok: SO_ERROR of new sockets -> 0\n");

    set_int(t, SOL_SOCKET, SO_RCVBUF, 65536, "SO_RCVBUF");
    if ((v = get_int(t, SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF")) < 65536)
        fail("getsockopt(SO_RCVBUF) after setting 65536 (expected >= 65536, got %d)", v);
    int w;
    set_int(t, SOL_SOCKET, SO_SNDBUF, 65536, "SO_SNDBUF");
    if ((w = get_int(t, SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF")) < 65536)
        fail("getsockopt(SO_SNDBUF) after setting 65536 (expected >= 65536, got %d)", w);
    printf("ok: SO_RCVBUF/SO_SNDBUF set to 65536 -> get %d/%d\n", v, w);

    set_int(t, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE");
    if ((v = get_int(t, SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE")) == 0)
        fail("getsockopt(SO_KEEPALIVE) after setting 1 (expected nonzero, got 0)");
    set_int(t, SOL_SOCKET, SO_KEEPALIVE, 0, "SO_KEEPALIVE");
    if ((v = get_int(t, SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE")) != 0)
        fail("getsockopt(SO_KEEPALIVE) after setting 0 (expected 0, got %d)", v);
    printf("ok: SO_KEEPALIVE set 1 -> on, set 0 -> off\n");

    if ((v = get_int(t, IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY")) != 0)
        fail("getsockopt(TCP_NODELAY) of a new socket (expected 0, got %d)", v);
    set_int(t, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
    if ((v = get_int(t, IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY")) == 0)
        fail("getsockopt(TCP_NODELAY) after setting 1 (expected nonzero, got 0)");
    printf("ok: TCP_NODELAY: 0 by default, set 1 -> on\n");

    struct linger lg = {.l_onoff = 1, .l_linger = 5};
    if (setsockopt(t, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) != 0)
        fail_errno("setsockopt(SO_LINGER, {1, 5})");
    memset(&lg, 0x55, sizeof lg);
    socklen_t len = sizeof lg;
    if (getsockopt(t, SOL_SOCKET, SO_LINGER, &lg, &len) != 0)
        fail_errno("getsockopt(SO_LINGER)");
    if (len != sizeof lg || lg.l_onoff == 0 || lg.l_linger != 5)
        fail("getsockopt(SO_LINGER) after setting {1, 5} (expected on, 5 s, length %zu, got "
             "%d, %d s, length %u)",
             sizeof lg, lg.l_onoff, lg.l_linger, (unsigned)len);
    printf("ok: SO_LINGER set {1, 5} -> get on, 5 s\n");

    if ((v = get_int(u, SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR")) != 0)
        fail("getsockopt(SO_REUSEADDR) of a new socket (expected 0, got %d)", v);
    set_int(u, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
    if ((v = get_int(u, SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR")) == 0)
        fail("getsockopt(SO_REUSEADDR) after setting 1 (expected nonzero, got 0)");
    printf("ok: SO_REUSEADDR: 0 by default, set 1 -> on\n");
    xclose(t);
    xclose(u);
}

static void test_bind_port0(void)
{
    int t = xsocket(SOCK_STREAM), u = xsocket(SOCK_DGRAM);
    uint16_t pt = bind_lo(t, 0), pu = bind_lo(u, 0);
    if (pt == 0 || pu == 0)
        fail("getsockname after bind(port 0) (expected an ephemeral port, got TCP %u, UDP %u)",
             (unsigned)pt, (unsigned)pu);
    printf("ok: bind(127.0.0.1:0) -> getsockname gives port %u (TCP), %u (UDP)\n", (unsigned)pt,
           (unsigned)pu);
    xclose(t);
    xclose(u);
    /* a port bound by a socket that never connected is free again after close */
    t = xsocket(SOCK_STREAM);
    bind_lo(t, pt);
    xclose(t);
    printf("ok: after close, port %u can be bound again\n", (unsigned)pt);
}

static void test_bind_conflicts(void)
{
    /* plain double bind */
    int a = xsocket(SOCK_STREAM), b = xsocket(SOCK_STREAM);
    uint16_t port = bind_lo(a, 0);
    struct sockaddr_in sa = make_sockaddr(INADDR_LOOPBACK, port);
    expect_err(bind(b, (struct sockaddr *)&sa, sizeof sa), EADDRINUSE,
               "second bind to the same port without SO_REUSEADDR");
    xclose(a);
    xclose(b);
    printf("ok: second bind to 127.0.0.1:%u -> EADDRINUSE\n", (unsigned)port);

    /* SO_REUSEADDR on both, the first one listening */
    a = xsocket(SOCK_STREAM);
    b = xsocket(SOCK_STREAM);
    set_int(a, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
    set_int(b, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
    port = bind_lo(a, 0);
    if (listen(a, 4) != 0)
        fail_errno("listen");
    sa = make_sockaddr(INADDR_LOOPBACK, port);
    const char *which;
    if (bind(b, (struct sockaddr *)&sa, sizeof sa) == 0) {
        expect_err(listen(b, 4), EADDRINUSE,
                   "listen on a second SO_REUSEADDR socket bound to a listening port");
        which = "bind succeeds, listen";
    } else {
        expect_err(-1, EADDRINUSE, "bind of a second SO_REUSEADDR socket to a listening port");
        which = "bind";
    }
    xclose(a);
    xclose(b);
    printf("ok: SO_REUSEADDR on both, first listening: second %s -> EADDRINUSE\n", which);

    /* SO_REUSEPORT on both */
    a = xsocket(SOCK_STREAM);
    b = xsocket(SOCK_STREAM);
    set_int(a, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT");
    set_int(b, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT");
    port = bind_lo(a, 0);
    if (listen(a, 4) != 0)
        fail_errno("listen on the first SO_REUSEPORT socket");
    bind_lo(b, port);
    if (listen(b, 4) != 0)
        fail_errno("listen on the second SO_REUSEPORT socket");
    xclose(a);
    xclose(b);
    printf("ok: SO_REUSEPORT on both: both bind to port %u and listen\n", (unsigned)port);

    /* 0.0.0.0:p and an IPV6_V6ONLY [::]:p coexist (redis binds both); a
     * dual-stack [::]:p does not. */
    a = xsocket(SOCK_STREAM);
    struct sockaddr_in any4 = make_sockaddr(INADDR_ANY, 0);
    if (bind(a, (struct sockaddr *)&any4, sizeof any4) != 0 || listen(a, 4) != 0)
        fail_errno("bind+listen 0.0.0.0:0");
    socklen_t len = sizeof any4;
    if (getsockname(a, (struct sockaddr *)&any4, &len) != 0)
        fail_errno("getsockname");
    struct sockaddr_in6 any6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT, .sin6_port = any4.sin_port};
    int v6 = socket(AF_INET6, SOCK_STREAM, 0);
    if (v6 < 0)
        fail_errno("socket(AF_INET6)");
    expect_err(bind(v6, (struct sockaddr *)&any6, sizeof any6), EADDRINUSE,
               "dual-stack [::]:p while 0.0.0.0:p listens");
    xclose(v6);
    v6 = socket(AF_INET6, SOCK_STREAM, 0);
    set_int(v6, IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY");
    if (bind(v6, (struct sockaddr *)&any6, sizeof any6) != 0 || listen(v6, 4) != 0)
        fail_errno("bind+listen of a V6ONLY [::]:%u next to 0.0.0.0:%u", (unsigned)ntohs(any4.sin_port),
                   (unsigned)ntohs(any4.sin_port));
    xclose(v6);
    xclose(a);
    printf("ok: [::]:p with IPV6_V6ONLY next to 0.0.0.0:p; without it EADDRINUSE\n");
}

static void test_refused(void)
{
    /* a port bound but not listening: nobody else can take it meanwhile */
    int holder = xsocket(SOCK_STREAM);
    uint16_t port = bind_lo(holder, 0);
    struct sockaddr_in sa = make_sockaddr(INADDR_LOOPBACK, port);

    int fd = xsocket(SOCK_STREAM);
    expect_err(connect(fd, (struct sockaddr *)&sa, sizeof sa), ECONNREFUSED,
               "blocking connect to a port without listener");
    xclose(fd);
    printf("ok: blocking connect to 127.0.0.1:%u (no listener) -> ECONNREFUSED\n", (unsigned)port);

    fd = xsocket(SOCK_STREAM | SOCK_NONBLOCK);
    int r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    if (r == -1 && errno == ECONNREFUSED) {
        printf("ok: non-blocking connect to a port without listener -> ECONNREFUSED at once\n");
    } else {
        expect_err(r, EINPROGRESS, "non-blocking connect to a port without listener");
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int n = poll(&p, 1, WAIT_MS);
        if (n < 0)
            fail_errno("poll(POLLOUT) after a refused non-blocking connect");
        if (n == 0)
            fail("poll(POLLOUT) after a refused non-blocking connect (expected an event within "
                 "%d ms, got a timeout)",
                 WAIT_MS);
        if (!(p.revents & (POLLERR | POLLHUP)))
            fail("poll revents after a refused non-blocking connect (expected POLLERR or "
                 "POLLHUP, got 0x%x)",
                 (unsigned)p.revents);
        int e = get_int(fd, SOL_SOCKET, SO_ERROR, "SO_ERROR");
        if (e != ECONNREFUSED)
            fail("getsockopt(SO_ERROR) after a refused non-blocking connect (expected %d "
                 "ECONNREFUSED, got %d %s)",
                 ECONNREFUSED, e, errname(e));
        e = get_int(fd, SOL_SOCKET, SO_ERROR, "SO_ERROR");
        if (e != 0)
            fail("second getsockopt(SO_ERROR) (expected 0: the error is cleared, got %d %s)", e,
                 errname(e));
        printf("ok: non-blocking connect -> EINPROGRESS, poll -> 0x%x (POLLOUT%s POLLERR%s "
               "POLLHUP%s), SO_ERROR -> ECONNREFUSED, then 0\n",
               (unsigned)p.revents, p.revents & POLLOUT ? "" : " no",
               p.revents & POLLERR ? "" : " no", p.revents & POLLHUP ? "" : " no");
    }
    xclose(fd);
    xclose(holder);
}

static void test_eagain(void)
{
    int c, s;
    tcp_pair(&c, &s);
    char buf[16];
    expect_err(recv(s, buf, sizeof buf, MSG_DONTWAIT), EAGAIN,
               "recv(MSG_DONTWAIT) on a blocking socket without data");
    printf("ok: recv(MSG_DONTWAIT) on a blocking socket without data -> EAGAIN\n");
    int fl = fcntl(s, F_GETFL);
    if (fl < 0 || fcntl(s, F_SETFL, fl | O_NONBLOCK) != 0)
        fail_errno("fcntl(F_GETFL/F_SETFL O_NONBLOCK)");
    expect_err(recv(s, buf, sizeof buf, 0), EAGAIN, "recv on an O_NONBLOCK socket without data");
    expect_err(read(s, buf, sizeof buf), EAGAIN, "read on an O_NONBLOCK socket without data");
    printf("ok: recv/read on an O_NONBLOCK socket without data -> EAGAIN\n");

    int u = xsocket(SOCK_DGRAM | SOCK_NONBLOCK);
    bind_lo(u, 0);
    expect_err(recvfrom(u, buf, sizeof buf, 0, NULL, NULL), EAGAIN,
               "recvfrom on a non-blocking UDP socket without data");
    printf("ok: recvfrom on a non-blocking UDP socket without data -> EAGAIN\n");
    xclose(u);
    xclose(c);
    xclose(s);
}

static void test_eof_shutdown(void)
{
    int c, s;
    tcp_pair(&c, &s);
    send_str(c, "bye", "client");
    xclose(c);
    recv_str(s, "bye", "accepted socket");
    expect_eof(s, "accepted socket after the peer closed");
    expect_eof(s, "accepted socket after the peer closed (again)");
    xclose(s);
    printf("ok: peer sent \"bye\" and closed: recv -> \"bye\", then 0 (EOF), again 0\n");

    tcp_pair(&c, &s);
    send_str(c, "ping", "client");
    if (shutdown(c, SHUT_WR) != 0)
        fail_errno("shutdown(SHUT_WR)");
    recv_str(s, "ping", "accepted socket");
    expect_eof(s, "accepted socket after the peer's shutdown(SHUT_WR)");
    send_str(s, "pong", "accepted socket after reading EOF");
    recv_str(c, "pong", "client after its shutdown(SHUT_WR)");
    expect_err(send(c, "x", 1, MSG_NOSIGNAL), EPIPE, "send(MSG_NOSIGNAL) after shutdown(SHUT_WR)");
    xclose(s);
    expect_eof(c, "client after the peer closed");
    xclose(c);
    printf("ok: shutdown(SHUT_WR): peer reads \"ping\" then EOF, can still send \"pong\"; "
           "send after SHUT_WR -> EPIPE\n");
}

/* Writes to a socket whose peer closed until a write fails. */
static void write_until_error(int fd, bool use_send, const char *what)
{
    for (int t = 1;; t++) {
        ssize_t n = use_send ? send(fd, "x", 1, MSG_NOSIGNAL) : write(fd, "x", 1);
        if (n < 0) {
            int e = errno;
            if (e != EPIPE && e != ECONNRESET)
                fail("%s (expected -1 EPIPE or ECONNRESET, got -1 errno=%d %s)", what, e,
                     errname(e));
            printf("ok: %s -> %s after %d write%s\n", what, errname(e), t, t > 1 ? "s" : "");
            return;
        }
        if (n != 1)
            fail("%s (expected 1 byte or an error, got %zd)", what, n);
        if (t == RETRIES)
            fail("%s (expected EPIPE or ECONNRESET within %d writes, got success each time)", what,
                 RETRIES);
        pause_ns(PAUSE_NS);
    }
}

static void test_epipe(void)
{
    /* SIGPIPE at its default: MSG_NOSIGNAL must keep us alive */
    if (signal(SIGPIPE, SIG_DFL) == SIG_ERR)
        fail_errno("signal(SIGPIPE, SIG_DFL)");
    int c, s;
    tcp_pair(&c, &s);
    xclose(s); /* nothing unread: a clean close (FIN) */
    expect_eof(c, "client after the peer closed");
    write_until_error(c, true, "send(MSG_NOSIGNAL) to a peer that closed (SIGPIPE default)");
    xclose(c);

    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        fail_errno("signal(SIGPIPE, SIG_IGN)");
    tcp_pair(&c, &s);
    xclose(s);
    expect_eof(c, "client after the peer closed");
    write_until_error(c, false, "write to a peer that closed (SIGPIPE ignored)");
    xclose(c);
    if (signal(SIGPIPE, SIG_DFL) == SIG_ERR)
        fail_errno("signal(SIGPIPE, SIG_DFL)");
}

static void test_ioctls(void)
{
    int c, s;
    tcp_pair(&c, &s);
    static char data[1234];
    memset(data, 'z', sizeof data);
    ssize_t n = send(c, data, sizeof data, 0);
    if (n != (ssize_t)sizeof data)
        fail("send 1234 bytes (expected 1234, got %zd errno=%d)", n, n < 0 ? errno : 0);
    wait_readable(s, "accepted socket");
    int avail = -1;
    for (int t = 1;; t++) {
        if (ioctl(s, FIONREAD, &avail) != 0)
            fail_errno("ioctl(FIONREAD)");
        if (avail == 1234 || avail > 1234 || avail < 0 || t == RETRIES)
            break;
        pause_ns(PAUSE_NS); /* readable, but not everything arrived yet */
    }
    if (avail != 1234)
        fail("ioctl(FIONREAD) after the peer sent 1234 bytes (expected 1234, got %d)", avail);
    printf("ok: ioctl(FIONREAD) after the peer sent 1234 bytes -> 1234\n");
    size_t got = 0;
    while (got < sizeof data) {
        n = recv(s, data, sizeof data - got, 0);
        if (n <= 0)
            fail("recv of the 1234 bytes (expected data, got %zd errno=%d)", n, n < 0 ? errno : 0);
        got += (size_t)n;
    }
    if (ioctl(s, FIONREAD, &avail) != 0)
        fail_errno("ioctl(FIONREAD)");
    if (avail != 0)
        fail("ioctl(FIONREAD) after reading everything (expected 0, got %d)", avail);
    printf("ok: ioctl(FIONREAD) after reading everything -> 0\n");

    int on = 1;
    if (ioctl(s, FIONBIO, &on) != 0)
        fail_errno("ioctl(FIONBIO, 1)");
    char b;
    expect_err(recv(s, &b, 1, 0), EAGAIN, "recv after ioctl(FIONBIO, 1) without data");
    int fl = fcntl(s, F_GETFL);
    if (fl < 0)
        fail_errno("fcntl(F_GETFL)");
    if (!(fl & O_NONBLOCK))
        fail("fcntl(F_GETFL) after ioctl(FIONBIO, 1) (expected O_NONBLOCK, got 0x%x)", fl);
    on = 0;
    if (ioctl(s, FIONBIO, &on) != 0)
        fail_errno("ioctl(FIONBIO, 0)");
    if ((fl = fcntl(s, F_GETFL)) < 0)
        fail_errno("fcntl(F_GETFL)");
    if (fl & O_NONBLOCK)
        fail("fcntl(F_GETFL) after ioctl(FIONBIO, 0) (expected no O_NONBLOCK, got 0x%x)", fl);
    printf("ok: ioctl(FIONBIO, 1) -> recv EAGAIN and O_NONBLOCK in F_GETFL; FIONBIO 0 clears "
           "it\n");
    xclose(c);
    xclose(s);
}

static int getfd(int fd)
{
    int f = fcntl(fd, F_GETFD);
    if (f < 0)
        fail_errno("fcntl(%d, F_GETFD)", fd);
    return f;
}

static uint16_t local_port(int fd)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        fail_errno("getsockname(%d)", fd);
    return ntohs(sa.sin_port);
}

static void test_fcntl_dup(void)
{
    int c, s;
    tcp_pair(&c, &s);
    int fl = fcntl(c, F_GETFL);
    if (fl < 0)
        fail_errno("fcntl(F_GETFL)");
    if (fl & O_NONBLOCK)
        fail("fcntl(F_GETFL) of a new socket (expected no O_NONBLOCK, got 0x%x)", fl);
    if ((fl & O_ACCMODE) != O_RDWR)
        fail("fcntl(F_GETFL) access mode of a socket (expected O_RDWR, got 0x%x)", fl);
    if (fcntl(c, F_SETFL, fl | O_NONBLOCK) != 0)
        fail_errno("fcntl(F_SETFL, O_NONBLOCK)");
    int fl2 = fcntl(c, F_GETFL);
    if (fl2 < 0 || !(fl2 & O_NONBLOCK))
        fail("fcntl(F_GETFL) after F_SETFL O_NONBLOCK (expected O_NONBLOCK, got 0x%x)", fl2);
    char b;
    expect_err(recv(c, &b, 1, 0), EAGAIN, "recv after F_SETFL O_NONBLOCK");
    if (fcntl(c, F_SETFL, fl) != 0)
        fail_errno("fcntl(F_SETFL, flags without O_NONBLOCK)");
    if ((fl2 = fcntl(c, F_GETFL)) < 0 || (fl2 & O_NONBLOCK))
        fail("fcntl(F_GETFL) after clearing O_NONBLOCK (expected it clear, got 0x%x)", fl2);
    printf("ok: F_GETFL (O_RDWR, blocking) / F_SETFL O_NONBLOCK (recv -> EAGAIN) / clear\n");

    if (getfd(c) != 0)
        fail("fcntl(F_GETFD) of a new socket (expected 0, got 0x%x)", getfd(c));
    if (fcntl(c, F_SETFD, FD_CLOEXEC) != 0)
        fail_errno("fcntl(F_SETFD, FD_CLOEXEC)");
    if (!(getfd(c) & FD_CLOEXEC))
        fail("fcntl(F_GETFD) after F_SETFD FD_CLOEXEC (expected FD_CLOEXEC, got 0x%x)", getfd(c));
    if (fcntl(c, F_SETFD, 0) != 0)
        fail_errno("fcntl(F_SETFD, 0)");
    if (getfd(c) != 0)
        fail("fcntl(F_GETFD) after F_SETFD 0 (expected 0, got 0x%x)", getfd(c));
    printf("ok: F_GETFD 0 / F_SETFD FD_CLOEXEC / F_SETFD 0 on a socket\n");

    int d1 = fcntl(c, F_DUPFD_CLOEXEC, 50);
    if (d1 < 0)
        fail_errno("fcntl(F_DUPFD_CLOEXEC, 50)");
    if (d1 < 50)
        fail("fcntl(F_DUPFD_CLOEXEC, 50) (expected an fd >= 50, got %d)", d1);
    if (!(getfd(d1) & FD_CLOEXEC) || getfd(c) != 0)
        fail("FD_CLOEXEC after F_DUPFD_CLOEXEC (expected set on the copy only, got 0x%x on the "
             "copy, 0x%x on the original)",
             getfd(d1), getfd(c));
    int d2 = dup(c);
    if (d2 < 0)
        fail_errno("dup");
    if (getfd(d2) != 0)
        fail("fcntl(F_GETFD) of a dup() (expected 0, got 0x%x)", getfd(d2));
    /* High targets: Simterpose keeps emulated sockets at fds >= 512 (a
     * dup2 below that is refused there, see docs/network.md). */
    int d3 = dup2(c, 900);
    if (d3 != 900)
        fail("dup2(fd, 900) (expected 900, got %d errno=%d)", d3, d3 < 0 ? errno : 0);
    int d4 = dup3(c, 901, O_CLOEXEC);
    if (d4 != 901)
        fail("dup3(fd, 901, O_CLOEXEC) (expected 901, got %d errno=%d)", d4, d4 < 0 ? errno : 0);
    if (!(getfd(d4) & FD_CLOEXEC))
        fail("fcntl(F_GETFD) after dup3(O_CLOEXEC) (expected FD_CLOEXEC, got 0x%x)", getfd(d4));
    uint16_t port = local_port(c);
    int dups[4] = {d1, d2, d3, d4};
    const char *names[4] = {"F_DUPFD_CLOEXEC copy", "dup copy", "dup2 copy", "dup3 copy"};
    for (int i = 0; i < 4; i++) {
        if (local_port(dups[i]) != port)
            fail("getsockname of the %s (expected port %u, got %u)", names[i], (unsigned)port,
                 (unsigned)local_port(dups[i]));
        send_str(dups[i], names[i], names[i]);
        recv_str(s, names[i], "peer of the duplicated socket");
    }
    printf("ok: F_DUPFD_CLOEXEC (fd %d, FD_CLOEXEC), dup (fd %d), dup2 (fd 900), dup3 O_CLOEXEC "
           "(fd 61): same socket, sends reach the peer\n",
           d1, d2);

    /* file status flags are shared by the copies */
    if (fcntl(c, F_SETFL, fl | O_NONBLOCK) != 0)
        fail_errno("fcntl(F_SETFL, O_NONBLOCK)");
    if ((fl2 = fcntl(d2, F_GETFL)) < 0 || !(fl2 & O_NONBLOCK))
        fail("F_GETFL of a dup after F_SETFL O_NONBLOCK on the original (expected O_NONBLOCK, "
             "got 0x%x)",
             fl2);
    expect_err(recv(d3, &b, 1, 0), EAGAIN, "recv on a dup2 copy after O_NONBLOCK on the original");
    if (fcntl(d1, F_SETFL, fl) != 0)
        fail_errno("fcntl(F_SETFL) on a copy");
    if ((fl2 = fcntl(c, F_GETFL)) < 0 || (fl2 & O_NONBLOCK))
        fail("F_GETFL of the original after clearing O_NONBLOCK on a copy (expected it clear, "
             "got 0x%x)",
             fl2);
    printf("ok: O_NONBLOCK is shared between the original and its copies\n");

    xclose(c);
    for (int i = 0; i < 4; i++) {
        send_str(dups[i], "after close", names[i]);
        recv_str(s, "after close", "peer of the duplicated socket");
    }
    printf("ok: after closing the original, every copy still sends to the peer\n");
    for (int i = 0; i < 3; i++)
        xclose(dups[i]);
    send_str(d4, "last", "last copy");
    recv_str(s, "last", "peer of the last copy");
    xclose(d4);
    expect_eof(s, "peer after the last copy was closed");
    xclose(s);
    printf("ok: the connection stays open until the last copy is closed, then the peer gets "
           "EOF\n");
}

static void test_bad_pointers(void)
{
    int c, s;
    tcp_pair(&c, &s);
    expect_err(syscall(SYS_sendto, c, (void *)1, 10, 0, NULL, 0), EFAULT,
               "send(buf = (void *)1, 10 bytes)");
    printf("ok: send(buf = (void *)1, len 10) -> EFAULT\n");

    send_str(s, "0123456789", "accepted socket");
    wait_readable(c, "client");
    expect_err(syscall(SYS_recvfrom, c, (void *)1, 10, 0, NULL, NULL), EFAULT,
               "recv(buf = (void *)1, 10 bytes) with data available");
    printf("ok: recv(buf = (void *)1, len 10) with data available -> EFAULT\n");
    char drain[16];
    if (recv(c, drain, sizeof drain, MSG_DONTWAIT) < 0 && errno != EAGAIN)
        fail_errno("recv to drain after EFAULT");

    struct sockaddr_in sa = make_sockaddr(INADDR_LOOPBACK, 9);
    int u = xsocket(SOCK_DGRAM);
    expect_err(syscall(SYS_sendto, u, "x", 1, 0, &sa, 3), EINVAL, "sendto(addrlen = 3)");
    printf("ok: sendto(UDP, addrlen 3) -> EINVAL\n");
    int t = xsocket(SOCK_STREAM);
    expect_err(syscall(SYS_connect, t, &sa, 3), EINVAL, "connect(addrlen = 3)");
    printf("ok: connect(addrlen 3) -> EINVAL\n");
    expect_err(syscall(SYS_getsockname, c, &sa, NULL), EFAULT, "getsockname(addrlen = NULL)");
    printf("ok: getsockname(addrlen pointer NULL) -> EFAULT\n");
    int one = 1;
    expect_err(syscall(SYS_setsockopt, t, SOL_SOCKET, SO_REUSEADDR, &one, 0), EINVAL,
               "setsockopt(SO_REUSEADDR, optlen = 0)");
    printf("ok: setsockopt(SO_REUSEADDR, optlen 0) -> EINVAL\n");
    expect_err(syscall(SYS_recvmsg, c, (void *)1, MSG_DONTWAIT), EFAULT,
               "recvmsg(msg = (void *)1)");
    printf("ok: recvmsg(msg = (void *)1) -> EFAULT\n");
    expect_err(syscall(SYS_poll, (void *)1, 1, 0), EFAULT, "poll(fds = (void *)1, nfds = 1)");
    printf("ok: poll(fds = (void *)1, nfds 1) -> EFAULT\n");

    /* the sockets still work after all this */
    send_str(c, "still fine", "client");
    recv_str(s, "still fine", "accepted socket");
    printf("ok: the connection still works after the failed calls\n");
    xclose(t);
    xclose(u);
    xclose(c);
    xclose(s);
}

static void test_fork(void)
{
    int c, s;
    tcp_pair(&c, &s);
    pid_t pid = xfork();
    if (pid == 0) {
        const char msg[] = "hello";
        _exit(write(c, msg, 5) == 5 ? 0 : CHILD_ERR_IO);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid)
        fail_errno("waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("child writing on the inherited socket (expected exit 0, got status 0x%x)",
             (unsigned)status);
    recv_str(s, "hello", "parent's accepted socket");
    printf("ok: child wrote \"hello\" on its copy of the socket and exited; parent read it\n");
    send_str(c, "parent", "parent's socket after the child exited");
    recv_str(s, "parent", "parent's accepted socket");
    xclose(c);
    expect_eof(s, "accepted socket after the parent closed the last copy");
    xclose(s);
    printf("ok: parent's copy still works after the child exited; EOF after the parent "
           "closed it\n");
}

static void exec_check(int cloexec_fd, int kept_fd, int peer, const char *how)
{
    char a1[16], a2[16];
    snprintf(a1, sizeof a1, "%d", cloexec_fd);
    snprintf(a2, sizeof a2, "%d", kept_fd);
    char *args[] = {(char *)argv0, "--check-fds", a1, a2, NULL};
    pid_t pid = xfork();
    if (pid == 0) {
        execv(SELF_EXE, args);
        _exit(CHILD_ERR_EXEC);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid)
        fail_errno("waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("exec'd %s --check-fds %d %d (%s) (expected exit 0, got status 0x%x)", SELF_EXE,
             cloexec_fd, kept_fd, how, (unsigned)status);
    if (peer >= 0)
        recv_str(peer, "exec ok", "peer of the socket kept across exec");
    printf("ok: after exec: fd %d (%s) closed, fd %d kept%s\n", cloexec_fd, how, kept_fd,
           peer >= 0 ? " and still connected" : "");
}

static void test_exec(void)
{
    /* round 1: SOCK_CLOEXEC vs a plain connected socket */
    int a = xsocket(SOCK_STREAM | SOCK_CLOEXEC);
    if (!(getfd(a) & FD_CLOEXEC))
        fail("fcntl(F_GETFD) of a SOCK_CLOEXEC socket (expected FD_CLOEXEC, got 0x%x)", getfd(a));
    int c, s;
    tcp_pair(&c, &s);
    exec_check(a, c, s, "SOCK_CLOEXEC");
    xclose(a);
    xclose(c);
    xclose(s);

    /* round 2: FD_CLOEXEC set with F_SETFD vs cleared with F_SETFD */
    a = xsocket(SOCK_STREAM);
    int b = xsocket(SOCK_DGRAM | SOCK_CLOEXEC);
    if (fcntl(a, F_SETFD, FD_CLOEXEC) != 0)
        fail_errno("fcntl(F_SETFD, FD_CLOEXEC)");
    if (fcntl(b, F_SETFD, 0) != 0)
        fail_errno("fcntl(F_SETFD, 0)");
    exec_check(a, b, -1, "F_SETFD FD_CLOEXEC; the kept one had FD_CLOEXEC cleared");
    xclose(a);
    xclose(b);
}

/* Helper mode, run after exec. */
static int check_fds(int gone, int kept)
{
    errno = 0;
    int r = fcntl(gone, F_GETFD);
    if (r != -1 || errno != EBADF)
        fail("after exec: fcntl(%d, F_GETFD) on a close-on-exec socket (expected -1 EBADF, got "
             "%d errno=%d %s)",
             gone, r, r == -1 ? errno : 0, r == -1 ? errname(errno) : "none");
    printf("ok: after exec: close-on-exec socket fd %d is closed (EBADF)\n", gone);
    r = fcntl(kept, F_GETFD);
    if (r < 0)
        fail_errno("after exec: fcntl(%d, F_GETFD) on the kept socket", kept);
    if (r & FD_CLOEXEC)
        fail("after exec: F_GETFD of the kept socket (expected no FD_CLOEXEC, got 0x%x)", r);
    int type = get_int(kept, SOL_SOCKET, SO_TYPE, "SO_TYPE after exec");
    if (type != SOCK_STREAM && type != SOCK_DGRAM)
        fail("after exec: getsockopt(SO_TYPE) of the kept socket (expected SOCK_STREAM or "
             "SOCK_DGRAM, got %d)",
             type);
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    bool connected = getpeername(kept, (struct sockaddr *)&sa, &len) == 0;
    if (!connected && errno != ENOTCONN)
        fail_errno("after exec: getpeername of the kept socket (or ENOTCONN)");
    if (connected)
        send_str(kept, "exec ok", "kept socket after exec");
    printf("ok: after exec: fd %d kept (%s, SO_TYPE %s)%s\n", kept, "no FD_CLOEXEC",
           type == SOCK_STREAM ? "SOCK_STREAM" : "SOCK_DGRAM",
           connected ? ", connected: sent \"exec ok\"" : ", not connected");
    return 0;
}

static _Noreturn void usage(void)
{
    fprintf(stderr,
            "usage: %s [virtual]\n"
            "       %s --check-fds CLOEXEC_FD KEPT_FD\n",
            argv0, argv0);
    exit(2);
}

int main(int argc, char **argv)
{
    argv0 = argc > 0 ? argv[0] : "net_errors";
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 4 && strcmp(argv[1], "--check-fds") == 0) {
        long a, b;
        if (!parse_int(argv[2], 0, 1 << 20, &a) || !parse_int(argv[3], 0, 1 << 20, &b))
            usage();
        return check_fds((int)a, (int)b);
    }
    if (argc > 2 || (argc == 2 && strcmp(argv[1], "virtual") != 0))
        usage();
    virt = argc == 2;
    printf("net_errors: %s mode\n", virt ? "virtual" : "native");

    test_sockopts();
    test_bind_port0();
    test_bind_conflicts();
    test_refused();
    test_eagain();
    test_eof_shutdown();
    test_epipe();
    test_ioctls();
    test_fcntl_dup();
    test_bad_pointers();
    test_fork();
    test_exec();

    printf("net_errors: all checks passed\n");
    return 0;
}
