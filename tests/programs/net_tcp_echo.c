/* net_tcp_echo: self-checking TCP echo server and client.
 *
 * Usage: net_tcp_echo [--mode blocking|poll|select|epoll] [--clients N] both [virtual]
 *        net_tcp_echo [--mode M] [--clients N] server PORT [virtual]
 *        net_tcp_echo [--mode M] [--clients N] client HOST PORT [virtual]
 *
 * The server accepts N connections (default 1) and echoes every byte back
 * until EOF, then closes the connection.  The client sends messages of 1,
 * 100, 1000, 65536 and 300000 bytes with a recognisable pattern, reads each
 * echo back completely and compares it, then shuts down its sending side and
 * expects EOF.  With --clients N a client process runs N clients at the same
 * time (N-1 of them in forked children).
 *
 * Modes: blocking = plain blocking accept/read/write (the server serves one
 * connection after the other); poll, select, epoll = O_NONBLOCK sockets, a
 * non-blocking connect (EINPROGRESS, wait for writable, SO_ERROR == 0) and an
 * event loop serving all connections at once.  In epoll mode the server
 * registers each accepted socket with EPOLLONESHOT first, checks that it is
 * not reported twice, then re-arms it edge-triggered (EPOLLET) with
 * EPOLL_CTL_MOD and reads until EAGAIN.
 *
 * Also checked: getsockname/getpeername on both sides, accept4 flags
 * (SOCK_NONBLOCK|SOCK_CLOEXEC -> O_NONBLOCK and FD_CLOEXEC; SOCK_CLOEXEC
 * alone and plain accept in blocking mode), and in "both" mode that the peer
 * ports seen by the server are exactly the clients' local ports.
 *
 * "both" forks: the child is the server, the parent the client(s), over
 * 127.0.0.1 on port $NET_TEST_PORT or 40000 + pid % 20000.  The client
 * retries connect on ECONNREFUSED (50 tries, 20 ms apart).  "virtual" (run
 * under Simterpose) adds no check here: all checks are functional.
 * Exit status: 0 on success, 1 on a failed check (one "FAIL: ..." line on
 * stderr), 2 on a usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

#include "nettest.h"
#include "selfcheck.h"

#define WAIT_MS 10000      /* no progress for this long: fail instead of hanging */
#define BLOCK_PIECE 32768  /* blocking client: write this much, then read its echo */
#define SERVER_BUF 65536
#define LISTEN_FD_TAG UINT32_MAX

enum mode { MODE_BLOCKING, MODE_POLL, MODE_SELECT, MODE_EPOLL };
static const char *const mode_names[] = {"blocking", "poll", "select", "epoll"};

static const size_t msg_sizes[] = {1, 100, 1000, 65536, 300000};
#define NMSG (sizeof msg_sizes / sizeof msg_sizes[0])

static enum mode mode = MODE_BLOCKING;
static int nclients = 1;
static bool virt;
static const char *argv0;
static int report_fd = -1; /* "both": pipe where ports are reported */

enum { EV_RD = 1, EV_WR = 2, EV_ERR = 4 };

static int so_error(int fd)
{
    int err = -1;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        fail_errno("getsockopt(SO_ERROR)");
    return err;
}

static void report_port(char role, unsigned port)
{
    if (report_fd < 0)
        return;
    char line[16];
    int n = snprintf(line, sizeof line, "%c %u\n", role, port);
    if (write(report_fd, line, (size_t)n) != n)
        fail_errno("write port report to the pipe");
}

static uint8_t pattern(size_t msg, size_t i)
{
    return (uint8_t)(msg * 41 + i * 7 + (i >> 8) * 3 + 1);
}

/* ---- waiting for readiness on one fd, with the mode's mechanism (client) ---- */

static int cli_ep = -1, cli_ep_fd = -1;
static uint32_t cli_ep_events;

