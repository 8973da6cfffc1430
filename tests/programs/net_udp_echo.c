/* net_udp_echo: self-checking UDP echo server and client.
 *
 * Usage: net_udp_echo [--clients N] both [virtual]
 *        net_udp_echo [--clients N] server PORT [virtual]
 *        net_udp_echo [--clients N] client HOST PORT [virtual]
 *
 * The server echoes every datagram back to its sender (recvmsg/sendto) until
 * it has received N "quit" datagrams (default 1), which it echoes too.  The
 * client first waits for the server with a connect()ed "ping" socket
 * (50 tries, 20 ms apart, on ECONNREFUSED or no answer within 200 ms), then,
 * with SO_RCVTIMEO 2 s so that a lost datagram fails instead of hanging:
 *  - sendto/recvfrom of 1, 100, 1400, 8000 and 60000 bytes: exact echo, from
 *    the server's address;
 *  - datagram boundaries: recv into 100 bytes truncates a 1000-byte datagram
 *    and discards the rest; recv(MSG_TRUNC) returns the real length;
 *    recvmsg sets MSG_TRUNC in msg_flags;
 *  - sendmsg/recvmsg with 2-element iovecs (scatter/gather, msg_name);
 *  - MSG_PEEK then a normal recv return the same datagram, then EAGAIN;
 *  - a connect()ed socket: getpeername, send/recv and write/read.
 * With --clients N a client process runs N clients at once (N-1 forked).
 *
 * "both" forks: the child is the server, the parent the client(s), over
 * 127.0.0.1 on port $NET_TEST_PORT or 40000 + pid % 20000.  "virtual" (run
 * under Simterpose) adds no check here: all checks are functional.
 * Exit status: 0 on success, 1 on a failed check (one "FAIL: ..." line on
 * stderr), 2 on a usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "nettest.h"
#include "selfcheck.h"

#define PING_TRIES 50
#define PING_PAUSE_NS 20000000L
#define PING_TIMEOUT_US 200000
#define RECV_TIMEOUT_S 2
#define MAX_DGRAM 65536

static const char QUIT[] = "net_udp_echo quit";
static const size_t dgram_sizes[] = {1, 100, 1400, 8000, 60000};
#define NSIZES (sizeof dgram_sizes / sizeof dgram_sizes[0])

static int nclients = 1;
static bool virt;
static const char *argv0;
static uint8_t sbuf[MAX_DGRAM], rbuf[MAX_DGRAM];

static bool same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
    return a->sin_family == b->sin_family && a->sin_port == b->sin_port &&
           a->sin_addr.s_addr == b->sin_addr.s_addr;
}

static void set_rcvtimeo(int fd, long usec)
{
    struct timeval tv = {.tv_sec = usec / 1000000, .tv_usec = usec % 1000000};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
        fail_errno("setsockopt(SO_RCVTIMEO, %ld us)", usec);
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(seed * 29 + i * 11 + (i >> 9) * 5 + 3);
}

static void check_bytes(const char *what, const uint8_t *want, const uint8_t *got, size_t len)
{
    if (memcmp(want, got, len) == 0)
        return;
    size_t i = 0;
    while (want[i] == got[i])
        i++;
    fail("%s: %s: byte %zu (expected 0x%02x, got 0x%02x)", who, what, i, want[i], got[i]);
}

static void check_len(const char *what, ssize_t got, size_t want)
{
    if (got < 0)
        fail_errno("%s", what);
    if ((size_t)got != want)
        fail("%s: %s (expected %zu bytes, got %zd)", who, what, want, got);
}

/* ---- server ---- */

