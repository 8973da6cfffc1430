/* eventfd_timerfd: eventfd counters and timerfd timers, alone, with
 * poll/epoll, and across fork.
 *
 * Usage: eventfd_timerfd [virtual]
 *
 * Natively the waits last at least what they should; under Simterpose
 * ("virtual") exactly that, in simulated time.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "selfcheck.h"

#define NSEC INT64_C(1000000000)
#define MS INT64_C(1000000)

static bool virt;

static int64_t now_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec * NSEC + ts.tv_nsec;
}

/* An elapsed time: exactly want in virtual time, at least want (and not
 * absurdly more) natively. */
static void expect_elapsed(const char *what, int64_t got, int64_t want)
{
    if (virt ? got != want : (got < want || got > want + 2 * NSEC))
        fail("%s took %" PRId64 " ns, expected %s%" PRId64, what, got, virt ? "" : ">= ", want);
    printf("ok: %s after %" PRId64 " ms\n", what, got / MS);
}

static uint64_t read_u64(int fd)
{
    uint64_t v;
    ssize_t n = read(fd, &v, sizeof v);
    if (n != sizeof v)
        fail("read of fd %d: %zd (%s)", fd, n, strerror(errno));
    return v;
}

static void write_u64(int fd, uint64_t v)
{
    if (write(fd, &v, sizeof v) != sizeof v)
        fail("write of %" PRIu64 " to fd %d: %s", v, fd, strerror(errno));
}

static void eventfd_counter(void)
{
    int fd = eventfd(3, 0);
    if (fd < 0)
        fail("eventfd: %s", strerror(errno));
    if (read_u64(fd) != 3)
        fail("eventfd(3): first read is not 3");
    write_u64(fd, 5);
    write_u64(fd, 2);
    if (read_u64(fd) != 7)
        fail("writes of 5 and 2 do not read back as 7");
    uint32_t small;
    expect_errno("read into 4 bytes", read(fd, &small, sizeof small), EINVAL);
    uint64_t max = UINT64_MAX;
    expect_errno("write of UINT64_MAX", write(fd, &max, sizeof max), EINVAL);
    close(fd);

    fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    uint64_t v;
    expect_errno("non-blocking read of 0", read(fd, &v, sizeof v), EAGAIN);
    if (!(fcntl(fd, F_GETFL) & O_NONBLOCK))
        fail("EFD_NONBLOCK does not show in F_GETFL");
    if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC))
        fail("EFD_CLOEXEC does not show in F_GETFD");
    write_u64(fd, UINT64_MAX - 1);
    v = 1;
    expect_errno("write past the maximum (non-blocking)", write(fd, &v, sizeof v), EAGAIN);
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
    if (poll(&p, 1, 0) != 1 || p.revents != POLLIN)
        fail("full counter: poll revents %#x, expected POLLIN only", p.revents);
    if (read_u64(fd) != UINT64_MAX - 1)
        fail("the maximum does not read back");
    p.revents = 0;
    if (poll(&p, 1, 0) != 1 || p.revents != POLLOUT)
        fail("empty counter: poll revents %#x, expected POLLOUT only", p.revents);
    close(fd);

    /* No file position: pread is ESPIPE; preadv2 at offset -1 reads as
     * readv does; FIONBIO sets non-blocking as fcntl would. */
    fd = eventfd(2, 0);
    expect_errno("pread of an eventfd", pread(fd, &v, sizeof v, 0), ESPIPE);
    struct iovec iov = {&v, sizeof v};
    if (preadv2(fd, &iov, 1, -1, 0) != sizeof v || v != 2)
        fail("preadv2 at offset -1 of an eventfd: not a read of its count");
    int one = 1;
    if (ioctl(fd, FIONBIO, &one) < 0)
        fail("FIONBIO on an eventfd: %s", strerror(errno));
    expect_errno("read of an empty eventfd after FIONBIO", read(fd, &v, sizeof v), EAGAIN);
    close(fd);

    fd = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK);
    for (int i = 0; i < 3; i++)
        if (read_u64(fd) != 1)
            fail("EFD_SEMAPHORE read %d is not 1", i);
    expect_errno("semaphore exhausted", read(fd, &v, sizeof v), EAGAIN);
    close(fd);
    printf("ok: eventfd counts, semaphore mode, limits, errors, ESPIPE, preadv2(-1), FIONBIO as Linux\n");
}

