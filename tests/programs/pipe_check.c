/* pipe_check: pipes between a process and its children: ping-pong, end
 * of file, EPIPE and SIGPIPE, non-blocking ends, poll/epoll readiness,
 * packet mode, a large checked transfer, and a child exec'd with the pipe
 * as its stdout, as a shell pipeline does.
 *
 * Usage: pipe_check [virtual]
 *
 * Natively the waits last at least what they should; under Simterpose
 * ("virtual") exactly that, in simulated time.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "selfcheck.h"

#define NSEC INT64_C(1000000000)
#define MS INT64_C(1000000)

static bool virt;
#define now_ns() mono_ns()
#define expect_elapsed(what, got, want) check_wait(virt, what, got, want)

static void make_pipe(int fds[2], int flags)
{
    if (pipe2(fds, flags) < 0)
        fail("pipe2(flags %#x): %s", flags, strerror(errno));
}

/* Parent and child answer each other over two pipes; the child waits
 * 100 ms before each answer. */
static void check_ping_pong(void)
{
    int up[2], down[2];
    make_pipe(up, 0);
    make_pipe(down, 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(up[0]);
        close(down[1]);
        char b;
        for (int i = 0; i < 5; i++) {
            if (read(down[0], &b, 1) != 1)
                _exit(2);
            sleep_ms(100);
            b++;
            if (write(up[1], &b, 1) != 1)
                _exit(3);
        }
        _exit(0);
    }
    close(up[1]);
    close(down[0]);
    char b = 'a';
    int64_t t0 = now_ns();
    for (int i = 0; i < 5; i++) {
        if (write(down[1], &b, 1) != 1 || read(up[0], &b, 1) != 1)
            fail("ping-pong round %d: %s", i, strerror(errno));
    }
    if (b != 'f')
        fail("ping-pong: got %c, expected f", b);
    expect_elapsed("5 pipe round trips, 100 ms each", now_ns() - t0, 500 * MS);
    close(down[1]);
    char c;
    if (read(up[0], &c, 1) != 0)
        fail("read after the child's end closed: expected EOF");
    printf("ok: end of file once the writer is gone\n");
    close(up[0]);
    reap_child(pid, 0);
}

static volatile sig_atomic_t sigpipes;
static void on_sigpipe(int sig) { (void)sig; sigpipes++; }

static void check_epipe(void)
{
    int p[2];
    make_pipe(p, 0);
    close(p[0]);
    struct sigaction sa = {.sa_handler = on_sigpipe}, old;
    sigaction(SIGPIPE, &sa, &old);
    expect_errno("write with no reader", write(p[1], "x", 1), EPIPE);
    if (sigpipes != 1)
        fail("SIGPIPE delivered %d times, expected 1", (int)sigpipes);
    printf("ok: SIGPIPE handler ran\n");
    struct pollfd pf = {p[1], POLLOUT, 0};
    if (poll(&pf, 1, 0) != 1 || !(pf.revents & POLLERR))
        fail("poll of a write end without reader: revents %#x, expected POLLERR", pf.revents);
    printf("ok: POLLERR on the write end\n");
    sigaction(SIGPIPE, &old, NULL);
    close(p[1]);

    /* Default action: the writer dies of it. */
    make_pipe(p, 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        sleep_ms(10);
        ssize_t r = write(p[1], "x", 1);
        (void)r;
        _exit(0);
    }
    close(p[0]);
    close(p[1]);
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFSIGNALED(st) || WTERMSIG(st) != SIGPIPE)
        fail("writer to a closed pipe: status %#x, expected killed by SIGPIPE", st);
    printf("ok: SIGPIPE kills a writer by default\n");
}