static void run_server(bool loopback, long port)
{
    snprintf(who, sizeof who, "server");
    int fd = xsocket(SOCK_DGRAM);
    struct sockaddr_in sa =
        bind_reuseaddr(fd, loopback ? INADDR_LOOPBACK : INADDR_ANY, (uint16_t)port);
    char a[32];
    printf("ok: %s: bound to %s, waiting for %d client%s\n", who, fmt_addr(&sa, a, sizeof a),
           nclients, nclients > 1 ? "s" : "");

    long count = 0, quits = 0;
    unsigned long long bytes = 0;
    while (quits < nclients) {
        struct sockaddr_in from;
        struct iovec iov = {.iov_base = rbuf, .iov_len = sizeof rbuf};
        struct msghdr mh;
        memset(&mh, 0, sizeof mh);
        memset(&from, 0, sizeof from);
        mh.msg_name = &from;
        mh.msg_namelen = sizeof from;
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        ssize_t n = recvmsg(fd, &mh, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fail_errno("recvmsg");
        }
        if (mh.msg_flags & MSG_TRUNC)
            fail("%s: recvmsg into %zu bytes (expected a whole datagram, got MSG_TRUNC)", who,
                 sizeof rbuf);
        if (mh.msg_namelen != sizeof from || from.sin_family != AF_INET || from.sin_port == 0)
            fail("%s: recvmsg source address (expected AF_INET with a port, got family %d, "
                 "length %u)",
                 who, from.sin_family, (unsigned)mh.msg_namelen);
        ssize_t w = sendto(fd, rbuf, (size_t)n, 0, (struct sockaddr *)&from, sizeof from);
        if (w < 0)
            fail_errno("sendto(%s, %zd bytes)", fmt_addr(&from, a, sizeof a), n);
        if (w != n)
            fail("%s: sendto (expected %zd bytes, got %zd)", who, n, w);
        count++;
        bytes += (unsigned long long)n;
        if ((size_t)n == sizeof QUIT - 1 && memcmp(rbuf, QUIT, sizeof QUIT - 1) == 0) {
            quits++;
            printf("ok: %s: quit %ld/%d from %s\n", who, quits, nclients,
                   fmt_addr(&from, a, sizeof a));
        }
    }
    xclose(fd);
    printf("ok: %s: echoed %ld datagrams (%llu bytes)\n", who, count, bytes);
}

/* ---- client ---- */

/* Waits until the server answers; the ping socket is then closed so that
 * late answers to earlier pings cannot reach the test sockets. */
static void wait_for_server(const struct sockaddr_in *srv)
{
    char a[32];
    int fd = xsocket(SOCK_DGRAM);
    if (connect(fd, (const struct sockaddr *)srv, sizeof *srv) != 0)
        fail_errno("connect(UDP ping socket, %s)", fmt_addr(srv, a, sizeof a));
    set_rcvtimeo(fd, PING_TIMEOUT_US);
    for (int t = 1;; t++) {
        char ping[32];
        int len = snprintf(ping, sizeof ping, "net_udp_echo ping %d", t);
        ssize_t n = send(fd, ping, (size_t)len, 0);
        if (n < 0 && errno != ECONNREFUSED)
            fail_errno("send(ping %d)", t);
        if (n >= 0) {
            if (n != len)
                fail("%s: send(ping) (expected %d bytes, got %zd)", who, len, n);
            for (;;) {
                n = recv(fd, rbuf, sizeof rbuf, 0);
                if (n < 0)
                    break;
                /* an answer to this ping or to an earlier one: the server is up */
                if (n >= 18 && memcmp(rbuf, "net_udp_echo ping ", 18) == 0) {
                    xclose(fd);
                    printf("ok: %s: server %s answered ping %d\n", who, fmt_addr(srv, a, sizeof a),
                           t);
                    return;
                }
            }
            if (errno != ECONNREFUSED && errno != EAGAIN && errno != EWOULDBLOCK &&
                errno != EINTR)
                fail_errno("recv(ping %d answer)", t);
        }
        if (t == PING_TRIES)
            fail("%s: ping %s (expected an answer within %d tries, got none)", who,
                 fmt_addr(srv, a, sizeof a), PING_TRIES);
        pause_ns(PING_PAUSE_NS);
    }
}

static void recv_from_server(int fd, const struct sockaddr_in *srv, void *buf, size_t len,
                             int flags, ssize_t *n, const char *what)
{
    struct sockaddr_in from;
    socklen_t flen = sizeof from;
    char a1[32], a2[32];
    memset(&from, 0, sizeof from);
    *n = recvfrom(fd, buf, len, flags, (struct sockaddr *)&from, &flen);
    if (*n < 0)
        fail_errno("%s", what);
    if (flen != sizeof from || !same_addr(&from, srv))
        fail("%s: %s: source address (expected %s, got %s, length %u)", who, what,
             fmt_addr(srv, a1, sizeof a1), fmt_addr(&from, a2, sizeof a2), (unsigned)flen);
}