/* The child sleeps, then writes; the parent blocks in read meanwhile. */
static void eventfd_across_fork(void)
{
    int fd = eventfd(0, 0);
    int64_t t0 = now_ns(CLOCK_MONOTONIC);
    pid_t pid = fork();
    if (pid < 0)
        fail("fork: %s", strerror(errno));
    if (pid == 0) {
        struct timespec d = {0, 200 * MS};
        nanosleep(&d, NULL);
        write_u64(fd, 42);
        _exit(0);
    }
    if (read_u64(fd) != 42)
        fail("the parent did not read the child's 42");
    expect_elapsed("eventfd read woken by a forked child's write", now_ns(CLOCK_MONOTONIC) - t0, 200 * MS);
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
        fail("child status %#x", st);
    close(fd);
}

static void arm(int fd, int flags, int64_t value, int64_t interval)
{
    struct itimerspec its = {.it_value = {value / NSEC, value % NSEC}, .it_interval = {interval / NSEC, interval % NSEC}};
    if (timerfd_settime(fd, flags, &its, NULL) < 0)
        fail("timerfd_settime: %s", strerror(errno));
}

static void timerfd_oneshot_epoll(void)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 7};
    if (fd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        fail("timerfd/epoll set-up: %s", strerror(errno));
    int64_t t0 = now_ns(CLOCK_MONOTONIC);
    arm(fd, 0, 300 * MS, 0);
    struct epoll_event out;
    if (epoll_wait(ep, &out, 1, -1) != 1 || out.data.u32 != 7 || !(out.events & EPOLLIN))
        fail("epoll_wait on a timerfd did not report it");
    expect_elapsed("one-shot timerfd in epoll", now_ns(CLOCK_MONOTONIC) - t0, 300 * MS);
    if (read_u64(fd) != 1)
        fail("one-shot: not one expiration");
    struct itimerspec cur;
    if (timerfd_gettime(fd, &cur) < 0 || cur.it_value.tv_sec || cur.it_value.tv_nsec || cur.it_interval.tv_nsec)
        fail("an expired one-shot timer still shows time left");
    if (epoll_wait(ep, &out, 1, 0) != 0)
        fail("an expired, read timer is still ready");
    close(ep);
    close(fd);
}

static void timerfd_periodic(void)
{
    int fd = timerfd_create(CLOCK_BOOTTIME, 0);
    arm(fd, 0, 100 * MS, 50 * MS);
    struct timespec d = {0, 320 * MS};
    nanosleep(&d, NULL); /* expirations at 100, 150, 200, 250, 300 ms */
    uint64_t n = read_u64(fd);
    if (virt ? n != 5 : (n < 5 || n > 6))
        fail("periodic timer: %" PRIu64 " expirations after 320 ms, expected 5", n);
    struct itimerspec cur;
    int64_t t0 = now_ns(CLOCK_MONOTONIC); /* before: natively, time passes */
    timerfd_gettime(fd, &cur);
    int64_t left = cur.it_value.tv_sec * NSEC + cur.it_value.tv_nsec;
    if (cur.it_interval.tv_nsec != 50 * MS || (virt ? left != 30 * MS : left > 50 * MS))
        fail("periodic timer: %" PRId64 " ns to the next expiration, interval %ld", left, cur.it_interval.tv_nsec);
    printf("ok: periodic timerfd: 5 expirations in 320 ms, next in %" PRId64 " ms\n", left / MS);
    /* A blocking read waits for the next one. */
    if (read_u64(fd) != 1)
        fail("periodic timer: the blocking read did not see one expiration");
    expect_elapsed("blocking read of a periodic timerfd", now_ns(CLOCK_MONOTONIC) - t0, left);
    close(fd);
}

