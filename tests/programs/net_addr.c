/* net_addr: self-checking test of addresses seen by TCP sockets: name
 * resolution, wildcard and loopback listeners, the host's own address.
 *
 * Usage: net_addr [virtual] [HOSTNAME=IP ...]
 *
 * Every HOSTNAME must resolve (getaddrinfo, AF_INET) to IP.  Then, in one
 * process:
 *  - a listener bound to 0.0.0.0 accepts a connection to 127.0.0.1, and a
 *    listener bound to 127.0.0.1 one to 127.0.0.1: on both sides
 *    getsockname/getpeername give 127.0.0.1 and the matching ports;
 *  - if a HOSTNAME=IP is given for this host's own name (gethostname()) and
 *    IP is not a loopback address: a connection to IP reaches the 0.0.0.0
 *    listener and both sides see IP (not 127.0.0.1); the 127.0.0.1 listener is
 *    not reachable on IP and a listener bound to IP is not reachable on
 *    127.0.0.1 (ECONNREFUSED), while it is on IP.
 * Natively with no argument only the loopback part runs.  "virtual" (run under
 * Simterpose) adds no check here: all checks are functional.
 * Exit status: 0 on success, 1 on a failed check (one "FAIL: ..." line on
 * stderr), 2 on a usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "nettest.h"
#include "selfcheck.h"

static bool virt;
static const char *argv0;

static const char *fmt_ip(struct in_addr ip, char *buf, size_t len)
{
    if (inet_ntop(AF_INET, &ip, buf, (socklen_t)len) == NULL)
        snprintf(buf, len, "?");
    return buf;
}

/* ip in network byte order, as resolved and printed here */
static struct sockaddr_in sockaddr_of(struct in_addr ip, uint16_t port)
{
    return make_sockaddr(ntohl(ip.s_addr), port);
}

static void expect_addr(const char *what, const struct sockaddr_in *got, struct in_addr ip,
                        uint16_t port /* 0: any nonzero port */)
{
    char a1[32], a2[32];
    if (got->sin_addr.s_addr != ip.s_addr || (port != 0 && ntohs(got->sin_port) != port) ||
        got->sin_port == 0) {
        struct sockaddr_in want = sockaddr_of(ip, port);
        fail("%s (expected %s%s, got %s)", what, fmt_addr(&want, a1, sizeof a1),
             port == 0 ? " with any port != 0" : "", fmt_addr(got, a2, sizeof a2));
    }
}

