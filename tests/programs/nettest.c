/* Helpers shared by the network test programs, see nettest.h. */
#include "nettest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CONNECT_TRIES 50
#define CONNECT_PAUSE_NS 20000000L

char who[32];
bool eagain_is_timeout;
pid_t kids[MAX_CLIENTS + 1];
int nkids;

/* ": " after a non-empty who: one-process programs print no prefix. */
static const char *sep(void)
{
    return who[0] != '\0' ? ": " : "";
}

const char *errname(int e)
{
    const char *n = strerrorname_np(e);
    return n != NULL ? n : "?";
}

_Noreturn void fail_errno(const char *fmt, ...)
{
    int e = errno;
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (eagain_is_timeout && (e == EAGAIN || e == EWOULDBLOCK))
        fail("%s%s%s (expected success, got -1 errno=%d %s: no datagram within the receive "
             "timeout, lost?)",
             who, sep(), what, e, errname(e));
    fail("%s%s%s (expected success, got -1 errno=%d %s: %s)", who, sep(), what, e, errname(e),
         strerror(e));
}

void pause_ns(long ns)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = ns};
    while (nanosleep(&ts, &ts) != 0)
        if (errno != EINTR)
            fail_errno("nanosleep");
}

void xclose(int fd)
{
    if (close(fd) != 0)
        fail_errno("close(%d)", fd);
}

int xsocket(int type)
{
    int fd = socket(AF_INET, type, 0);
    if (fd < 0)
        fail_errno("socket(AF_INET, %s)",
                   (type & 0xf) == SOCK_STREAM ? "SOCK_STREAM" : "SOCK_DGRAM");
    return fd;
}

void write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fail_errno("write(%zu bytes)", len);
        }
        if (n == 0)
            fail("%s%swrite(%zu bytes) (expected > 0, got 0)", who, sep(), len);
        buf += n;
        len -= (size_t)n;
    }
}

struct sockaddr_in make_sockaddr(uint32_t ip, uint16_t port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(ip);
    return sa;
}

const char *fmt_addr(const struct sockaddr_in *sa, char *buf, size_t len)
{
    char ip[INET_ADDRSTRLEN];
    if (inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof ip) == NULL)
        snprintf(ip, sizeof ip, "?");
    snprintf(buf, len, "%s:%u", ip, (unsigned)ntohs(sa->sin_port));
    return buf;
}

void get_name(int fd, bool peer, struct sockaddr_in *sa, const char *what)
{
    socklen_t len = sizeof *sa;
    memset(sa, 0, sizeof *sa);
    int r = peer ? getpeername(fd, (struct sockaddr *)sa, &len)
                 : getsockname(fd, (struct sockaddr *)sa, &len);
    if (r != 0)
        fail_errno("%s(%s)", peer ? "getpeername" : "getsockname", what);
    if (len != sizeof *sa || sa->sin_family != AF_INET)
        fail("%s%s%s(%s) (expected AF_INET, length %zu, got family %d, length %u)", who, sep(),
             peer ? "getpeername" : "getsockname", what, sizeof *sa, sa->sin_family,
             (unsigned)len);
}

struct sockaddr_in bind_reuseaddr(int fd, uint32_t ip, uint16_t port)
{
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
        fail_errno("setsockopt(SO_REUSEADDR)");
    struct sockaddr_in sa = make_sockaddr(ip, port);
    char a[32];
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        fail_errno("bind(%s)", fmt_addr(&sa, a, sizeof a));
    return sa;
}