static int wait_io(int fd, bool rd, bool wr)
{
    int ev = 0;
    if (mode == MODE_POLL) {
        struct pollfd p = {.fd = fd, .events = (short)((rd ? POLLIN : 0) | (wr ? POLLOUT : 0))};
        int n = poll(&p, 1, WAIT_MS);
        if (n < 0)
            fail_errno("poll");
        if (n == 0)
            fail("%s: poll(%s%s) (expected an event within %d ms, got a timeout)", who,
                 rd ? "POLLIN" : "", wr ? " POLLOUT" : "", WAIT_MS);
        if (p.revents & POLLNVAL)
            fail("%s: poll revents (expected no POLLNVAL, got 0x%x)", who, (unsigned)p.revents);
        ev = (p.revents & POLLIN ? EV_RD : 0) | (p.revents & POLLOUT ? EV_WR : 0) |
             (p.revents & (POLLERR | POLLHUP) ? EV_ERR : 0);
    } else if (mode == MODE_SELECT) {
        if (fd >= FD_SETSIZE)
            fail("%s: fd %d usable with select (expected < %d)", who, fd, FD_SETSIZE);
        fd_set r, w;
        FD_ZERO(&r);
        FD_ZERO(&w);
        if (rd)
            FD_SET(fd, &r);
        if (wr)
            FD_SET(fd, &w);
        struct timeval tv = {.tv_sec = WAIT_MS / 1000, .tv_usec = 0};
        int n = select(fd + 1, &r, &w, NULL, &tv);
        if (n < 0)
            fail_errno("select");
        if (n == 0)
            fail("%s: select (expected fd %d ready within %d ms, got a timeout)", who, fd, WAIT_MS);
        ev = (FD_ISSET(fd, &r) ? EV_RD : 0) | (FD_ISSET(fd, &w) ? EV_WR : 0);
    } else {
        uint32_t want = (rd ? EPOLLIN : 0) | (wr ? EPOLLOUT : 0);
        if (cli_ep < 0 && (cli_ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
            fail_errno("epoll_create1");
        struct epoll_event e = {.events = want, .data.fd = fd};
        if (cli_ep_fd != fd) {
            if (epoll_ctl(cli_ep, EPOLL_CTL_ADD, fd, &e) != 0)
                fail_errno("epoll_ctl(ADD, %d)", fd);
            cli_ep_fd = fd;
            cli_ep_events = want;
        } else if (cli_ep_events != want) {
            if (epoll_ctl(cli_ep, EPOLL_CTL_MOD, fd, &e) != 0)
                fail_errno("epoll_ctl(MOD, %d)", fd);
            cli_ep_events = want;
        }
        struct epoll_event out;
        int n = epoll_wait(cli_ep, &out, 1, WAIT_MS);
        if (n < 0)
            fail_errno("epoll_wait");
        if (n == 0)
            fail("%s: epoll_wait (expected an event within %d ms, got a timeout)", who, WAIT_MS);
        if (out.data.fd != fd)
            fail("%s: epoll_wait event data (expected fd %d, got %d)", who, fd, out.data.fd);
        ev = (out.events & EPOLLIN ? EV_RD : 0) | (out.events & EPOLLOUT ? EV_WR : 0) |
             (out.events & (EPOLLERR | EPOLLHUP) ? EV_ERR : 0);
    }
    return ev;
}

static void close_sock(int fd)
{
    if (fd == cli_ep_fd) {
        if (epoll_ctl(cli_ep, EPOLL_CTL_DEL, fd, NULL) != 0)
            fail_errno("epoll_ctl(DEL, %d)", fd);
        cli_ep_fd = -1;
    }
    xclose(fd);
}

/* ---- client ---- */

/* One attempt for connect_retry(), non-blocking in the event modes. */
static int connect_once(const struct sockaddr_in *srv, const char *addr)
{
    bool nb = mode != MODE_BLOCKING;
    int fd = socket(AF_INET, SOCK_STREAM | (nb ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0)
        fail_errno("socket(AF_INET, SOCK_STREAM%s)", nb ? "|SOCK_NONBLOCK" : "");
    int err;
    if (connect(fd, (const struct sockaddr *)srv, sizeof *srv) == 0) {
        err = 0;
        if (nb)
            printf("ok: %s: non-blocking connect to %s completed at once\n", who, addr);
    } else if (nb && errno == EINPROGRESS) {
        int ev = wait_io(fd, false, true);
        err = so_error(fd);
        if (err == 0) {
            if (!(ev & EV_WR))
                fail("%s: connect completion (expected writable, got events 0x%x)", who, ev);
            printf("ok: %s: non-blocking connect -> EINPROGRESS, %s -> writable, "
                   "SO_ERROR == 0\n",
                   who, mode_names[mode]);
        }
    } else {
        err = errno;
    }
    if (err == 0)
        return fd;
    if (err != ECONNREFUSED)
        fail("%s: connect to %s (expected success or ECONNREFUSED, got errno=%d %s)", who, addr,
             err, errname(err));
    close_sock(fd);
    return -1;
}

static void check_echo(size_t msg, const uint8_t *expected, const uint8_t *got, size_t n,
                       size_t off)
{
    if (memcmp(expected, got, n) == 0)
        return;
    size_t i = 0;
    while (expected[i] == got[i])
        i++;
    fail("%s: echo of message %zu (%zu bytes), byte %zu (expected 0x%02x, got 0x%02x)", who,
         msg + 1, msg_sizes[msg], off + i, expected[i], got[i]);
}

static void exchange_blocking(int fd, size_t k, const uint8_t *msg, uint8_t *rbuf)
{
    size_t len = msg_sizes[k];
    for (size_t off = 0; off < len;) {
        size_t piece = len - off < BLOCK_PIECE ? len - off : BLOCK_PIECE;
        write_all(fd, msg + off, piece);
        for (size_t got = 0; got < piece;) {
            ssize_t n = read(fd, rbuf, piece - got);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    fail("%s: read echo of message %zu (expected %zu more bytes within %d ms "
                         "(SO_RCVTIMEO), got none)",
                         who, k + 1, len - off - got, WAIT_MS);
                fail_errno("read echo of message %zu", k + 1);
            }
            if (n == 0)
                fail("%s: read echo of message %zu (expected %zu more bytes, got EOF)", who,
                     k + 1, len - off - got);
            check_echo(k, msg + off + got, rbuf, (size_t)n, off + got);
            got += (size_t)n;
        }
        off += piece;
    }
}

static void exchange_nonblocking(int fd, size_t k, const uint8_t *msg, uint8_t *rbuf)
{
    size_t len = msg_sizes[k], sent = 0, got = 0;
    while (got < len) {
        int ev = wait_io(fd, true, sent < len);
        if (sent < len && (ev & EV_WR)) {
            ssize_t n = send(fd, msg + sent, len - sent, 0);
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                fail_errno("send(%zu bytes) of message %zu", len - sent, k + 1);
            if (n > 0)
                sent += (size_t)n;
        }
        if (ev & (EV_RD | EV_ERR)) {
            ssize_t n = recv(fd, rbuf, len - got, 0);
            if (n < 0) {
                if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                    fail_errno("recv echo of message %zu", k + 1);
                if (ev & EV_ERR)
                    fail("%s: recv after an error/hangup event (expected data, got EAGAIN, "
                         "SO_ERROR %d)",
                         who, so_error(fd));
            } else if (n == 0) {
                fail("%s: recv echo of message %zu (expected %zu more bytes, got EOF)", who, k + 1,
                     len - got);
            } else {
                check_echo(k, msg + got, rbuf, (size_t)n, got);
                got += (size_t)n;
            }
        }
    }
}

static void expect_eof(int fd)
{
    char c;
    for (;;) {
        if (mode != MODE_BLOCKING)
            wait_io(fd, true, false);
        ssize_t n = read(fd, &c, 1);
        if (n == 0)
            return;
        if (n > 0)
            fail("%s: read after shutdown(SHUT_WR) (expected EOF, got extra data)", who);
        if (errno == EINTR || (mode != MODE_BLOCKING && (errno == EAGAIN || errno == EWOULDBLOCK)))
            continue;
        fail_errno("read after shutdown(SHUT_WR), expecting EOF");
    }
}

static void run_client(const struct sockaddr_in *srv, int idx)
{
    char a1[32], a2[32];
    snprintf(who, sizeof who, "client %d", idx + 1);
    int fd = connect_retry(srv, connect_once);
    if (mode == MODE_BLOCKING) {
        /* a lost echo byte fails instead of hanging */
        struct timeval tv = {.tv_sec = WAIT_MS / 1000, .tv_usec = 0};
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
            fail_errno("setsockopt(SO_RCVTIMEO, %d ms)", WAIT_MS);
    }

    struct sockaddr_in peer, local;
    get_name(fd, true, &peer, "connected socket");
    if (peer.sin_addr.s_addr != srv->sin_addr.s_addr || peer.sin_port != srv->sin_port)
        fail("%s: getpeername (expected %s, got %s)", who, fmt_addr(srv, a1, sizeof a1),
             fmt_addr(&peer, a2, sizeof a2));
    get_name(fd, false, &local, "connected socket");
    if (local.sin_port == 0 || local.sin_addr.s_addr == htonl(INADDR_ANY))
        fail("%s: getsockname of connected socket (expected a bound address and port, got %s)",
             who, fmt_addr(&local, a1, sizeof a1));
    if (srv->sin_addr.s_addr == htonl(INADDR_LOOPBACK) &&
        local.sin_addr.s_addr != htonl(INADDR_LOOPBACK))
        fail("%s: getsockname with server on 127.0.0.1 (expected 127.0.0.1, got %s)", who,
             fmt_addr(&local, a1, sizeof a1));
    printf("ok: %s: connected, getsockname %s, getpeername %s == server\n", who,
           fmt_addr(&local, a1, sizeof a1), fmt_addr(&peer, a2, sizeof a2));
    report_port('C', ntohs(local.sin_port));

    size_t maxlen = msg_sizes[NMSG - 1];
    uint8_t *msg = malloc(maxlen), *rbuf = malloc(maxlen);
    if (msg == NULL || rbuf == NULL)
        fail("%s: malloc(%zu) (expected memory, got NULL)", who, maxlen);
    for (size_t k = 0; k < NMSG; k++) {
        for (size_t i = 0; i < msg_sizes[k]; i++)
            msg[i] = pattern(k, i);
        if (mode == MODE_BLOCKING)
            exchange_blocking(fd, k, msg, rbuf);
        else
            exchange_nonblocking(fd, k, msg, rbuf);
        printf("ok: %s: %zu bytes echoed back identical (%s)\n", who, msg_sizes[k],
               mode_names[mode]);
    }
    free(msg);
    free(rbuf);

    if (shutdown(fd, SHUT_WR) != 0)
        fail_errno("shutdown(SHUT_WR)");
    expect_eof(fd);
    printf("ok: %s: shutdown(SHUT_WR), then the server closed: read -> 0 (EOF)\n", who);
    close_sock(fd);
}

/* ---- server ---- */

struct conn {
    int fd;
    int idx;
    bool active, eof, oneshot_seen;
    size_t len, off;
    uint64_t total;
    uint8_t buf[SERVER_BUF];
};

static struct conn *conns;
static int accepted, finished;
static uint16_t listen_port;
static long eagain_reads;
static uint64_t expected_total;

static int make_listener(bool loopback, long port)
{
    int fd = xsocket(SOCK_STREAM | (mode != MODE_BLOCKING ? SOCK_NONBLOCK : 0));
    struct sockaddr_in sa =
        bind_reuseaddr(fd, loopback ? INADDR_LOOPBACK : INADDR_ANY, (uint16_t)port);
    char a[32], a2[32];
    if (listen(fd, 64) != 0)
        fail_errno("listen");
    struct sockaddr_in got;
    get_name(fd, false, &got, "listening socket");
    if (got.sin_port != sa.sin_port || got.sin_addr.s_addr != sa.sin_addr.s_addr)
        fail("%s: getsockname of the listener (expected %s, got %s)", who,
             fmt_addr(&sa, a, sizeof a), fmt_addr(&got, a2, sizeof a2));
    listen_port = (uint16_t)port;
    printf("ok: %s: listening on %s (%s, %d client%s)\n", who, fmt_addr(&sa, a, sizeof a),
           mode_names[mode], nclients, nclients > 1 ? "s" : "");
    return fd;
}

/* Accepts one connection; -1 if a non-blocking listener had none. */
static int accept_one(int lfd)
{
    /* blocking mode alternates accept4(SOCK_CLOEXEC) and plain accept() */
    bool plain = mode == MODE_BLOCKING && accepted % 2 == 1;
    int flags = mode == MODE_BLOCKING ? SOCK_CLOEXEC : SOCK_NONBLOCK | SOCK_CLOEXEC;
    const char *how = plain                   ? "accept"
                      : flags == SOCK_CLOEXEC ? "accept4(SOCK_CLOEXEC)"
                                              : "accept4(SOCK_NONBLOCK|SOCK_CLOEXEC)";
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    memset(&peer, 0, sizeof peer);
    int fd = plain ? accept(lfd, (struct sockaddr *)&peer, &plen)
                   : accept4(lfd, (struct sockaddr *)&peer, &plen, flags);
    if (fd < 0) {
        if (mode != MODE_BLOCKING && (errno == EAGAIN || errno == EWOULDBLOCK))
            return -1;
        fail_errno("%s", how);
    }
    char a1[32], a2[32];
    if (plen != sizeof peer || peer.sin_family != AF_INET || peer.sin_port == 0)
        fail("%s: %s peer address (expected AF_INET with a port, got family %d port %u len %u)",
             who, how, peer.sin_family, (unsigned)ntohs(peer.sin_port), (unsigned)plen);

    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        fail_errno("fcntl(F_GETFL) on accepted socket");
    int fdfl = fcntl(fd, F_GETFD);
    if (fdfl < 0)
        fail_errno("fcntl(F_GETFD) on accepted socket");
    bool want_nb = !plain && (flags & SOCK_NONBLOCK), want_ce = !plain;
    if (!!(fl & O_NONBLOCK) != want_nb)
        fail("%s: %s: O_NONBLOCK in F_GETFL (expected %s, got %s)", who, how,
             want_nb ? "set" : "clear", fl & O_NONBLOCK ? "set" : "clear");
    if (!!(fdfl & FD_CLOEXEC) != want_ce)
        fail("%s: %s: FD_CLOEXEC in F_GETFD (expected %s, got %s)", who, how,
             want_ce ? "set" : "clear", fdfl & FD_CLOEXEC ? "set" : "clear");

    struct sockaddr_in p2, local;
    get_name(fd, true, &p2, "accepted socket");
    if (p2.sin_addr.s_addr != peer.sin_addr.s_addr || p2.sin_port != peer.sin_port)
        fail("%s: getpeername of accepted socket (expected %s as returned by accept, got %s)", who,
             fmt_addr(&peer, a1, sizeof a1), fmt_addr(&p2, a2, sizeof a2));
    get_name(fd, false, &local, "accepted socket");
    if (ntohs(local.sin_port) != listen_port || local.sin_addr.s_addr == htonl(INADDR_ANY))
        fail("%s: getsockname of accepted socket (expected a local address with port %u, got %s)",
             who, (unsigned)listen_port, fmt_addr(&local, a1, sizeof a1));
    accepted++;
    printf("ok: %s: %s: connection %d/%d from %s (peer port %u), local %s, O_NONBLOCK %s, "
           "FD_CLOEXEC %s\n",
           who, how, accepted, nclients, fmt_addr(&peer, a1, sizeof a1),
           (unsigned)ntohs(peer.sin_port), fmt_addr(&local, a2, sizeof a2),
           want_nb ? "set" : "clear", want_ce ? "set" : "clear");
    report_port('S', ntohs(peer.sin_port));
    return fd;
}

static void conn_done(struct conn *c)
{
    if (c->total != expected_total)
        fail("%s: connection %d: bytes received before EOF (expected %llu, got %llu)", who,
             c->idx + 1, (unsigned long long)expected_total, (unsigned long long)c->total);
    if (close(c->fd) != 0)
        fail_errno("close accepted socket");
    c->active = false;
    finished++;
    printf("ok: %s: connection %d: %llu bytes echoed, EOF, closed\n", who, c->idx + 1,
           (unsigned long long)c->total);
}

/* Reads and writes until both directions would block (or EOF and nothing is
 * pending, then the connection is closed).  Right for level- and
 * edge-triggered readiness alike. */
static void conn_progress(struct conn *c)
{
    for (;;) {
        bool progress = false;
        if (c->off < c->len) {
            ssize_t n = send(c->fd, c->buf + c->off, c->len - c->off, 0);
            if (n > 0) {
                c->off += (size_t)n;
                progress = true;
            } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                fail_errno("send echo on connection %d", c->idx + 1);
            }
        }
        if (c->off == c->len && !c->eof) {
            c->off = c->len = 0;
            ssize_t n = recv(c->fd, c->buf, sizeof c->buf, 0);
            if (n > 0) {
                c->len = (size_t)n;
                c->total += (uint64_t)n;
                progress = true;
            } else if (n == 0) {
                c->eof = true;
            } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                eagain_reads++;
            } else if (errno != EINTR) {
                fail_errno("recv on connection %d", c->idx + 1);
            }
        }
        if (c->eof && c->off == c->len) {
            conn_done(c);
            return;
        }
        if (!progress)
            return;
    }
}

