/* net_bulk: self-checking bulk TCP transfer, with an optional check of its
 * virtual duration.
 *
 * Usage: net_bulk [--size BYTES] [--chunk BYTES] [--expect-seconds SEC [--tolerance FRACTION]]
 *                 both [virtual]
 *        net_bulk [--chunk BYTES] server PORT [virtual]
 *        net_bulk [options] client HOST PORT [virtual]
 *
 * The client sends BYTES bytes (default 64 MiB) of a pseudo-random stream
 * (xorshift64*, fixed seed) with write() calls of --chunk bytes (default
 * 128 KiB), then shuts down its sending side.  The server reads until EOF,
 * computes the byte count and the FNV-1a 64-bit hash of everything, and
 * answers with a 16-byte report (count, hash, both big-endian) before
 * closing.  The client compares the report with its own count and hash.
 *
 * The client prints the time from connect() returning to the report being
 * received (CLOCK_MONOTONIC) and the throughput.  With "virtual" and
 * --expect-seconds SEC it checks that this time lies within
 * SEC * (1 +- FRACTION) (default FRACTION 0.05); natively it is only printed.
 *
 * "both" forks: the child is the server, the parent the client, over
 * 127.0.0.1 on port $NET_TEST_PORT or 40000 + pid % 20000.  The client
 * retries connect on ECONNREFUSED (50 tries, 20 ms apart).
 * Exit status: 0 on success, 1 on a failed check (one "FAIL: ..." line on
 * stderr), 2 on a usage error.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "selfcheck.h"

#define NSEC_PER_SEC INT64_C(1000000000)
#define CONNECT_TRIES 50
#define CONNECT_PAUSE_NS 20000000L
#define FNV_OFFSET UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME UINT64_C(0x100000001b3)
#define SEED UINT64_C(0x9e3779b97f4a7c15)
#define MAX_CHUNK (64L << 20)

static bool virt;
static const char *argv0;
static char who[16] = "net_bulk";
static pid_t server_pid;

static const char *errname(int e)
{
    const char *n = strerrorname_np(e);
    return n != NULL ? n : "?";
}

static _Noreturn __attribute__((format(printf, 1, 2))) void fail_errno(const char *fmt, ...)
{
    int e = errno;
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    fail("%s: %s (expected success, got -1 errno=%d %s: %s)", who, what, e, errname(e),
         strerror(e));
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        fail_errno("clock_gettime(CLOCK_MONOTONIC)");
    return (int64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static void pause_ns(long ns)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = ns};
    while (nanosleep(&ts, &ts) != 0)
        if (errno != EINTR)
            fail_errno("nanosleep");
}

static const char *fmt_addr(const struct sockaddr_in *sa, char *buf, size_t len)
{
    char ip[INET_ADDRSTRLEN];
    if (inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof ip) == NULL)
        snprintf(ip, sizeof ip, "?");
    snprintf(buf, len, "%s:%u", ip, (unsigned)ntohs(sa->sin_port));
    return buf;
}

static void kill_server(void)
{
    if (server_pid > 0)
        kill(server_pid, SIGKILL);
}

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

/* xorshift64* byte stream, independent of how it is cut into chunks */
struct stream {
    uint64_t state, word;
    unsigned left; /* bytes of word not handed out yet */
};

static void stream_fill(struct stream *s, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s->left == 0) {
            s->state ^= s->state >> 12;
            s->state ^= s->state << 25;
            s->state ^= s->state >> 27;
            s->word = s->state * UINT64_C(0x2545f4914f6cdd1d);
            s->left = 8;
        }
        p[i] = (uint8_t)s->word;
        s->word >>= 8;
        s->left--;
    }
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            fail_errno("write(%zu bytes)", n);
        }
        if (w == 0)
            fail("%s: write(%zu bytes) (expected > 0, got 0)", who, n);
        p += w;
        n -= (size_t)w;
    }
}

static size_t read_full(int fd, uint8_t *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            fail_errno("read");
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return got;
}

