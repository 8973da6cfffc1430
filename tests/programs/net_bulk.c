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
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
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

#include "nettest.h"
#include "selfcheck.h"

#define NSEC_PER_SEC INT64_C(1000000000)
#define FNV_OFFSET UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME UINT64_C(0x100000001b3)
#define SEED UINT64_C(0x9e3779b97f4a7c15)
#define MAX_CHUNK (64L << 20)

static bool virt;
static const char *argv0;

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
    struct sockaddr_in sa =
        bind_reuseaddr(l, loopback ? INADDR_LOOPBACK : INADDR_ANY, (uint16_t)port);
    char a[32];
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

/* One blocking attempt for connect_retry(). */
static int connect_once(const struct sockaddr_in *srv, const char *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        fail_errno("socket");
    if (connect(fd, (const struct sockaddr *)srv, sizeof *srv) == 0)
        return fd;
    if (errno != ECONNREFUSED)
        fail_errno("connect(%s)", addr);
    if (close(fd) != 0)
        fail_errno("close");
    return -1;
}

static void run_client(const struct sockaddr_in *srv, uint64_t size, size_t chunk,
                       double expect_s, double tol)
{
    snprintf(who, sizeof who, "client");
    uint8_t *buf = malloc(chunk);
    if (buf == NULL)
        fail("%s: malloc(%zu) (expected memory, got NULL)", who, chunk);
    int fd = connect_retry(srv, connect_once);
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
    snprintf(who, sizeof who, "net_bulk"); /* until a role names itself */
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
            if (!parse_int(v, 0, INT64_MAX / 2, &size))
                usage();
        } else if (strcmp(o, "--chunk") == 0) {
            if (!parse_int(v, 1, MAX_CHUNK, &chunk))
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
    struct role_args ra;
    if (!parse_role(argc, argv, i, &ra))
        usage();
    virt = ra.virt;
    long port = ra.port;
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        fail_errno("signal(SIGPIPE, SIG_IGN)");
    printf("net_bulk: %s, %s mode, %ld bytes in writes of %ld bytes\n", ra.name,
           virt ? "virtual" : "native", size, chunk);

    if (ra.role == ROLE_SERVER) {
        run_server(false, port, (size_t)chunk);
    } else if (ra.role == ROLE_CLIENT) {
        struct sockaddr_in srv;
        resolve(ra.host, port, SOCK_STREAM, &srv);
        run_client(&srv, (uint64_t)size, (size_t)chunk, expect_s, tol);
    } else {
        if (!both_port(SOCK_STREAM, &port))
            usage();
        kill_kids_at_exit();
        pid_t pid = xfork();
        if (pid == 0) {
            run_server(true, port, (size_t)chunk);
            exit(0);
        }
        kids[nkids++] = pid;
        struct sockaddr_in srv = make_sockaddr(INADDR_LOOPBACK, (uint16_t)port);
        run_client(&srv, (uint64_t)size, (size_t)chunk, expect_s, tol);
        int status;
        if (waitpid(pid, &status, 0) != pid)
            fail_errno("waitpid(server)");
        nkids = 0;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail("both: server child (expected exit 0, got status 0x%x)", (unsigned)status);
    }
    printf("net_bulk: all checks passed\n");
    return 0;
}
