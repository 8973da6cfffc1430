/* signal_check: signals between a process and its children, and timers:
 * a handler interrupts a blocked read (EINTR) or lets it restart
 * (SA_RESTART), sleeps and polls end with EINTR anyway, sigtimedwait
 * times out and receives, alarm/pause, a periodic setitimer, SIGCHLD
 * interrupting a poll, a default action killing a child, timer_create
 * timers (signal, absolute, SIGEV_THREAD), signalfd.
 *
 * Usage: signal_check [virtual]
 *
 * Natively the waits last at least what they should; under Simterpose
 * ("virtual") exactly that, in simulated time.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "selfcheck.h"

#define NSEC INT64_C(1000000000)
#define MS INT64_C(1000000)

static bool virt;
#define now_ns() mono_ns()
#define expect_elapsed(what, got, want) check_wait(virt, what, got, want)
/* Under --backend=ptrace a call cannot be restarted after a handler: it
 * ends with EINTR even with SA_RESTART (docs/ARCHITECTURE.md, Backends). */
static bool no_restart;

static volatile sig_atomic_t hits;
static void on_signal(int sig) { (void)sig; hits++; }

static void handle(int sig, int flags)
{
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = flags};
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) < 0)
        fail("sigaction(%d): %s", sig, strerror(errno));
}

/* A child that signals its parent after ms (and writes to fd after
 * write_ms, if fd >= 0). */
static pid_t signal_later(int sig, int ms, int fd, int write_ms)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        sleep_ms(ms);
        kill(parent, sig);
        if (fd >= 0) {
            sleep_ms(write_ms - ms);
            if (write(fd, "x", 1) != 1)
                _exit(2);
        }
        _exit(0);
    }
    return pid;
}

static void check_read_interrupted(void)
{
    for (int restart = 0; restart < 2; restart++) {
        int p[2];
        if (pipe(p) < 0)
            fail("pipe");
        handle(SIGUSR1, restart ? SA_RESTART : 0);
        hits = 0;
        int64_t t0 = now_ns();
        pid_t pid = signal_later(SIGUSR1, 100, p[1], 200);
        char c;
        ssize_t n = read(p[0], &c, 1);
        int64_t took = now_ns() - t0;
        if (hits != 1)
            fail("handler ran %d times", (int)hits);
        if (restart && no_restart) {
            if (n != -1 || errno != EINTR)
                fail("ptrace backend: read returned %zd (%s), expected EINTR", n, strerror(errno));
            expect_elapsed("SA_RESTART under ptrace: EINTR", took, 100 * MS);
            char drain;
            if (read(p[0], &drain, 1) != 1)
                fail("the byte written at 200 ms");
        } else if (restart) {
            if (n != 1)
                fail("SA_RESTART: read returned %zd (%s), expected the byte", n, strerror(errno));
            expect_elapsed("SA_RESTART: read restarted after the handler, then data", took, 200 * MS);
        } else {
            if (n != -1 || errno != EINTR)
                fail("read returned %zd (%s), expected EINTR", n, strerror(errno));
            expect_elapsed("read interrupted (EINTR) by a handler", took, 100 * MS);
        }
        reap_child(pid, 0);
        close(p[0]);
        close(p[1]);
    }
}

static void check_sleep_interrupted(void)
{
    handle(SIGUSR1, SA_RESTART);
    hits = 0;
    int64_t t0 = now_ns();
    pid_t pid = signal_later(SIGUSR1, 100, -1, 0);
    struct timespec ts = {1, 0}, rem = {0, 0};
    int r = nanosleep(&ts, &rem);
    int64_t took = now_ns() - t0;
    if (r != -1 || errno != EINTR || hits != 1)
        fail("nanosleep: %d (%s), handler ran %d times; expected EINTR once", r, strerror(errno), (int)hits);
    expect_elapsed("nanosleep interrupted even with SA_RESTART", took, 100 * MS);
    int64_t left = rem.tv_sec * NSEC + rem.tv_nsec;
    /* Natively the child's 100 ms start before the parent's sleep does. */
    if (virt ? left != 900 * MS : (left <= 0 || left >= NSEC))
        fail("nanosleep left %" PRId64 " ns, expected %s", left, virt ? "900 ms" : "between 0 and 1 s");
    printf("ok: nanosleep reports %" PRId64 " ms left\n", left / MS);
    reap_child(pid, 0);
}