static void send_to_server(int fd, const struct sockaddr_in *srv, size_t len, unsigned seed)
{
    fill(sbuf, len, seed);
    ssize_t n = sendto(fd, sbuf, len, 0, (const struct sockaddr *)srv, sizeof *srv);
    check_len("sendto", n, len);
}

static void test_sizes(int fd, const struct sockaddr_in *srv)
{
    for (size_t k = 0; k < NSIZES; k++) {
        size_t len = dgram_sizes[k];
        char what[64];
        snprintf(what, sizeof what, "echo of a %zu-byte datagram", len);
        send_to_server(fd, srv, len, (unsigned)k + 1);
        ssize_t n;
        recv_from_server(fd, srv, rbuf, sizeof rbuf, 0, &n, what);
        check_len(what, n, len);
        check_bytes(what, sbuf, rbuf, len);
        printf("ok: %s: sendto/recvfrom %zu bytes: same datagram back, from the server\n", who,
               len);
    }
}

static void test_truncation(int fd, const struct sockaddr_in *srv)
{
    ssize_t n;
    /* plain recv into a smaller buffer: truncated, the rest is discarded */
    send_to_server(fd, srv, 1000, 10);
    recv_from_server(fd, srv, rbuf, 100, 0, &n, "recvfrom(100-byte buffer) of 1000 bytes");
    check_len("recvfrom(100-byte buffer) of a 1000-byte datagram", n, 100);
    check_bytes("truncated datagram", sbuf, rbuf, 100);
    send_to_server(fd, srv, 10, 11);
    recv_from_server(fd, srv, rbuf, sizeof rbuf, 0, &n, "recvfrom after a truncated datagram");
    check_len("recvfrom of the next (10-byte) datagram after a truncated one", n, 10);
    check_bytes("next datagram after a truncated one", sbuf, rbuf, 10);
    printf("ok: %s: 1000-byte datagram read into 100 bytes -> 100, rest discarded "
           "(next recv -> next datagram)\n",
           who);

    /* MSG_TRUNC returns the real length */
    send_to_server(fd, srv, 1000, 12);
    recv_from_server(fd, srv, rbuf, 100, MSG_TRUNC, &n, "recvfrom(100 bytes, MSG_TRUNC)");
    check_len("recvfrom(100-byte buffer, MSG_TRUNC) of a 1000-byte datagram", n, 1000);
    check_bytes("datagram read with MSG_TRUNC", sbuf, rbuf, 100);
    printf("ok: %s: recv(100-byte buffer, MSG_TRUNC) of a 1000-byte datagram -> 1000\n", who);

    /* recvmsg reports MSG_TRUNC in msg_flags */
    send_to_server(fd, srv, 500, 13);
    struct iovec iov = {.iov_base = rbuf, .iov_len = 100};
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    n = recvmsg(fd, &mh, 0);
    check_len("recvmsg(100-byte iovec) of a 500-byte datagram", n, 100);
    if (!(mh.msg_flags & MSG_TRUNC))
        fail("%s: recvmsg of a truncated datagram: msg_flags (expected MSG_TRUNC, got 0x%x)", who,
             (unsigned)mh.msg_flags);
    check_bytes("datagram read with recvmsg", sbuf, rbuf, 100);
    printf("ok: %s: recvmsg(100-byte iovec) of a 500-byte datagram -> 100, MSG_TRUNC in "
           "msg_flags\n",
           who);
}