/* ---- server ---- */

static void run_server(bool loopback, long port, size_t chunk)
{
    snprintf(who, sizeof who, "server");
    int l = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0)
        fail_errno("socket");
    int one = 1;
    if (setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
        fail_errno("setsockopt(SO_REUSEADDR)");
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(loopback ? INADDR_LOOPBACK : INADDR_ANY);
    char a[32];
    if (bind(l, (struct sockaddr *)&sa, sizeof sa) != 0)
        fail_errno("bind(%s)", fmt_addr(&sa, a, sizeof a));
    if (listen(l, 4) != 0)
        fail_errno("listen");
    printf("ok: %s: listening on %s\n", who, fmt_addr(&sa, a, sizeof a));
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    int fd = accept(l, (struct sockaddr *)&peer, &plen);
    if (fd < 0)
        fail_errno("accept");
    if (close(l) != 0)
        fail_errno("close(listener)");
    printf("ok: %s: accepted a connection from %s\n", who, fmt_addr(&peer, a, sizeof a));

    uint8_t *buf = malloc(chunk);
    if (buf == NULL)
        fail("%s: malloc(%zu) (expected memory, got NULL)", who, chunk);
    uint64_t count = 0, hash = FNV_OFFSET;
    int64_t t0 = 0;
    for (;;) {
        ssize_t n = read(fd, buf, chunk);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fail_errno("read after %" PRIu64 " bytes", count);
        }
        if (n == 0)
            break;
        if (count == 0)
            t0 = mono_ns();
        hash = fnv1a(hash, buf, (size_t)n);
        count += (uint64_t)n;
    }
    int64_t dt = count > 0 ? mono_ns() - t0 : 0;
    free(buf);
    uint64_t report[2] = {htobe64(count), htobe64(hash)};
    write_all(fd, (const uint8_t *)report, sizeof report);
    if (close(fd) != 0)
        fail_errno("close(connection)");
    printf("ok: %s: received %" PRIu64 " bytes until EOF, FNV-1a 0x%016" PRIx64
           ", report sent (first byte to EOF: %.6f s)\n",
           who, count, hash, (double)dt / 1e9);
}

/* ---- client ---- */