static void check_resolution(const char *name, const char *ipstr)
{
    struct in_addr want;
    char got[INET_ADDRSTRLEN];
    if (inet_pton(AF_INET, ipstr, &want) != 1) {
        fprintf(stderr, "net_addr: \"%s\" is not an IPv4 address\n", ipstr);
        exit(2);
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(name, NULL, &hints, &res);
    if (rc != 0)
        fail("getaddrinfo(\"%s\", AF_INET) (expected 0, got %d %s)", name, rc,
             rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    if (res == NULL || res->ai_family != AF_INET || res->ai_addrlen != sizeof(struct sockaddr_in))
        fail("getaddrinfo(\"%s\", AF_INET) (expected an IPv4 address, got none)", name);
    struct in_addr ip = ((const struct sockaddr_in *)(const void *)res->ai_addr)->sin_addr;
    freeaddrinfo(res);
    if (ip.s_addr != want.s_addr)
        fail("getaddrinfo(\"%s\") first IPv4 address (expected %s, got %s)", name, ipstr,
             fmt_ip(ip, got, sizeof got));
    printf("ok: getaddrinfo(\"%s\") -> %s\n", name, ipstr);
}

static int listener(struct in_addr ip, uint16_t *port)
{
    char a[32];
    int fd = xsocket(SOCK_STREAM);
    struct sockaddr_in sa = sockaddr_of(ip, 0);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        fail_errno("bind(%s)", fmt_addr(&sa, a, sizeof a));
    if (listen(fd, 4) != 0)
        fail_errno("listen on %s", fmt_addr(&sa, a, sizeof a));
    struct sockaddr_in got;
    get_name(fd, false, &got, "listener");
    expect_addr("getsockname of a listener bound to port 0", &got, ip, 0);
    *port = ntohs(got.sin_port);
    return fd;
}

/* Connects to ip:port, accepts on l (bound to lip:port) and checks the
 * addresses seen on both sides, then exchanges a byte each way. */
static void connect_check(int l, struct in_addr lip, struct in_addr ip, uint16_t port)
{
    char a1[32], a2[32], l1[32];
    struct sockaddr_in dst = sockaddr_of(ip, port), lsa = sockaddr_of(lip, port);
    fmt_addr(&lsa, l1, sizeof l1);
    int c = xsocket(SOCK_STREAM);
    if (connect(c, (struct sockaddr *)&dst, sizeof dst) != 0)
        fail_errno("connect(%s) to a listener on %s", fmt_addr(&dst, a1, sizeof a1), l1);
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    memset(&peer, 0, sizeof peer);
    int s = accept(l, (struct sockaddr *)&peer, &plen);
    if (s < 0)
        fail_errno("accept on %s", l1);
    if (plen != sizeof peer || peer.sin_family != AF_INET)
        fail("accept address (expected AF_INET, length %zu, got family %d, length %u)",
             sizeof peer, peer.sin_family, (unsigned)plen);

    struct sockaddr_in c_local, c_peer, s_local, s_peer;
    get_name(c, false, &c_local, "connecting socket");
    get_name(c, true, &c_peer, "connecting socket");
    get_name(s, false, &s_local, "accepted socket");
    get_name(s, true, &s_peer, "accepted socket");
    expect_addr("getpeername of the connecting socket", &c_peer, ip, port);
    expect_addr("getsockname of the connecting socket", &c_local, ip, 0);
    expect_addr("peer address returned by accept", &peer, ip, ntohs(c_local.sin_port));
    expect_addr("getpeername of the accepted socket", &s_peer, ip, ntohs(c_local.sin_port));
    expect_addr("getsockname of the accepted socket", &s_local, ip, port);

    char b = 'x';
    if (write(c, &b, 1) != 1 || read(s, &b, 1) != 1 || b != 'x' || write(s, "y", 1) != 1 ||
        read(c, &b, 1) != 1 || b != 'y')
        fail("one byte each way over the connection to %s (expected 'x' and 'y', got errno=%d)",
             fmt_addr(&dst, a1, sizeof a1), errno);
    xclose(c);
    xclose(s);
    char a3[32], a4[32];
    printf("ok: listener on %s: connection to %s accepted from %s; getsockname/getpeername: "
           "client %s -> %s, server %s <- %s\n",
           l1, fmt_addr(&dst, a1, sizeof a1), fmt_addr(&peer, a2, sizeof a2),
           fmt_addr(&c_local, a3, sizeof a3), fmt_addr(&c_peer, a4, sizeof a4), a4, a3);
}

static void expect_refused(struct in_addr ip, uint16_t port, const char *why)
{
    char a[32];
    struct sockaddr_in dst = sockaddr_of(ip, port);
    int c = xsocket(SOCK_STREAM);
    int r = connect(c, (struct sockaddr *)&dst, sizeof dst);
    int e = errno;
    if (r != -1 || e != ECONNREFUSED)
        fail("connect(%s) %s (expected -1 ECONNREFUSED, got %d errno=%d %s)",
             fmt_addr(&dst, a, sizeof a), why, r, r == -1 ? e : 0, r == -1 ? errname(e) : "none");
    xclose(c);
    printf("ok: connect(%s) %s -> ECONNREFUSED\n", fmt_addr(&dst, a, sizeof a), why);
}

static _Noreturn void usage(void)
{
    fprintf(stderr, "usage: %s [virtual] [HOSTNAME=IP ...]\n", argv0);
    exit(2);
}

int main(int argc, char **argv)
{
    argv0 = argc > 0 ? argv[0] : "net_addr";
    setvbuf(stdout, NULL, _IOLBF, 0);
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "virtual") == 0) {
        virt = true;
        first = 2;
    }
    for (int i = first; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (eq == NULL || eq == argv[i] || eq[1] == '\0')
            usage();
    }
    printf("net_addr: %s mode\n", virt ? "virtual" : "native");

    char host[HOST_NAME_MAX + 1];
    if (gethostname(host, sizeof host) != 0)
        fail_errno("gethostname");
    host[sizeof host - 1] = '\0';
    struct in_addr own = {.s_addr = htonl(INADDR_ANY)};
    for (int i = first; i < argc; i++) {
        char name[512];
        const char *eq = strchr(argv[i], '=');
        size_t n = (size_t)(eq - argv[i]);
        if (n >= sizeof name)
            usage();
        memcpy(name, argv[i], n);
        name[n] = '\0';
        check_resolution(name, eq + 1);
        if (strcmp(name, host) == 0 && inet_pton(AF_INET, eq + 1, &own) != 1)
            usage();
    }

    struct in_addr any = {.s_addr = htonl(INADDR_ANY)}, lo = {.s_addr = htonl(INADDR_LOOPBACK)};
    uint16_t p_any, p_lo;
    int l_any = listener(any, &p_any), l_lo = listener(lo, &p_lo);
    printf("ok: listeners bound to 0.0.0.0:%u and 127.0.0.1:%u\n", (unsigned)p_any,
           (unsigned)p_lo);
    connect_check(l_any, any, lo, p_any);
    connect_check(l_lo, lo, lo, p_lo);

    char ipbuf[INET_ADDRSTRLEN];
    bool own_ok = own.s_addr != htonl(INADDR_ANY) && (ntohl(own.s_addr) >> 24) != 127;
    if (own_ok) {
        fmt_ip(own, ipbuf, sizeof ipbuf);
        printf("net_addr: own host name \"%s\" is %s\n", host, ipbuf);
        connect_check(l_any, any, own, p_any);
        expect_refused(own, p_lo, "(listener only on 127.0.0.1)");
        uint16_t p_own;
        int l_own = listener(own, &p_own);
        connect_check(l_own, own, own, p_own);
        expect_refused(lo, p_own, "(listener only on the host's own address)");
        xclose(l_own);
    } else {
        printf("net_addr: own-address checks skipped (no non-loopback HOSTNAME=IP for this "
               "host's name \"%s\")\n",
               host);
    }
    xclose(l_any);
    xclose(l_lo);
    printf("net_addr: all checks passed\n");
    return 0;
}