static void check_nonblocking(void)
{
    int p[2];
    make_pipe(p, O_NONBLOCK | O_CLOEXEC);
    char buf[4096];
    expect_errno("read of an empty non-blocking pipe", read(p[0], buf, 1), EAGAIN);
    int flags = fcntl(p[0], F_GETFL);
    if ((flags & O_ACCMODE) != O_RDONLY || !(flags & O_NONBLOCK) || (fcntl(p[1], F_GETFL) & O_ACCMODE) != O_WRONLY)
        fail("F_GETFL: %#x / %#x", flags, fcntl(p[1], F_GETFL));
    if (!(fcntl(p[0], F_GETFD) & FD_CLOEXEC))
        fail("O_CLOEXEC not set on the read end");
    int size = fcntl(p[1], F_GETPIPE_SZ);
    if (size != 65536)
        fail("F_GETPIPE_SZ: %d, expected 65536", size);
    memset(buf, 'z', sizeof buf);
    long total = 0;
    ssize_t n;
    while ((n = write(p[1], buf, sizeof buf)) > 0)
        total += n;
    if (n != -1 || errno != EAGAIN || total != size)
        fail("filling the pipe: %ld bytes then %zd (%s), expected %d then EAGAIN", total, n, strerror(errno), size);
    printf("ok: a pipe holds %ld bytes\n", total);
    struct pollfd pf = {p[1], POLLOUT, 0};
    if (poll(&pf, 1, 0) != 0)
        fail("full pipe: poll says writable (%#x)", pf.revents);
    int queued = -1;
    if (ioctl(p[0], FIONREAD, &queued) < 0 || queued != size)
        fail("FIONREAD: %d, expected %d", queued, size);
    if (read(p[0], buf, sizeof buf) != sizeof buf)
        fail("read of a full pipe");
    if (poll(&pf, 1, 0) != 1 || !(pf.revents & POLLOUT))
        fail("after a read of 4096 bytes: not writable (%#x)", pf.revents);
    printf("ok: poll follows the room in the pipe\n");
    expect_errno("lseek on a pipe", lseek(p[0], 0, SEEK_CUR), ESPIPE);
    expect_errno("read from the write end", read(p[1], buf, 1), EBADF);
    expect_errno("write to the read end", write(p[0], buf, 1), EBADF);
    struct stat st;
    if (fstat(p[0], &st) < 0 || !S_ISFIFO(st.st_mode))
        fail("fstat: not a FIFO (mode %#o)", st.st_mode);
    printf("ok: fstat says FIFO\n");
    close(p[0]);
    close(p[1]);
    expect_errno("pipe2 with an unknown flag", pipe2(p, 0x1), EINVAL);
    expect_errno("pipe2 at a bad address", syscall(SYS_pipe2, (int *)8, 0), EFAULT);
}

/* The reader sleeps in poll/epoll until the child writes, 50 ms later. */
static void check_readiness(void)
{
    for (int use_epoll = 0; use_epoll < 2; use_epoll++) {
        int p[2];
        make_pipe(p, 0);
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            sleep_ms(50);
            _exit(write(p[1], "hello", 5) == 5 ? 0 : 1);
        }
        close(p[1]);
        int64_t t0 = now_ns();
        if (use_epoll) {
            int ep = epoll_create1(0);
            struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 7};
            if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) < 0)
                fail("epoll set-up: %s", strerror(errno));
            if (epoll_wait(ep, &ev, 1, 1000) != 1 || ev.data.u32 != 7 || !(ev.events & EPOLLIN))
                fail("epoll_wait on a pipe");
            expect_elapsed("epoll_wait until the child writes", now_ns() - t0, 50 * MS);
            close(ep);
        } else {
            struct pollfd pf = {p[0], POLLIN, 0};
            if (poll(&pf, 1, 1000) != 1 || !(pf.revents & POLLIN))
                fail("poll on a pipe: revents %#x", pf.revents);
            expect_elapsed("poll until the child writes", now_ns() - t0, 50 * MS);
        }
        char buf[16];
        if (read(p[0], buf, sizeof buf) != 5 || memcmp(buf, "hello", 5))
            fail("data after the wake-up");
        reap_child(pid, 0);
        struct pollfd pf = {p[0], POLLIN, 0};
        if (poll(&pf, 1, 0) != 1 || !(pf.revents & POLLHUP))
            fail("read end with the writer gone: revents %#x, expected POLLHUP", pf.revents);
        close(p[0]);
    }
    printf("ok: POLLHUP once the writer is gone\n");
}

static void check_packets(void)
{
    int p[2];
    make_pipe(p, O_DIRECT);
    if (write(p[1], "abc", 3) != 3 || write(p[1], "defgh", 5) != 5)
        fail("packet writes");
    char buf[100];
    ssize_t a = read(p[0], buf, sizeof buf), b = read(p[0], buf + 3, sizeof buf - 3);
    if (a != 3 || b != 5 || memcmp(buf, "abcdefgh", 8))
        fail("packet reads: %zd then %zd, expected 3 then 5", a, b);
    printf("ok: O_DIRECT keeps packet boundaries\n");
    close(p[0]);
    close(p[1]);
}