static void timerfd_gettime_and_disarm(void)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    arm(fd, 0, NSEC, 0);
    struct timespec d = {0, 250 * MS};
    nanosleep(&d, NULL);
    struct itimerspec cur;
    timerfd_gettime(fd, &cur);
    int64_t left = cur.it_value.tv_sec * NSEC + cur.it_value.tv_nsec;
    if (virt ? left != 750 * MS : (left > 750 * MS || left < 0))
        fail("1 s timer after 250 ms: %" PRId64 " ns left", left);
    struct itimerspec zero = {0}, old;
    if (timerfd_settime(fd, 0, &zero, &old) < 0)
        fail("disarming: %s", strerror(errno));
    int64_t old_left = old.it_value.tv_sec * NSEC + old.it_value.tv_nsec;
    if (virt ? old_left != 750 * MS : old_left > 750 * MS)
        fail("disarming: old value %" PRId64 " ns", old_left);
    uint64_t v;
    expect_errno("non-blocking read of a disarmed timer", read(fd, &v, sizeof v), EAGAIN);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 1200) != 0)
        fail("a disarmed timer became ready");
    printf("ok: timerfd_gettime shows %" PRId64 " ms left; disarmed, it never fires\n", left / MS);
    close(fd);
}

static void timerfd_abstime_select(void)
{
    int fd = timerfd_create(CLOCK_REALTIME, 0);
    int64_t t0 = now_ns(CLOCK_MONOTONIC);
    arm(fd, TFD_TIMER_ABSTIME, now_ns(CLOCK_REALTIME) + 150 * MS, 0);
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(fd, &rd);
    if (select(fd + 1, &rd, NULL, NULL, NULL) != 1 || !FD_ISSET(fd, &rd))
        fail("select on an absolute REALTIME timer");
    int64_t took = now_ns(CLOCK_MONOTONIC) - t0;
    /* natively the two clock reads are apart by a little */
    expect_elapsed("absolute CLOCK_REALTIME timerfd in select", virt ? took : took + MS, 150 * MS);
    if (read_u64(fd) != 1)
        fail("absolute timer: not one expiration");
    /* In the past: expires at once. */
    arm(fd, TFD_TIMER_ABSTIME, 1, 0);
    if (read_u64(fd) != 1)
        fail("a timer set in the past did not expire at once");
    close(fd);
}

static void timerfd_errors(void)
{
    expect_errno("timerfd_create(bad clock)", timerfd_create(12345, 0), EINVAL);
    expect_errno("timerfd_create(bad flags)", timerfd_create(CLOCK_MONOTONIC, 0x1234), EINVAL);
    int fd = timerfd_create(CLOCK_MONOTONIC, 0);
    struct itimerspec its = {.it_value = {1, 0}};
    expect_errno("timerfd_settime(bad flags)", timerfd_settime(fd, 0x100, &its, NULL), EINVAL);
    expect_errno("timerfd_settime(bad pointer)", timerfd_settime(fd, 0, (void *)8, NULL), EFAULT);
    its.it_value.tv_nsec = NSEC;
    expect_errno("timerfd_settime(tv_nsec = 1e9)", timerfd_settime(fd, 0, &its, NULL), EINVAL);
    expect_errno("timerfd_gettime(bad pointer)", timerfd_gettime(fd, (void *)8), EFAULT);
    uint64_t v = 1;
    expect_errno("write to a timerfd", write(fd, &v, sizeof v), EINVAL);
    uint32_t small;
    expect_errno("read of a timerfd into 4 bytes", read(fd, &small, sizeof small), EINVAL);
    int efd = eventfd(0, 0);
    its.it_value.tv_nsec = 0;
    expect_errno("timerfd_settime on an eventfd", timerfd_settime(efd, 0, &its, NULL), EINVAL);
    close(efd);
    close(fd);
    printf("ok: timerfd errors as Linux\n");
}

int main(int argc, char **argv)
{
    virt = argc > 1 && !strcmp(argv[1], "virtual");
    setvbuf(stdout, NULL, _IOLBF, 0);
    eventfd_counter();
    eventfd_across_fork();
    timerfd_oneshot_epoll();
    timerfd_periodic();
    timerfd_gettime_and_disarm();
    timerfd_abstime_select();
    timerfd_errors();
    printf("eventfd_timerfd: all checks passed\n");
    return 0;
}
