/* Shared by the network test programs (net_*.c): failure reports, addresses,
 * the "both | server PORT | client HOST PORT [virtual]" roles, forked
 * children.  Compiled into each of them as nettest.c. */
#pragma once
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "selfcheck.h"

#define MAX_CLIENTS 64

/* Prefix of failure messages ("server", "client 2"); empty: no prefix. */
extern char who[32];

/* net_udp_echo: its sockets have SO_RCVTIMEO, so EAGAIN means a lost datagram. */
extern bool eagain_is_timeout;

/* Forked children, killed by kill_kids() if this process fails. */
extern pid_t kids[MAX_CLIENTS + 1];
extern int nkids;

const char *errname(int e);
/* Fails with the current errno: "who: WHAT (expected success, got -1 ...)". */
_Noreturn __attribute__((format(printf, 1, 2))) void fail_errno(const char *fmt, ...);

void pause_ns(long ns);
void xclose(int fd);
/* socket(AF_INET, type); type may include SOCK_NONBLOCK or SOCK_CLOEXEC. */
int xsocket(int type);
void write_all(int fd, const uint8_t *buf, size_t len);

/* ip in host byte order, like INADDR_LOOPBACK. */
struct sockaddr_in make_sockaddr(uint32_t ip, uint16_t port);
const char *fmt_addr(const struct sockaddr_in *sa, char *buf, size_t len);
/* getpeername (peer) or getsockname of an AF_INET socket. */
void get_name(int fd, bool peer, struct sockaddr_in *sa, const char *what);
/* SO_REUSEADDR, then bind to ip:port; returns the bound address. */
struct sockaddr_in bind_reuseaddr(int fd, uint32_t ip, uint16_t port);
/* HOST:PORT as an AF_INET address (getaddrinfo with this socket type). */
void resolve(const char *host, long port, int socktype, struct sockaddr_in *out);

/* One connection attempt to srv (addr: srv formatted): the connected fd, or
 * -1 after ECONNREFUSED (the socket closed). */
typedef int connect_attempt_fn(const struct sockaddr_in *srv, const char *addr);
/* Repeats attempt while the server is not listening yet (50 tries, 20 ms apart). */
int connect_retry(const struct sockaddr_in *srv, connect_attempt_fn *attempt);

void kill_kids(void);
/* kill_kids() at exit, so that a failing process leaves no children behind. */
void kill_kids_at_exit(void);
pid_t xfork(void);
/* Waits for kids[k], which must exit with 0. */
void reap(int k, const char *what);
/* Runs n clients at the same time: n-1 forked children and this process. */
void run_clients(const struct sockaddr_in *srv, int n,
                 void (*run_client)(const struct sockaddr_in *srv, int idx));

enum role { ROLE_BOTH, ROLE_SERVER, ROLE_CLIENT };
struct role_args {
    const char *name; /* as given: "both", "server" or "client" */
    enum role role;
    const char *host; /* client */
    long port;        /* server and client */
    bool virt;        /* "virtual" given */
};
/* Parses the role from argv[i] on; false on a usage error. */
bool parse_role(int argc, char **argv, int i, struct role_args *ra);
/* Port for "both": $NET_TEST_PORT, else a free one on 127.0.0.1 for type
 * (SOCK_STREAM or SOCK_DGRAM); false if $NET_TEST_PORT is no port number. */
bool both_port(int type, long *port);