static void check_sigtimedwait(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    struct timespec to = {0, 300 * MS};
    int64_t t0 = now_ns();
    int r = sigtimedwait(&set, NULL, &to);
    if (r != -1 || errno != EAGAIN)
        fail("sigtimedwait with nothing sent: %d (%s), expected EAGAIN", r, strerror(errno));
    expect_elapsed("sigtimedwait timed out", now_ns() - t0, 300 * MS);
    t0 = now_ns();
    pid_t pid = signal_later(SIGUSR2, 50, -1, 0);
    siginfo_t info;
    to.tv_sec = 5;
    r = sigtimedwait(&set, &info, &to);
    if (r != SIGUSR2 || info.si_signo != SIGUSR2)
        fail("sigtimedwait: %d (%s), expected SIGUSR2", r, strerror(errno));
    expect_elapsed("sigtimedwait got SIGUSR2", now_ns() - t0, 50 * MS);
    reap_child(pid, 0);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

static void check_alarm(void)
{
    handle(SIGALRM, 0);
    hits = 0;
    if (alarm(5) != 0)
        fail("alarm: a timer was already armed");
    unsigned left = alarm(0);
    if (left != 5)
        fail("alarm(0) returned %u, expected 5", left);
    int64_t t0 = now_ns();
    alarm(1);
    int r = pause();
    if (r != -1 || errno != EINTR || hits != 1)
        fail("pause: %d (%s), handler ran %d times", r, strerror(errno), (int)hits);
    expect_elapsed("alarm(1) then pause", now_ns() - t0, 1000 * MS);

    /* Periodic: five ticks of 100 ms, waited for with sigsuspend. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGALRM);
    sigprocmask(SIG_BLOCK, &block, &old);
    hits = 0;
    struct itimerval it = {{0, 100000}, {0, 100000}}, cur;
    t0 = now_ns();
    if (setitimer(ITIMER_REAL, &it, NULL) < 0)
        fail("setitimer: %s", strerror(errno));
    while (hits < 5)
        sigsuspend(&old);
    int64_t took = now_ns() - t0;
    if (getitimer(ITIMER_REAL, &cur) < 0 || cur.it_interval.tv_usec != 100000)
        fail("getitimer: interval %ld us", (long)cur.it_interval.tv_usec);
    memset(&it, 0, sizeof it);
    setitimer(ITIMER_REAL, &it, NULL);
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (virt ? took != 500 * MS : took < 500 * MS)
        fail("5 ticks of 100 ms took %" PRId64 " ns", took);
    printf("ok: 5 periodic SIGALRMs in %" PRId64 " ms (sigsuspend)\n", took / MS);
}

static void check_sigchld(void)
{
    handle(SIGCHLD, SA_RESTART);
    hits = 0;
    int p[2];
    if (pipe(p) < 0)
        fail("pipe");
    int64_t t0 = now_ns();
    pid_t pid = fork();
    if (pid == 0) {
        sleep_ms(50);
        _exit(0);
    }
    struct pollfd pf = {p[0], POLLIN, 0};
    int r = poll(&pf, 1, 5000);
    if (r != -1 || errno != EINTR || hits != 1)
        fail("poll while a child exits: %d (%s), SIGCHLD handler ran %d times", r, strerror(errno), (int)hits);
    expect_elapsed("SIGCHLD interrupted poll", now_ns() - t0, 50 * MS);
    reap_child(pid, 0);
    signal(SIGCHLD, SIG_DFL);
    close(p[0]);
    close(p[1]);
}

static void check_default_kill(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        for (;;)
            pause();
    }
    sleep_ms(30);
    int64_t t0 = now_ns();
    if (kill(pid, SIGTERM) < 0)
        fail("kill: %s", strerror(errno));
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFSIGNALED(st) || WTERMSIG(st) != SIGTERM)
        fail("child status %#x, expected killed by SIGTERM", st);
    expect_elapsed("SIGTERM ended a child in pause()", now_ns() - t0, 0);
}

static sem_t timer_sem;
static union sigval timer_seen;
static void on_timer_thread(union sigval v)
{
    timer_seen = v;
    sem_post(&timer_sem);
}

/* timer_create: a signal carrying SI_TIMER and the value, an absolute
 * REALTIME expiry, and glibc's SIGEV_THREAD (a helper thread waiting for
 * the signal starts the callback). */
static void check_posix_timers(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR2, .sigev_value.sival_int = 42};
    timer_t tm;
    if (timer_create(CLOCK_MONOTONIC, &ev, &tm) < 0)
        fail("timer_create: %s", strerror(errno));
    struct itimerspec its = {{0, 0}, {0, 150 * MS}}, cur;
    int64_t t0 = now_ns();
    if (timer_settime(tm, 0, &its, NULL) < 0)
        fail("timer_settime: %s", strerror(errno));
    siginfo_t info;
    if (sigwaitinfo(&set, &info) != SIGUSR2 || info.si_code != SI_TIMER || info.si_value.sival_int != 42)
        fail("timer signal: code %d value %d, expected SI_TIMER and 42", info.si_code, info.si_value.sival_int);
    expect_elapsed("timer_create signal (SI_TIMER, value 42)", now_ns() - t0, 150 * MS);
    if (timer_gettime(tm, &cur) < 0 || cur.it_value.tv_sec || cur.it_value.tv_nsec)
        fail("a one-shot timer that fired should be disarmed");
    /* absolute, on the realtime clock */
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    rt.tv_nsec += 100 * MS;
    if (rt.tv_nsec >= NSEC) {
        rt.tv_sec++;
        rt.tv_nsec -= NSEC;
    }
    timer_t abs_tm;
    ev.sigev_value.sival_int = 7;
    if (timer_create(CLOCK_REALTIME, &ev, &abs_tm) < 0)
        fail("timer_create(CLOCK_REALTIME): %s", strerror(errno));
    its = (struct itimerspec){{0, 0}, rt};
    t0 = now_ns();
    if (timer_settime(abs_tm, TIMER_ABSTIME, &its, NULL) < 0)
        fail("timer_settime(TIMER_ABSTIME): %s", strerror(errno));
    if (sigwaitinfo(&set, &info) != SIGUSR2 || info.si_value.sival_int != 7)
        fail("absolute timer signal: value %d", info.si_value.sival_int);
    int64_t took = now_ns() - t0;
    if (virt ? took != 100 * MS : took < 90 * MS)
        fail("absolute timer after %" PRId64 " ns, expected 100 ms", took);
    printf("ok: absolute CLOCK_REALTIME timer after %" PRId64 " ms\n", took / MS);
    timer_delete(tm);
    timer_delete(abs_tm);
    sigprocmask(SIG_UNBLOCK, &set, NULL);

    sem_init(&timer_sem, 0, 0);
    struct sigevent tev = {.sigev_notify = SIGEV_THREAD, .sigev_notify_function = on_timer_thread,
                           .sigev_value.sival_int = 99};
    if (timer_create(CLOCK_MONOTONIC, &tev, &tm) < 0)
        fail("timer_create(SIGEV_THREAD): %s", strerror(errno));
    its = (struct itimerspec){{0, 0}, {0, 200 * MS}};
    t0 = now_ns();
    timer_settime(tm, 0, &its, NULL);
    while (sem_wait(&timer_sem) < 0 && errno == EINTR)
        ;
    if (timer_seen.sival_int != 99)
        fail("SIGEV_THREAD callback got %d, expected 99", timer_seen.sival_int);
    expect_elapsed("SIGEV_THREAD callback", now_ns() - t0, 200 * MS);
    timer_delete(tm);
}

/* signalfd: a blocked signal read from a signalfd, in read and in epoll,
 * and SIGCHLD from a child that exits. */
static void check_signalfd(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0)
        fail("signalfd: %s", strerror(errno));
    struct signalfd_siginfo si;
    expect_errno("read of a signalfd with nothing pending", read(sfd, &si, sizeof si), EAGAIN);
    int flags = fcntl(sfd, F_GETFL);
    fcntl(sfd, F_SETFL, flags & ~O_NONBLOCK);
    int64_t t0 = now_ns();
    pid_t pid = signal_later(SIGUSR1, 80, -1, 0);
    if (read(sfd, &si, sizeof si) != sizeof si || si.ssi_signo != SIGUSR1)
        fail("signalfd read: signal %u, expected SIGUSR1", si.ssi_signo);
    expect_elapsed("signalfd read of SIGUSR1", now_ns() - t0, 80 * MS);
    /* the child's exit is SIGCHLD, blocked: read it too */
    if (read(sfd, &si, sizeof si) != sizeof si || si.ssi_signo != SIGCHLD || (pid_t)si.ssi_pid != pid)
        fail("signalfd read: signal %u pid %u, expected SIGCHLD from %d", si.ssi_signo, si.ssi_pid, pid);
    printf("ok: signalfd read SIGCHLD of child %d\n", pid);
    reap_child(pid, 0);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = sfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
    t0 = now_ns();
    pid = signal_later(SIGUSR1, 40, -1, 0);
    if (epoll_wait(ep, &ev, 1, 5000) != 1 || ev.data.fd != sfd)
        fail("epoll_wait on a signalfd");
    expect_elapsed("epoll_wait on a signalfd", now_ns() - t0, 40 * MS);
    if (read(sfd, &si, sizeof si) != sizeof si || si.ssi_signo != SIGUSR1)
        fail("signalfd read after epoll: %u", si.ssi_signo);
    reap_child(pid, 0);
    close(ep);
    close(sfd);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

/* A sigset of the wrong size is EINVAL, one at a bad address EFAULT,
 * as the kernel says (raw calls: libc always passes 8 bytes). */
static void check_bad_sigsets(void)
{
    uint64_t set = 0;
    void *bad = (void *)8;
    struct timespec zero = {0, 0};
    expect_errno("rt_sigtimedwait, sigset size 4", syscall(SYS_rt_sigtimedwait, &set, NULL, &zero, 4), EINVAL);
    expect_errno("rt_sigtimedwait, sigset at a bad address", syscall(SYS_rt_sigtimedwait, bad, NULL, &zero, 8), EFAULT);
    expect_errno("rt_sigsuspend, sigset size 4", syscall(SYS_rt_sigsuspend, &set, 4), EINVAL);
    expect_errno("rt_sigsuspend, sigset at a bad address", syscall(SYS_rt_sigsuspend, bad, 8), EFAULT);
    expect_errno("signalfd4, sigset size 4", syscall(SYS_signalfd4, -1, &set, 4, 0), EINVAL);
    expect_errno("signalfd4, sigset at a bad address", syscall(SYS_signalfd4, -1, bad, 8, 0), EFAULT);
}

int main(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && strcmp(argv[1], "virtual") != 0)) {
        fprintf(stderr, "usage: %s [virtual]\n", argv[0]);
        return 2;
    }
    virt = argc == 2;
    const char *backend = getenv("SIMTERPOSE_BACKEND");
    no_restart = virt && backend && strcmp(backend, "ptrace") == 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    check_read_interrupted();
    check_sleep_interrupted();
    check_sigtimedwait();
    check_alarm();
    check_sigchld();
    check_default_kill();
    check_posix_timers();
    check_signalfd();
    check_bad_sigsets();
    printf("signal_check: all passed\n");
    return 0;
}