static void serve_blocking(int lfd)
{
    static uint8_t buf[SERVER_BUF];
    while (accepted < nclients) {
        int fd = accept_one(lfd);
        uint64_t total = 0;
        for (;;) {
            ssize_t n = read(fd, buf, sizeof buf);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                fail_errno("read on connection %d", accepted);
            }
            if (n == 0)
                break;
            write_all(fd, buf, (size_t)n);
            total += (uint64_t)n;
        }
        struct conn c = {.fd = fd, .idx = accepted - 1, .total = total};
        conn_done(&c);
    }
}

static struct conn *new_conn(int fd)
{
    struct conn *c = &conns[accepted - 1];
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->idx = accepted - 1;
    c->active = true;
    return c;
}

static void serve_poll(int lfd)
{
    struct pollfd pfd[MAX_CLIENTS + 1];
    while (finished < nclients) {
        pfd[0].fd = accepted < nclients ? lfd : -1;
        pfd[0].events = POLLIN;
        for (int i = 0; i < accepted; i++) {
            struct conn *c = &conns[i];
            pfd[i + 1].fd = c->active ? c->fd : -1;
            pfd[i + 1].events = c->off < c->len ? POLLOUT : POLLIN;
        }
        int n = poll(pfd, (nfds_t)accepted + 1, WAIT_MS);
        if (n < 0)
            fail_errno("poll");
        if (n == 0)
            fail("%s: poll (expected an event within %d ms, got a timeout)", who, WAIT_MS);
        int was = accepted;
        for (int i = 0; i < was; i++)
            if (pfd[i + 1].fd >= 0 && pfd[i + 1].revents != 0) {
                if (pfd[i + 1].revents & POLLNVAL)
                    fail("%s: poll revents of connection %d (expected no POLLNVAL, got 0x%x)", who,
                         i + 1, (unsigned)pfd[i + 1].revents);
                conn_progress(&conns[i]);
            }
        if (pfd[0].fd >= 0 && (pfd[0].revents & POLLIN)) {
            int fd;
            while (accepted < nclients && (fd = accept_one(lfd)) >= 0)
                conn_progress(new_conn(fd));
        }
    }
}