static void test_iovecs(int fd, const struct sockaddr_in *srv)
{
    char a1[32], a2[32];
    fill(sbuf, 1000, 20);
    struct iovec out[2] = {{.iov_base = sbuf, .iov_len = 10},
                           {.iov_base = sbuf + 10, .iov_len = 990}};
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_name = (void *)srv;
    mh.msg_namelen = sizeof *srv;
    mh.msg_iov = out;
    mh.msg_iovlen = 2;
    check_len("sendmsg(iovecs of 10 + 990 bytes)", sendmsg(fd, &mh, 0), 1000);

    static uint8_t part1[300], part2[2000];
    memset(part1, 0, sizeof part1);
    memset(part2, 0, sizeof part2);
    struct iovec in[2] = {{.iov_base = part1, .iov_len = sizeof part1},
                          {.iov_base = part2, .iov_len = sizeof part2}};
    struct sockaddr_in from;
    memset(&from, 0, sizeof from);
    memset(&mh, 0, sizeof mh);
    mh.msg_name = &from;
    mh.msg_namelen = sizeof from;
    mh.msg_iov = in;
    mh.msg_iovlen = 2;
    check_len("recvmsg(iovecs of 300 + 2000 bytes)", recvmsg(fd, &mh, 0), 1000);
    if (mh.msg_flags != 0)
        fail("%s: recvmsg of a whole datagram: msg_flags (expected 0, got 0x%x)", who,
             (unsigned)mh.msg_flags);
    if (mh.msg_namelen != sizeof from || !same_addr(&from, srv))
        fail("%s: recvmsg msg_name (expected %s, got %s, length %u)", who,
             fmt_addr(srv, a1, sizeof a1), fmt_addr(&from, a2, sizeof a2),
             (unsigned)mh.msg_namelen);
    check_bytes("recvmsg first iovec", sbuf, part1, 300);
    check_bytes("recvmsg second iovec", sbuf + 300, part2, 700);
    printf("ok: %s: sendmsg(10 + 990 bytes) / recvmsg(300 + 2000): 300 + 700 bytes in order, "
           "msg_name = server, msg_flags 0\n",
           who);
}

static void test_peek(int fd, const struct sockaddr_in *srv)
{
    static uint8_t peek[MAX_DGRAM];
    ssize_t n;
    send_to_server(fd, srv, 777, 30);
    recv_from_server(fd, srv, peek, sizeof peek, MSG_PEEK, &n, "recvfrom(MSG_PEEK)");
    check_len("recvfrom(MSG_PEEK) of a 777-byte datagram", n, 777);
    check_bytes("peeked datagram", sbuf, peek, 777);
    recv_from_server(fd, srv, peek, 10, MSG_PEEK, &n, "second recvfrom(MSG_PEEK, 10 bytes)");
    check_len("second recvfrom(MSG_PEEK, 10-byte buffer)", n, 10);
    recv_from_server(fd, srv, rbuf, sizeof rbuf, 0, &n, "recvfrom after MSG_PEEK");
    check_len("recvfrom after MSG_PEEK", n, 777);
    check_bytes("datagram read after MSG_PEEK", sbuf, rbuf, 777);
    n = recv(fd, rbuf, sizeof rbuf, MSG_DONTWAIT);
    if (n != -1 || (errno != EAGAIN && errno != EWOULDBLOCK))
        fail("%s: recv(MSG_DONTWAIT) after reading the peeked datagram (expected -1 EAGAIN, "
             "got %zd errno=%d %s)",
             who, n, n < 0 ? errno : 0, n < 0 ? errname(errno) : "none");
    printf("ok: %s: MSG_PEEK (twice) then recv return the same 777-byte datagram, then "
           "EAGAIN\n",
           who);
}

static void test_connected(const struct sockaddr_in *srv)
{
    char a1[32], a2[32];
    int fd = xsocket(SOCK_DGRAM);
    set_rcvtimeo(fd, RECV_TIMEOUT_S * 1000000L);
    if (connect(fd, (const struct sockaddr *)srv, sizeof *srv) != 0)
        fail_errno("connect(UDP socket, %s)", fmt_addr(srv, a1, sizeof a1));
    struct sockaddr_in peer, local;
    socklen_t len = sizeof peer;
    if (getpeername(fd, (struct sockaddr *)&peer, &len) != 0)
        fail_errno("getpeername(connected UDP socket)");
    if (len != sizeof peer || !same_addr(&peer, srv))
        fail("%s: getpeername of connected UDP socket (expected %s, got %s)", who,
             fmt_addr(srv, a1, sizeof a1), fmt_addr(&peer, a2, sizeof a2));
    len = sizeof local;
    if (getsockname(fd, (struct sockaddr *)&local, &len) != 0)
        fail_errno("getsockname(connected UDP socket)");
    if (len != sizeof local || local.sin_family != AF_INET || local.sin_port == 0 ||
        local.sin_addr.s_addr == htonl(INADDR_ANY))
        fail("%s: getsockname of connected UDP socket (expected an address and port, got %s)",
             who, fmt_addr(&local, a1, sizeof a1));
    printf("ok: %s: connected UDP socket: getsockname %s, getpeername %s\n", who,
           fmt_addr(&local, a1, sizeof a1), fmt_addr(&peer, a2, sizeof a2));

    static const size_t sizes[] = {100, 8000};
    for (size_t k = 0; k < 2; k++) {
        fill(sbuf, sizes[k], 40 + (unsigned)k);
        check_len("send on connected UDP socket", send(fd, sbuf, sizes[k], 0), sizes[k]);
        ssize_t n = recv(fd, rbuf, sizeof rbuf, 0);
        check_len("recv on connected UDP socket", n, sizes[k]);
        check_bytes("echo on connected UDP socket", sbuf, rbuf, sizes[k]);
    }
    fill(sbuf, 1400, 42);
    check_len("write on connected UDP socket", write(fd, sbuf, 1400), 1400);
    check_len("read on connected UDP socket", read(fd, rbuf, sizeof rbuf), 1400);
    check_bytes("echo read on connected UDP socket", sbuf, rbuf, 1400);
    xclose(fd);
    printf("ok: %s: connected UDP socket: send/recv 100 and 8000 bytes, write/read 1400 bytes\n",
           who);
}