void resolve(const char *host, long port, int socktype, struct sockaddr_in *out)
{
    struct addrinfo hints, *res = NULL;
    char serv[16];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = socktype;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(serv, sizeof serv, "%ld", port);
    int rc = getaddrinfo(host, serv, &hints, &res);
    if (rc != 0)
        fail("%s%sgetaddrinfo(\"%s\", \"%s\", AF_INET) (expected 0, got %d %s)", who, sep(), host,
             serv, rc, rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    if (res == NULL || res->ai_family != AF_INET || res->ai_addrlen != sizeof *out)
        fail("%s%sgetaddrinfo(\"%s\") (expected an AF_INET address, got none)", who, sep(), host);
    memcpy(out, res->ai_addr, sizeof *out);
    freeaddrinfo(res);
}

int connect_retry(const struct sockaddr_in *srv, connect_attempt_fn *attempt)
{
    char a[32];
    fmt_addr(srv, a, sizeof a);
    for (int t = 1;; t++) {
        int fd = attempt(srv, a);
        if (fd >= 0) {
            printf("ok: %s%sconnected to %s after %d attempt%s\n", who, sep(), a, t,
                   t > 1 ? "s" : "");
            return fd;
        }
        if (t == CONNECT_TRIES)
            fail("%s%sconnect to %s (expected success within %d tries, got ECONNREFUSED each "
                 "time)",
                 who, sep(), a, CONNECT_TRIES);
        pause_ns(CONNECT_PAUSE_NS);
    }
}

void kill_kids(void)
{
    for (int i = 0; i < nkids; i++)
        if (kids[i] > 0)
            kill(kids[i], SIGKILL);
}

void kill_kids_at_exit(void)
{
    if (atexit(kill_kids) != 0)
        fail("atexit (expected 0, got nonzero)");
}

pid_t xfork(void)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        fail_errno("fork");
    if (pid == 0)
        nkids = 0; /* the children are the parent's to kill, not ours */
    return pid;
}

void reap(int k, const char *what)
{
    int status;
    pid_t r = waitpid(kids[k], &status, 0);
    if (r != kids[k])
        fail_errno("waitpid(%ld) for %s", (long)kids[k], what);
    kids[k] = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (WIFSIGNALED(status))
            fail("%s%s%s (expected exit 0, got signal %d)", who, sep(), what, WTERMSIG(status));
        fail("%s%s%s (expected exit 0, got exit %d)", who, sep(), what, WEXITSTATUS(status));
    }
}

void run_clients(const struct sockaddr_in *srv, int n,
                 void (*run_client)(const struct sockaddr_in *srv, int idx))
{
    int first = nkids;
    for (int i = 1; i < n; i++) {
        pid_t pid = xfork();
        if (pid == 0) {
            run_client(srv, i);
            exit(0);
        }
        kids[nkids++] = pid;
    }
    run_client(srv, 0);
    snprintf(who, sizeof who, "client 1");
    for (int k = first; k < nkids; k++)
        reap(k, "client child process");
    nkids = first;
}

bool parse_role(int argc, char **argv, int i, struct role_args *ra)
{
    if (i >= argc)
        return false;
    ra->name = argv[i++];
    int nargs = strcmp(ra->name, "both") == 0     ? 0
                : strcmp(ra->name, "server") == 0 ? 1
                : strcmp(ra->name, "client") == 0 ? 2
                                                  : -1;
    if (nargs < 0 || argc - i < nargs || argc - i > nargs + 1)
        return false;
    ra->role = nargs == 0 ? ROLE_BOTH : nargs == 1 ? ROLE_SERVER : ROLE_CLIENT;
    ra->virt = argc - i == nargs + 1;
    if (ra->virt && strcmp(argv[argc - 1], "virtual") != 0)
        return false;
    ra->host = nargs == 2 ? argv[i] : NULL;
    ra->port = 0;
    return nargs == 0 || parse_int(argv[i + nargs - 1], 1, 65535, &ra->port);
}

/* "both" without NET_TEST_PORT: port 40000 + pid % 20000, or the next free
 * one if that is taken (it lies in Linux' ephemeral port range, so a
 * TIME_WAIT connection of an earlier run may hold it).  Probed with a
 * throw-away socket bound like the server's. */
static long default_port(int type)
{
    long base = 40000 + getpid() % 20000;
    for (long k = 0; k < 100; k++) {
        long port = 40000 + (base - 40000 + k) % 20000;
        int fd = socket(AF_INET, type, 0);
        if (fd < 0)
            fail_errno("socket (port probe)");
        int one = 1;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
            fail_errno("setsockopt(SO_REUSEADDR) (port probe)");
        struct sockaddr_in sa = make_sockaddr(INADDR_LOOPBACK, (uint16_t)port);
        int r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
        if (r == 0 && type == SOCK_STREAM)
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

bool both_port(int type, long *port)
{
    const char *env = getenv("NET_TEST_PORT");
    if (env != NULL && *env != '\0')
        return parse_int(env, 1, 65535, port);
    *port = default_port(type);
    return true;
}