static void serve_select(int lfd)
{
    if (lfd >= FD_SETSIZE)
        fail("%s: listener fd %d usable with select (expected < %d)", who, lfd, FD_SETSIZE);
    while (finished < nclients) {
        fd_set r, w;
        FD_ZERO(&r);
        FD_ZERO(&w);
        int maxfd = -1;
        if (accepted < nclients) {
            FD_SET(lfd, &r);
            maxfd = lfd;
        }
        for (int i = 0; i < accepted; i++) {
            struct conn *c = &conns[i];
            if (!c->active)
                continue;
            if (c->fd >= FD_SETSIZE)
                fail("%s: fd %d usable with select (expected < %d)", who, c->fd, FD_SETSIZE);
            FD_SET(c->fd, c->off < c->len ? &w : &r);
            if (c->fd > maxfd)
                maxfd = c->fd;
        }
        struct timeval tv = {.tv_sec = WAIT_MS / 1000, .tv_usec = 0};
        int n = select(maxfd + 1, &r, &w, NULL, &tv);
        if (n < 0)
            fail_errno("select");
        if (n == 0)
            fail("%s: select (expected an event within %d ms, got a timeout)", who, WAIT_MS);
        int was = accepted;
        for (int i = 0; i < was; i++) {
            struct conn *c = &conns[i];
            if (c->active && (FD_ISSET(c->fd, &r) || FD_ISSET(c->fd, &w)))
                conn_progress(c);
        }
        if (was < nclients && FD_ISSET(lfd, &r)) {
            int fd;
            while (accepted < nclients && (fd = accept_one(lfd)) >= 0)
                conn_progress(new_conn(fd));
        }
    }
}