static void run_client(const struct sockaddr_in *srv, int idx)
{
    snprintf(who, sizeof who, "client %d", idx + 1);
    wait_for_server(srv);
    int fd = xsocket(SOCK_DGRAM);
    set_rcvtimeo(fd, RECV_TIMEOUT_S * 1000000L);
    test_sizes(fd, srv);
    test_truncation(fd, srv);
    test_iovecs(fd, srv);
    test_peek(fd, srv);
    test_connected(srv);

    ssize_t n = sendto(fd, QUIT, sizeof QUIT - 1, 0, (const struct sockaddr *)srv, sizeof *srv);
    check_len("sendto(quit)", n, sizeof QUIT - 1);
    recv_from_server(fd, srv, rbuf, sizeof rbuf, 0, &n, "recvfrom(quit echo)");
    check_len("quit echo", n, sizeof QUIT - 1);
    check_bytes("quit echo", (const uint8_t *)QUIT, rbuf, sizeof QUIT - 1);
    xclose(fd);
    printf("ok: %s: quit acknowledged by the server\n", who);
}

static _Noreturn void usage(void)
{
    fprintf(stderr,
            "usage: %s [--clients N] both [virtual]\n"
            "       %s [--clients N] server PORT [virtual]\n"
            "       %s [--clients N] client HOST PORT [virtual]\n",
            argv0, argv0, argv0);
    exit(2);
}

int main(int argc, char **argv)
{
    argv0 = argc > 0 ? argv[0] : "net_udp_echo";
    snprintf(who, sizeof who, "net_udp_echo");
    eagain_is_timeout = true;
    setvbuf(stdout, NULL, _IOLBF, 0);
    int i = 1;
    while (i < argc && strncmp(argv[i], "--", 2) == 0) {
        long v;
        if (strcmp(argv[i], "--clients") == 0 && i + 1 < argc &&
            parse_int(argv[i + 1], 1, MAX_CLIENTS, &v))
            nclients = (int)v;
        else
            usage();
        i += 2;
    }
    struct role_args ra;
    if (!parse_role(argc, argv, i, &ra))
        usage();
    virt = ra.virt;
    long port = ra.port;
    kill_kids_at_exit();
    printf("net_udp_echo: %s, %s mode, %d client%s\n", ra.name, virt ? "virtual" : "native",
           nclients, nclients > 1 ? "s" : "");

    if (ra.role == ROLE_SERVER) {
        run_server(false, port);
    } else if (ra.role == ROLE_CLIENT) {
        struct sockaddr_in srv;
        resolve(ra.host, port, SOCK_DGRAM, &srv);
        run_clients(&srv, nclients, run_client);
    } else {
        if (!both_port(SOCK_DGRAM, &port))
            usage();
        pid_t pid = xfork();
        if (pid == 0) {
            run_server(true, port);
            exit(0);
        }
        kids[nkids++] = pid;
        struct sockaddr_in srv = make_sockaddr(INADDR_LOOPBACK, (uint16_t)port);
        run_clients(&srv, nclients, run_client);
        snprintf(who, sizeof who, "both");
        reap(0, "server child process");
        nkids = 0;
    }
    printf("net_udp_echo: all checks passed\n");
    return 0;
}
