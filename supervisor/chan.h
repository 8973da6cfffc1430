/* Local channels: the data path of pipes (and of AF_UNIX sockets).
 * A channel is one direction, a bounded FIFO of bytes or of messages, with
 * at most one reading and one writing open file.  Data moves at once: two
 * tasks of one host share no simulated link, and only one task runs at a
 * time, so nothing here needs a lock. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

struct file;

/* Descriptors passed with SCM_RIGHTS, travelling with the data they were
 * sent with: files of ours (referenced) or copies of the sender's native
 * ones (pidfd_getfd), -1 where the other is used. */
#define PASSED_MAX 253 /* SCM_MAX_FD */
struct passed_fds {
    int n;
    struct file *emu[PASSED_MAX];
    int native[PASSED_MAX];
};
void passed_free(struct passed_fds *p);

/* Rights on a byte stream: they come with the byte at stream offset at. */
struct chan_rights {
    struct chan_rights *next;
    uint64_t at;
    struct passed_fds *fds;
};

struct chan_msg {
    struct chan_msg *next;
    struct passed_fds *rights; /* owned, NULL: none */
    size_t len;
    struct sockaddr_un from;   /* sender's name (AF_UNIX datagrams) */
    socklen_t fromlen;
    char data[];
};

struct chan {
    bool msgs;                 /* keeps message boundaries */
    size_t cap, len;           /* bytes queued, and the most there may be */
    char *ring;                /* byte stream: ring buffer of cap bytes */
    size_t head;
    struct chan_msg *first, *last;
    uint64_t written, consumed;/* byte stream: offsets of the tail and the head */
    struct chan_rights *rights, **rights_tail; /* byte stream, oldest first */
    struct file *reader, *writer; /* open ends, NULL once closed */
    bool rd_shut, wr_shut;     /* shutdown(): no more reading / writing */
    int ends;                  /* ends attached; freed at 0 */
};

struct chan *chan_new(size_t cap, bool msgs);
/* Attach an end (the file that reads or writes it). */
void chan_attach(struct chan *c, struct file *reader, struct file *writer);
/* The file f closes: detach it (as reader and/or writer), wake the other
 * end, free the channel when nothing is attached. */
void chan_detach(struct chan *c, struct file *f);
/* The same in two steps, for a file on two channels: detach it from both
 * before any wake-up lets another actor find it half gone.  Returns the
 * other end, referenced, for chan_wake_unref (NULL: nothing to wake). */
struct file *chan_unlink(struct chan *c, struct file *f);
void chan_wake_unref(struct file *f);
size_t chan_room(const struct chan *c);
/* Byte streams: append up to n bytes (what fits), take up to n. */
size_t chan_put(struct chan *c, const void *buf, size_t n);
size_t chan_get(struct chan *c, void *buf, size_t n, bool peek);
void chan_skip(struct chan *c, size_t n);
/* Messages: append one (0, or -EAGAIN when it does not fit now); the
 * first message's length; take it (copying at most n bytes). */
int chan_put_msg(struct chan *c, const void *buf, size_t n, const struct sockaddr_un *from, socklen_t fromlen);
/* Byte stream: rights go with the byte at stream offset at (the channel
 * owns them).  The first rights not taken yet, NULL: none; take them. */
void chan_add_rights(struct chan *c, struct passed_fds *fds, uint64_t at);
struct chan_rights *chan_first_rights(const struct chan *c);
struct passed_fds *chan_take_rights(struct chan *c);
struct chan_msg *chan_first_msg(const struct chan *c);
void chan_drop_msg(struct chan *c);
/* Readiness changed: wake both ends' waiters. */
void chan_notify(struct chan *c);
/* Resize a byte stream (F_SETPIPE_SZ): -EBUSY if more is queued. */
int chan_resize(struct chan *c, size_t cap);
