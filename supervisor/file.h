/* Emulated open files and per-process descriptor tables, like the
 * kernel's: fd table -> reference-counted open file -> per-kind state. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "supervisor.h"

struct sock;
struct epoll;
struct usock;

struct chan;

enum file_kind { FILE_SOCKET, FILE_EPOLL, FILE_EVENTFD, FILE_TIMERFD, FILE_RANDOM, FILE_PIPE, FILE_UNIX, FILE_SIGNALFD };

/* A pipe end: it reads in or writes out (the other is NULL). */
struct pipe_end {
    struct chan *in, *out;
};

/* An eventfd: a counter (eventfd(2)). */
struct eventfd_state {
    uint64_t count;
    bool semaphore;        /* EFD_SEMAPHORE: reads take 1 */
};

/* A timerfd in simulated time.  Expirations are counted lazily, from the
 * clock, whenever someone looks (timerfd_settle). */
struct timerfd_state {
    int clock;             /* CLOCK_REALTIME, CLOCK_MONOTONIC or CLOCK_BOOTTIME */
    int64_t next_ns;       /* simulated time of the next expiration, -1: disarmed */
    int64_t interval_ns;   /* 0: one-shot */
    uint64_t ticks;        /* expirations not read yet */
};

/* Tasks waiting for a file's readiness to change. */
struct waitlist {
    struct task **v;
    size_t n, cap;
};
void waitlist_add(struct waitlist *w, struct task *t);
void waitlist_remove(struct waitlist *w, struct task *t);
void waitlist_wake(struct waitlist *w);
void waitlist_free(struct waitlist *w);

struct file {
    uint64_t id;           /* unique for the run: epoll tells reused fds apart */
    int refs;              /* fd table entries and holders */
    enum file_kind kind;
    int status_flags;      /* O_NONBLOCK, shared by every duplicate */
    int accmode;           /* O_RDONLY, O_WRONLY or O_RDWR (F_GETFL) */
    uint64_t seq;          /* bumped at every readiness change (epoll ET) */
    struct waitlist waiters;
    union {
        struct sock *sock;
        struct epoll *ep;
        struct eventfd_state evfd;
        struct timerfd_state tfd;
        bool dev_random;   /* FILE_RANDOM: /dev/random (else /dev/urandom) */
        struct pipe_end pipe;
        struct usock *us;  /* FILE_UNIX (syscalls/unix.c) */
        struct {           /* FILE_SIGNALFD (syscalls/signal.c) */
            uint64_t mask;     /* bit n-1: signal n */
            struct proc *owner;/* whose pending signals poll looks at */
        } sfd;
    };
};

struct fd_entry {
    struct file *file;
    bool cloexec;
};

/* Emulated descriptors of a process: slots 0-2 are fds 0-2, slot
 * EMU_FD_LOW + i is fd EMU_FD_BASE + i (fdtable_slot_fd). */
struct fdtable {
    int refs;              /* processes sharing it (CLONE_FILES) */
    struct fd_entry *v;
    size_t cap;
};

int fdtable_slot_fd(size_t slot);
struct fdtable *fdtable_new(void);
struct fdtable *fdtable_copy(const struct fdtable *t); /* fork */
void fdtable_put(struct fdtable *t);
struct file *fd_get(const struct task *t, int fd);
struct fd_entry *fd_entry(const struct task *t, int fd);
/* Is fd open in the target's kernel table? */
bool fd_native_open(const struct task *t, int fd);
/* Lowest free emulated fd in the table (>= min), or -EMFILE. */
int fd_alloc(struct task *t, int min);
/* The table takes its own reference to f. */
void fd_set_entry(struct task *t, int fd, struct file *f, bool cloexec);
/* Forget fd (the kernel closes the placeholder). */
void fd_clear(struct task *t, int fd);
/* After an execve: drop the close-on-exec entries the kernel closed. */
void fdtable_exec(struct task *t);

struct file *file_new(enum file_kind kind);
void file_ref(struct file *f);
void file_unref(struct file *f);
/* Readiness as poll(2) reports it. */
unsigned file_poll(struct file *f);
/* Readiness may have changed: wake whoever waits on it. */
void file_notify(struct file *f);
/* The next simulated time at which f becomes ready by itself (a timer
 * expires), or -1: pollers must wake up then. */
int64_t file_next_event_ns(const struct file *f);
/* Count the expirations of timerfd f up to now. */
void timerfd_settle(struct file *f);

/* AF_UNIX sockets (syscalls/unix.c). */
unsigned usock_poll(const struct file *f);
void usock_release(struct file *f);
int usock_type(const struct file *f);
size_t usock_unread(const struct file *f);

/* signalfds (syscalls/signal.c). */
unsigned signalfd_poll(const struct file *f);
void signalfd_release(struct file *f);

/* Install a placeholder for f at fd in the target (kernel side) and in
 * our table (which takes a reference).  Returns fd or -errno. */
int fd_install(struct supervisor *s, struct task *t, struct file *f, int fd, bool cloexec);
/* A new file f at the lowest free emulated fd; the caller's reference goes
 * to the table (or f is freed on failure).  Returns the fd or -errno. */
int fd_install_new(struct supervisor *s, struct task *t, struct file *f, bool cloexec);
/* Two new files (a pipe, a socketpair) at the two lowest free emulated
 * fds, written to fds; the table takes the callers' references.  0 or
 * -errno. */
int fd_install_pair(struct supervisor *s, struct task *t, struct file *f[2], bool cloexec, int fds[2]);