/* Queue of epoll events still to handle: epoll_wait results, plus those
 * returned by the EPOLLONESHOT probe (which must not be lost). */
#define EPQ_CAP 8192
static struct epoll_event epq[EPQ_CAP];

static void serve_epoll(int lfd)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        fail_errno("epoll_create1");
    struct epoll_event e = {.events = EPOLLIN, .data.u32 = LISTEN_FD_TAG};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e) != 0)
        fail_errno("epoll_ctl(ADD, listener)");
    bool listening = true;
    int rearmed = 0;
    while (finished < nclients) {
        int n = epoll_wait(ep, epq, MAX_CLIENTS + 1, WAIT_MS);
        if (n < 0)
            fail_errno("epoll_wait");
        if (n == 0)
            fail("%s: epoll_wait (expected an event within %d ms, got a timeout)", who, WAIT_MS);
        for (int k = 0; k < n; k++) {
            uint32_t i = epq[k].data.u32;
            if (i == LISTEN_FD_TAG) {
                if (!listening)
                    continue; /* queued before it was removed */
                int fd;
                while (accepted < nclients && (fd = accept_one(lfd)) >= 0) {
                    struct conn *c = new_conn(fd);
                    /* first registration: one-shot, level-triggered */
                    struct epoll_event ce = {.events = EPOLLIN | EPOLLONESHOT,
                                             .data.u32 = (uint32_t)c->idx};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ce) != 0)
                        fail_errno("epoll_ctl(ADD, connection %d, EPOLLIN|EPOLLONESHOT)",
                                   c->idx + 1);
                }
                if (accepted == nclients) {
                    if (epoll_ctl(ep, EPOLL_CTL_DEL, lfd, NULL) != 0)
                        fail_errno("epoll_ctl(DEL, listener)");
                    listening = false;
                }
                continue;
            }
            if (i >= (uint32_t)accepted)
                fail("%s: epoll event data (expected a connection index < %d, got %u)", who,
                     accepted, i);
            struct conn *c = &conns[i];
            if (!c->active)
                continue; /* queued before the connection was closed */
            if (!c->oneshot_seen) {
                c->oneshot_seen = true;
                if (!(epq[k].events & EPOLLIN))
                    fail("%s: one-shot event of connection %d (expected EPOLLIN, got 0x%x)", who,
                         c->idx + 1, epq[k].events);
                /* Nothing was read yet, so a level-triggered registration
                 * would report the socket again: a one-shot one must not.
                 * Other events returned by this probe are queued. */
                int room = EPQ_CAP - n < MAX_CLIENTS + 1 ? EPQ_CAP - n : MAX_CLIENTS + 1;
                if (room <= 0)
                    fail("%s: epoll event queue (expected room, got full)", who);
                int m = epoll_wait(ep, epq + n, room, 0);
                if (m < 0)
                    fail_errno("epoll_wait(timeout 0)");
                for (int j = n; j < n + m; j++)
                    if (epq[j].data.u32 == i)
                        fail("%s: EPOLLONESHOT connection %d reported again before re-arming "
                             "(expected no event, got 0x%x)",
                             who, c->idx + 1, epq[j].events);
                n += m;
                struct epoll_event ce = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                         .data.u32 = i};
                if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ce) != 0)
                    fail_errno("epoll_ctl(MOD, connection %d, EPOLLIN|EPOLLOUT|EPOLLET)",
                               c->idx + 1);
                rearmed++;
                printf("ok: %s: connection %d: EPOLLONESHOT event, not reported again, re-armed "
                       "edge-triggered with EPOLL_CTL_MOD\n",
                       who, c->idx + 1);
            }
            conn_progress(c);
        }
    }
    if (close(ep) != 0)
        fail_errno("close(epoll fd)");
    if (rearmed != nclients)
        fail("%s: connections re-armed with EPOLL_CTL_MOD (expected %d, got %d)", who, nclients,
             rearmed);
    if (eagain_reads < nclients)
        fail("%s: edge-triggered reads ending in EAGAIN (expected >= %d, got %ld)", who, nclients,
             eagain_reads);
    printf("ok: %s: edge-triggered sockets read until EAGAIN (%ld times)\n", who, eagain_reads);
}