static void resolve(const char *host, long port, struct sockaddr_in *out)
{
    struct addrinfo hints, *res = NULL;
    char serv[16];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(serv, sizeof serv, "%ld", port);
    int rc = getaddrinfo(host, serv, &hints, &res);
    if (rc != 0)
        fail("%s: getaddrinfo(\"%s\", \"%s\", AF_INET) (expected 0, got %d %s)", who, host, serv,
             rc, rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    if (res == NULL || res->ai_family != AF_INET || res->ai_addrlen != sizeof *out)
        fail("%s: getaddrinfo(\"%s\") (expected an AF_INET address, got none)", who, host);
    memcpy(out, res->ai_addr, sizeof *out);
    freeaddrinfo(res);
}

static int connect_retry(const struct sockaddr_in *srv)
{
    char a[32];
    for (int t = 1;; t++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            fail_errno("socket");
        if (connect(fd, (const struct sockaddr *)srv, sizeof *srv) == 0) {
            printf("ok: %s: connected to %s after %d attempt%s\n", who,
                   fmt_addr(srv, a, sizeof a), t, t > 1 ? "s" : "");
            return fd;
        }
        if (errno != ECONNREFUSED)
            fail_errno("connect(%s)", fmt_addr(srv, a, sizeof a));
        if (close(fd) != 0)
            fail_errno("close");
        if (t == CONNECT_TRIES)
            fail("%s: connect to %s (expected success within %d tries, got ECONNREFUSED each time)",
                 who, fmt_addr(srv, a, sizeof a), CONNECT_TRIES);
        pause_ns(CONNECT_PAUSE_NS);
    }
}

static void run_client(const struct sockaddr_in *srv, uint64_t size, size_t chunk,
                       double expect_s, double tol)
{
    snprintf(who, sizeof who, "client");
    uint8_t *buf = malloc(chunk);
    if (buf == NULL)
        fail("%s: malloc(%zu) (expected memory, got NULL)", who, chunk);
    int fd = connect_retry(srv);
    int64_t t0 = mono_ns();
    struct stream st = {.state = SEED};
    uint64_t hash = FNV_OFFSET;
    for (uint64_t sent = 0; sent < size;) {
        size_t n = size - sent < chunk ? (size_t)(size - sent) : chunk;
        stream_fill(&st, buf, n);
        hash = fnv1a(hash, buf, n);
        write_all(fd, buf, n);
        sent += n;
    }
    if (shutdown(fd, SHUT_WR) != 0)
        fail_errno("shutdown(SHUT_WR)");
    uint64_t report[2];
    size_t got = read_full(fd, (uint8_t *)report, sizeof report);
    int64_t t1 = mono_ns();
    if (got != sizeof report)
        fail("%s: report from the server (expected %zu bytes, got %zu then EOF)", who,
             sizeof report, got);
    uint8_t extra;
    if (read_full(fd, &extra, 1) != 0)
        fail("%s: after the report (expected EOF, got more data)", who);
    if (close(fd) != 0)
        fail_errno("close");
    free(buf);
    uint64_t rcount = be64toh(report[0]), rhash = be64toh(report[1]);
    if (rcount != size)
        fail("%s: byte count reported by the server (expected %" PRIu64 ", got %" PRIu64 ")", who,
             size, rcount);
    if (rhash != hash)
        fail("%s: FNV-1a 64 reported by the server (expected 0x%016" PRIx64 ", got 0x%016" PRIx64
             ")",
             who, hash, rhash);
    printf("ok: %s: server received %" PRIu64 " bytes with FNV-1a 0x%016" PRIx64
           " (same as sent)\n",
           who, rcount, rhash);

    double secs = (double)(t1 - t0) / 1e9;
    double mbps = secs > 0 ? (double)size * 8 / secs / 1e6 : INFINITY;
    printf("%s: %" PRIu64 " bytes in %.9f s (connect to report), %.3f Mbit/s\n", who, size, secs,
           mbps);
    if (expect_s > 0) {
        double lo = expect_s * (1 - tol), hi = expect_s * (1 + tol);
        if (virt) {
            if (secs < lo || secs > hi)
                fail("%s: transfer time (expected %.9f..%.9f s = %.9f s +- %.1f%%, got %.9f s)",
                     who, lo, hi, expect_s, tol * 100, secs);
            printf("ok: %s: transfer time %.9f s within %.9f s +- %.1f%%\n", who, secs, expect_s,
                   tol * 100);
        } else {
            printf("%s: native mode: expected %.9f s +- %.1f%% not checked\n", who, expect_s,
                   tol * 100);
        }
    }
}

/* "both" without NET_TEST_PORT: port 40000 + pid % 20000, or the next free
 * one if that is taken (it lies in Linux' ephemeral port range, so a
 * TIME_WAIT connection of an earlier run may hold it).  Probed with a
 * throw-away socket bound like the server's. */
static long default_port(void)
{
    long base = 40000 + getpid() % 20000;
    for (long k = 0; k < 100; k++) {
        long port = 40000 + (base - 40000 + k) % 20000;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            fail_errno("socket (port probe)");
        int one = 1;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
            fail_errno("setsockopt(SO_REUSEADDR) (port probe)");
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
        if (r == 0)
            r = listen(fd, 1);
        int e = errno;
        if (close(fd) != 0)
            fail_errno("close (port probe)");
        if (r == 0) {
            if (k > 0)
                printf("both: port %ld is in use, using port %ld\n", base, port);
            return port;
        }
        if (e != EADDRINUSE) {
            errno = e;
            fail_errno("bind(127.0.0.1:%ld) (port probe)", port);
        }
    }
    fail("both: free port from %ld on (expected one within 100 ports, got none)", base);
}

static _Noreturn void usage(void)
{
    fprintf(stderr,
            "usage: %s [--size BYTES] [--chunk BYTES] [--expect-seconds SEC "
            "[--tolerance FRACTION]] both [virtual]\n"
            "       %s [--chunk BYTES] server PORT [virtual]\n"
            "       %s [--size BYTES] [--chunk BYTES] [--expect-seconds SEC [--tolerance "
            "FRACTION]] client HOST PORT [virtual]\n",
            argv0, argv0, argv0);
    exit(2);
}

int main(int argc, char **argv)
{
    argv0 = argc > 0 ? argv[0] : "net_bulk";
    setvbuf(stdout, NULL, _IOLBF, 0);
    long size = 64L << 20, chunk = 128L << 10;
    double expect_s = 0, tol = 0.05;
    bool have_tol = false;
    int i = 1;
    while (i < argc && strncmp(argv[i], "--", 2) == 0) {
        if (i + 1 >= argc)
            usage();
        const char *o = argv[i], *v = argv[i + 1];
        if (strcmp(o, "--size") == 0) {
            if (!parse_long(v, 0, INT64_MAX / 2, &size))
                usage();
        } else if (strcmp(o, "--chunk") == 0) {
            if (!parse_long(v, 1, MAX_CHUNK, &chunk))
                usage();
        } else if (strcmp(o, "--expect-seconds") == 0) {
            if (!parse_double(v, 1e-9, 1e9, &expect_s))
                usage();
        } else if (strcmp(o, "--tolerance") == 0) {
            if (!parse_double(v, 0, 1, &tol))
                usage();
            have_tol = true;
        } else {
            usage();
        }
        i += 2;
    }
    if (have_tol && expect_s == 0)
        usage();
    if (i >= argc)
        usage();
    const char *role = argv[i++];
    int nargs = strcmp(role, "both") == 0 ? 0 : strcmp(role, "server") == 0 ? 1
                                              : strcmp(role, "client") == 0 ? 2
                                                                            : -1;
    if (nargs < 0 || argc - i < nargs || argc - i > nargs + 1)
        usage();
    if (argc - i == nargs + 1) {
        if (strcmp(argv[argc - 1], "virtual") != 0)
            usage();
        virt = true;
    }
    long port = 0;
    if (nargs > 0 && !parse_long(argv[i + nargs - 1], 1, 65535, &port))
        usage();
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        fail_errno("signal(SIGPIPE, SIG_IGN)");
    printf("net_bulk: %s, %s mode, %ld bytes in writes of %ld bytes\n", role,
           virt ? "virtual" : "native", size, chunk);

    if (nargs == 1) {
        run_server(false, port, (size_t)chunk);
    } else if (nargs == 2) {
        struct sockaddr_in srv;
        resolve(argv[i], port, &srv);
        run_client(&srv, (uint64_t)size, (size_t)chunk, expect_s, tol);
    } else {
        const char *env = getenv("NET_TEST_PORT");
        if (env != NULL && *env != '\0') {
            if (!parse_long(env, 1, 65535, &port))
                usage();
        } else {
            port = default_port();
        }
        if (atexit(kill_server) != 0)
            fail("atexit (expected 0, got nonzero)");
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0)
            fail_errno("fork");
        if (pid == 0) {
            run_server(true, port, (size_t)chunk);
            exit(0);
        }
        server_pid = pid;
        struct sockaddr_in srv;
        memset(&srv, 0, sizeof srv);
        srv.sin_family = AF_INET;
        srv.sin_port = htons((uint16_t)port);
        srv.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        run_client(&srv, (uint64_t)size, (size_t)chunk, expect_s, tol);
        int status;
        if (waitpid(pid, &status, 0) != pid)
            fail_errno("waitpid(server)");
        server_pid = 0;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail("both: server child (expected exit 0, got status 0x%x)", (unsigned)status);
    }
    printf("net_bulk: all checks passed\n");
    return 0;
}