/* 8 MiB from a child, in odd-sized writes, checked byte by byte. */
static void check_bulk(void)
{
    enum { TOTAL = 8 << 20 };
    int p[2];
    make_pipe(p, 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        static unsigned char out[70001];
        size_t sent = 0;
        while (sent < TOTAL) {
            size_t n = TOTAL - sent < sizeof out ? TOTAL - sent : sizeof out;
            for (size_t i = 0; i < n; i++)
                out[i] = (unsigned char)((sent + i) * 131 % 251);
            ssize_t w = write(p[1], out, n);
            if (w <= 0)
                _exit(1);
            sent += (size_t)w;
        }
        _exit(0);
    }
    close(p[1]);
    static unsigned char in[65536 + 13];
    size_t got = 0;
    ssize_t n;
    while ((n = read(p[0], in, sizeof in)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            if (in[i] != (unsigned char)((got + (size_t)i) * 131 % 251))
                fail("bulk: byte %zu differs", got + (size_t)i);
        got += (size_t)n;
    }
    if (n < 0 || got != TOTAL)
        fail("bulk: %zu bytes, expected %d", got, TOTAL);
    printf("ok: %d bytes through a pipe, intact\n", TOTAL);
    close(p[0]);
    reap_child(pid, 0);
}

/* What a shell does for "echo ... | self": the child's stdout becomes the
 * pipe, then it execs. */
static void check_exec_stdout(const char *self)
{
    int p[2];
    make_pipe(p, O_CLOEXEC);
    pid_t pid = fork();
    if (pid == 0) {
        if (dup2(p[1], 1) != 1)
            _exit(126);
        execl(self, self, "--echo", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char buf[256];
    size_t got = 0;
    ssize_t n;
    while ((n = read(p[0], buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = 0;
    if (strcmp(buf, "line 1\nline 2\n") != 0)
        fail("exec'd child wrote \"%s\" to its stdout pipe", buf);
    printf("ok: an exec'd child's stdout is the pipe\n");
    close(p[0]);
    reap_child(pid, 0);
}

/* splice between two pipes: natively it moves the bytes; under Simterpose
 * the kernel cannot reach our pipes, so it fails with EINVAL (the answer
 * for "not this kind of file", on which callers fall back to read/write)
 * and nothing is lost. */
static void check_splice(void)
{
    int p[2], q[2];
    make_pipe(p, 0);
    make_pipe(q, 0);
    if (write(p[1], "spliced", 7) != 7)
        fail("write");
    ssize_t n = splice(p[0], NULL, q[1], NULL, 7, 0);
    char buf[8] = {0};
    if (virt) {
        if (n != -1 || errno != EINVAL)
            fail("splice between emulated pipes: %zd (%s), expected EINVAL", n, strerror(errno));
        if (read(p[0], buf, sizeof buf) != 7 || memcmp(buf, "spliced", 7))
            fail("the bytes a failed splice left must still be there");
        printf("ok: splice between emulated pipes: EINVAL, nothing lost\n");
    } else {
        if (n != 7 || read(q[0], buf, sizeof buf) != 7 || memcmp(buf, "spliced", 7))
            fail("native splice: %zd", n);
        printf("ok: splice between pipes moved 7 bytes\n");
    }
    close(p[0]);
    close(p[1]);
    close(q[0]);
    close(q[1]);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--echo") == 0) {
        printf("line 1\n");
        fflush(stdout);
        printf("line 2\n");
        return 0;
    }
    if (argc > 2 || (argc == 2 && strcmp(argv[1], "virtual") != 0)) {
        fprintf(stderr, "usage: %s [virtual]\n", argv[0]);
        return 2;
    }
    virt = argc == 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    check_ping_pong();
    check_epipe();
    check_nonblocking();
    check_readiness();
    check_packets();
    check_bulk();
    check_exec_stdout("/proc/self/exe");
    check_splice();
    printf("pipe_check: all passed\n");
    return 0;
}