static void run_server(bool loopback, long port)
{
    snprintf(who, sizeof who, "server");
    for (size_t k = 0; k < NMSG; k++)
        expected_total += msg_sizes[k];
    conns = calloc((size_t)nclients, sizeof *conns);
    if (conns == NULL)
        fail("%s: calloc (expected memory, got NULL)", who);
    int lfd = make_listener(loopback, port);
    switch (mode) {
    case MODE_BLOCKING: serve_blocking(lfd); break;
    case MODE_POLL: serve_poll(lfd); break;
    case MODE_SELECT: serve_select(lfd); break;
    case MODE_EPOLL: serve_epoll(lfd); break;
    }
    if (close(lfd) != 0)
        fail_errno("close(listener)");
    free(conns);
    printf("ok: %s: served %d connection%s\n", who, nclients, nclients > 1 ? "s" : "");
}

/* ---- "both": compare the ports reported through the pipe ---- */

static int cmp_uint(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return x < y ? -1 : x > y;
}

static void check_reports(int rfd)
{
    char text[4096];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(rfd, text + len, sizeof text - 1 - len);
        if (n < 0)
            fail_errno("read port reports");
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == sizeof text - 1)
            fail("%s: port reports (expected < %zu bytes, got more)", who, sizeof text);
    }
    text[len] = '\0';
    unsigned cp[MAX_CLIENTS], sp[MAX_CLIENTS];
    int nc = 0, ns = 0;
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char role;
        unsigned port;
        if (sscanf(line, "%c %u", &role, &port) != 2 || (role != 'C' && role != 'S'))
            fail("%s: port report line (expected \"C|S PORT\", got \"%s\")", who, line);
        if (role == 'C' && nc < MAX_CLIENTS)
            cp[nc++] = port;
        else if (role == 'S' && ns < MAX_CLIENTS)
            sp[ns++] = port;
    }
    if (nc != nclients || ns != nclients)
        fail("%s: port reports (expected %d from clients and from the server, got %d and %d)", who,
             nclients, nc, ns);
    qsort(cp, (size_t)nc, sizeof cp[0], cmp_uint);
    qsort(sp, (size_t)ns, sizeof sp[0], cmp_uint);
    for (int i = 0; i < nc; i++)
        if (cp[i] != sp[i])
            fail("%s: peer ports seen by the server (expected the clients' local ports, "
                 "sorted %u at %d, got %u)",
                 who, cp[i], i, sp[i]);
    printf("ok: peer ports of the accepted sockets == the clients' local ports (%d)\n", nc);
}

