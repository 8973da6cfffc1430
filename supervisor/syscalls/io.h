/* Shared by the fd, net and poll handlers: target iovecs, blocking on
 * files, and the send/recv paths every data syscall funnels into. */
#pragma once
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "../file.h"
#include "../socket.h"
#include "handlers.h"

#define IO_IOV_MAX 1024
#define IO_STEP (4u << 20) /* bytes copied per round, bounds our buffers */

/* Read the target's iovec array (bounded; EFAULT/EINVAL as Linux). */
int iov_read(const struct task *t, uint64_t addr, uint64_t count, struct iovec *out);
size_t iov_total(const struct iovec *iov, int n);
/* Copy between our buffer and the target's iovecs, from byte offset off.
 * 0 or -EFAULT. */
int iov_copy(const struct task *t, const struct iovec *iov, int n, size_t off, void *buf, size_t len, bool to_target);
/* A single buffer as an iovec (read/write/send/recv). */
#define IOV1(addr, len) ((struct iovec){(void *)(uintptr_t)(addr), (size_t)(len)})

/* Wait until f changes (or deadline, ns of simulated time, -1 none).
 * false: abandon the syscall (killed, interrupted). */
bool wait_file(struct task *t, struct file *f, int64_t deadline);
/* Deadline for a blocking call with timeout ns (0 = none). */
int64_t deadline_after(int64_t timeout_ns);

/* read/write on an eventfd or a timerfd (fd.c). */
struct sysret counter_io(struct task *t, struct file *f, const struct iovec *iov, int niov, bool writing);
/* read/write on /dev/urandom or /dev/random (random.c). */
struct sysret random_device_io(struct task *t, const struct iovec *iov, int niov, bool writing);

/* read of a signalfd (signal.c): continue natively once a signal of its
 * mask is pending, else wait in simulated time. */
struct sysret signalfd_read(struct task *t, struct file *f, size_t len);
/* A failed send: what was sent if anything, else err; EPIPE raises
 * SIGPIPE unless MSG_NOSIGNAL. */
struct sysret send_error(struct task *t, int flags, int err, size_t sent);
/* read/write on a pipe end (pipe.c); F_SETPIPE_SZ / F_GETPIPE_SZ. */
struct sysret pipe_io(struct task *t, struct file *f, const struct iovec *iov, int niov, bool writing);
int pipe_set_size(struct file *f, long size);
/* Between the target's iovecs (from byte offset off) and a channel (pipe.c):
 * queue n bytes (one packet if it keeps messages), or copy out the next n
 * (of its first message) without taking them.  0 or -EFAULT. */
struct chan;
int chan_write_iov(const struct task *t, struct chan *c, const struct iovec *iov, int niov, size_t off, size_t n);
int chan_peek_iov(const struct task *t, struct chan *c, const struct iovec *iov, int niov, size_t off, size_t n);
size_t pipe_size(const struct file *f);

/* AF_UNIX sockets (unix.c): socket(AF_UNIX), read/write, and the socket
 * calls net.c hands over for them. */
struct sysret usock_socket(struct supervisor *s, struct task *t);
struct sysret usock_io(struct task *t, struct file *f, const struct iovec *iov, int niov, bool sending);
#define USOCK_CALL(name) struct sysret usock_##name(struct supervisor *s, struct task *t, struct file *f);
USOCK_CALL(bind) USOCK_CALL(listen) USOCK_CALL(accept) USOCK_CALL(connect) USOCK_CALL(shutdown)
USOCK_CALL(getsockname) USOCK_CALL(getpeername) USOCK_CALL(setsockopt) USOCK_CALL(getsockopt)
USOCK_CALL(sendto) USOCK_CALL(recvfrom) USOCK_CALL(sendmsg) USOCK_CALL(recvmsg)
#undef USOCK_CALL

struct sysret do_send(struct supervisor *s, struct task *t, struct file *f, const struct iovec *iov, int niov,
                      int flags, const struct sockaddr_in *dest);
/* from/fromlen: target addresses for the sender's address (0 = none);
 * msg_flags: where to OR MSG_TRUNC (NULL = nowhere). */
struct sysret do_recv(struct supervisor *s, struct task *t, struct file *f, const struct iovec *iov, int niov,
                      int flags, uint64_t from, uint64_t fromlen, int *msg_flags);

/* setsockopt's struct timeval, as ns (negative seconds: 0).  0, or
 * -EINVAL (short), -EFAULT, -EDOM (bad microseconds). */
int sockopt_get_timeval(const struct task *t, uint64_t val, uint64_t len, int64_t *ns);
/* getsockopt's answer: size bytes of out, cut to the caller's length len,
 * and the length written back to lenp. */
struct sysret sockopt_put(const struct task *t, uint64_t val, uint64_t lenp, int32_t len, const void *out,
                          size_t size);

/* Copy an address out the way the kernel does (truncate to *addrlen,
 * write back the real length), as a sockaddr_in6 for an AF_INET6 socket.
 * 0 or -EFAULT/-EINVAL. */
int put_sockaddr(const struct task *t, const struct sock *k, uint64_t addr, uint64_t addrlen_ptr,
                 const struct sockaddr_in *a);
/* Read and validate an address for socket k (AF_INET6 ones mapped to
 * IPv4; -ENETUNREACH for an IPv6 address that is not). */
int get_sockaddr(const struct task *t, const struct sock *k, uint64_t addr, uint64_t len, struct sockaddr_in *a);
