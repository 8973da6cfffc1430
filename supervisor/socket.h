/* Emulated AF_INET sockets: TCP streams and UDP datagrams carried over
 * SimGrid.  No byte crosses a kernel socket: the supervisor holds the
 * data, SimGrid decides when it arrives. */
#pragma once
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "supervisor.h"

struct sock;
struct file;

enum sock_state {
    SS_UNCONNECTED, /* new, or bound */
    SS_LISTENING,
    SS_CONNECTING,
    SS_CONNECTED,   /* also a connect()ed UDP socket */
    SS_CLOSED,      /* TCP: connection failed or was reset */
};

struct sock_opts {
    bool reuseaddr, reuseport, keepalive, nodelay, broadcast, linger_on, v6only;
    bool sndbuf_set;      /* by the program: no autotuning */
    int linger_s;
    int sndbuf, rcvbuf;
    int64_t rcvtimeo_ns, sndtimeo_ns; /* 0 = none */
};

/* Create a socket of family AF_INET or AF_INET6, type SOCK_STREAM or
 * SOCK_DGRAM, on host h, with its file (refs = 1).  An AF_INET6 socket
 * speaks IPv4 underneath: :: is any, ::1 is loopback, ::ffff:a.b.c.d is
 * a.b.c.d (dual stack, as Linux by default). */
struct file *sock_create(struct supervisor *s, struct vhost *h, int family, int type);
int sock_type(const struct sock *k);
int sock_family(const struct sock *k);
enum sock_state sock_state(const struct sock *k);
struct sock_opts *sock_opts(struct sock *k);
void sock_release(struct sock *k);
unsigned sock_poll(const struct sock *k);

/* Addresses as the socket sees them; false when there is none. */
bool sock_local(const struct sock *k, struct sockaddr_in *a);
bool sock_peer(const struct sock *k, struct sockaddr_in *a);

/* All return 0 or -errno. */
int sock_bind(struct sock *k, const struct sockaddr_in *a);
int sock_listen(struct sock *k, int backlog);
/* TCP: starts the handshake (-EINPROGRESS); UDP: sets the default peer. */
int sock_connect(struct sock *k, const struct sockaddr_in *a);
/* Pending error (SO_ERROR), cleared. */
int sock_take_error(struct sock *k);
/* A connection waiting in k's backlog, as a new file, or NULL. */
struct file *sock_accept(struct sock *k);
int sock_shutdown(struct sock *k, int how);

/* Is there enough room to wake a writer (poll POLLOUT, a blocked send)? */
bool sock_writable(const struct sock *k);
/* Bytes a send could take now without blocking (0: would block). */
size_t sock_send_room(const struct sock *k);
/* Send len bytes (len <= room for TCP).  dest: UDP only, NULL = peer.
 * -EPIPE: the caller raises SIGPIPE unless MSG_NOSIGNAL. */
ssize_t sock_send(struct sock *k, void *data, size_t len, const struct sockaddr_in *dest);
/* Readable now?  (data, EOF, or an error to report) */
bool sock_readable(const struct sock *k);
/* Copy up to len bytes out; 0 at EOF.  UDP: one datagram, its real length
 * in *dgram_len, sender in *from.  -EAGAIN when nothing is there. */
ssize_t sock_recv(struct sock *k, void *out, size_t len, bool peek, struct sockaddr_in *from, size_t *dgram_len);
size_t sock_unread(const struct sock *k);   /* FIONREAD */
size_t sock_unsent(const struct sock *k);   /* SIOCOUTQ */
size_t sock_window(const struct sock *k);   /* bytes the sender may have outstanding */
/* Round-trip latency to the peer, in microseconds (TCP_INFO). */
uint32_t sock_rtt_us(const struct sock *k);

/* The process that created or accepted k, for the trace. */
void sock_set_owner(struct sock *k, struct proc *p);
/* The process at the other end: TCP: the peer socket's owner; UDP: the
 * owner of the socket a datagram to addr (NULL: the connected peer) would
 * reach.  NULL when unknown. */
struct proc *sock_peer_owner(struct sock *k, const struct sockaddr_in *addr);
/* Free what the simulation still holds at the end of the run. */
void sock_free_all(void);