static _Noreturn void usage(void)
{
    fprintf(stderr,
            "usage: %s [--mode blocking|poll|select|epoll] [--clients N] both [virtual]\n"
            "       %s [--mode M] [--clients N] server PORT [virtual]\n"
            "       %s [--mode M] [--clients N] client HOST PORT [virtual]\n",
            argv0, argv0, argv0);
    exit(2);
}

int main(int argc, char **argv)
{
    argv0 = argc > 0 ? argv[0] : "net_tcp_echo";
    snprintf(who, sizeof who, "net_tcp_echo"); /* until a role names itself */
    setvbuf(stdout, NULL, _IOLBF, 0);
    int i = 1;
    while (i < argc && strncmp(argv[i], "--", 2) == 0) {
        long v;
        if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
            int m = 0;
            while (m < 4 && strcmp(argv[i + 1], mode_names[m]) != 0)
                m++;
            if (m == 4)
                usage();
            mode = (enum mode)m;
        } else if (strcmp(argv[i], "--clients") == 0 && i + 1 < argc &&
                   parse_int(argv[i + 1], 1, MAX_CLIENTS, &v)) {
            nclients = (int)v;
        } else {
            usage();
        }
        i += 2;
    }
    struct role_args ra;
    if (!parse_role(argc, argv, i, &ra))
        usage();
    virt = ra.virt;
    long port = ra.port;
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        fail_errno("signal(SIGPIPE, SIG_IGN)");
    kill_kids_at_exit();
    printf("net_tcp_echo: %s, %s mode, %s, %d client%s\n", ra.name, virt ? "virtual" : "native",
           mode_names[mode], nclients, nclients > 1 ? "s" : "");

    if (ra.role == ROLE_SERVER) {
        run_server(false, port);
    } else if (ra.role == ROLE_CLIENT) {
        struct sockaddr_in srv;
        resolve(ra.host, port, SOCK_STREAM, &srv);
        run_clients(&srv, nclients, run_client);
    } else {
        if (!both_port(SOCK_STREAM, &port))
            usage();
        int rep[2];
        if (pipe2(rep, O_CLOEXEC) != 0)
            fail_errno("pipe2");
        pid_t pid = xfork();
        if (pid == 0) {
            if (close(rep[0]) != 0)
                fail_errno("close(pipe read end)");
            report_fd = rep[1];
            run_server(true, port);
            exit(0);
        }
        kids[nkids++] = pid;
        report_fd = rep[1];
        struct sockaddr_in srv = make_sockaddr(INADDR_LOOPBACK, (uint16_t)port);
        run_clients(&srv, nclients, run_client);
        snprintf(who, sizeof who, "both");
        reap(0, "server child process");
        nkids = 0;
        if (close(rep[1]) != 0)
            fail_errno("close(pipe write end)");
        check_reports(rep[0]);
        if (close(rep[0]) != 0)
            fail_errno("close(pipe read end)");
    }
    printf("net_tcp_echo: all checks passed\n");
    return 0;
}
