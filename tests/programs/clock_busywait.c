/* clock_busywait: busy-waits on the clock must end, and clock reads must
 * stay coherent across fork.
 *
 * Usage: clock_busywait [virtual|virtual-cpu]
 *
 * Spins on clock_gettime (through the vDSO), gettimeofday, time() and the
 * raw clock_gettime syscall until a deadline (native: 20 ms, 1 s for
 * time(); virtual: 2 s each), checking the clock never goes back.  Then a
 * forked child reads the clock, sleeps 1 s and checks it moved by exactly
 * that (virtual) or at least that (native); the parent's clock after
 * waitpid() must be at least the child's.
 *
 * Virtual mode also checks that a busy-wait overshoots its deadline by at
 * most BUSY_OVERSHOOT: time must pass in small steps while a program
 * polls, not jump.  virtual-cpu is for --cpu-model=measured: computation
 * takes simulated time too, so the child's sleep is checked as natively
 * (at least 1 s).  Prints the number of reads each loop took.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "selfcheck.h"

#define NSEC INT64_C(1000000000)
#define BUSY_OVERSHOOT (2 * INT64_C(1000000)) /* 2 ms */

static bool virt;     /* under Simterpose */
static bool exact;    /* ... where only sleeps move the clock */

static int64_t ns_of(const struct timespec *ts) { return ts->tv_sec * NSEC + ts->tv_nsec; }

static int64_t mono_vdso(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        fail("clock_gettime(CLOCK_MONOTONIC): %s", strerror(errno));
    return ns_of(&ts);
}

static int64_t mono_raw_syscall(void)
{
    struct timespec ts;
    if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) != 0)
        fail("syscall(clock_gettime): %s", strerror(errno));
    return ns_of(&ts);
}

static int64_t real_gettimeofday(void)
{
    struct timeval tv;
    if (gettimeofday(&tv, NULL) != 0)
        fail("gettimeofday: %s", strerror(errno));
    return tv.tv_sec * NSEC + tv.tv_usec * 1000;
}

static int64_t real_time(void)
{
    time_t a = 0;
    time_t b = time(&a);
    if (b != a)
        fail("time() returned %lld but stored %lld", (long long)b, (long long)a);
    return b * NSEC;
}

static void busy_wait(const char *what, int64_t (*now)(void), int64_t span)
{
    int64_t start = now(), last = start, deadline = start + span, t;
    long reads = 0;
    do {
        t = now();
        reads++;
        if (t < last)
            fail("%s went back: %" PRId64 " after %" PRId64, what, t, last);
        last = t;
    } while (t < deadline);
    if (virt && now != real_time && t - deadline > BUSY_OVERSHOOT)
        fail("%s: busy-wait overshot its deadline by %" PRId64 " ns", what, t - deadline);
    printf("ok: %s: busy-wait of %.3f s ended after %ld reads\n", what, (double)span / NSEC, reads);
}

static void fork_and_sleep(void)
{
    int64_t before = mono_vdso();
    pid_t pid = fork();
    if (pid < 0)
        fail("fork: %s", strerror(errno));
    if (pid == 0) {
        int64_t a = mono_vdso();
        if (a < before)
            fail("child: clock went back across fork");
        struct timespec one = {1, 0};
        if (nanosleep(&one, NULL) != 0)
            _exit(3);
        int64_t b = mono_vdso();
        if (exact ? b - a != NSEC : b - a < NSEC) {
            fprintf(stderr, "FAIL: child: slept 1 s, clock moved %" PRId64 " ns\n", b - a);
            _exit(1);
        }
        _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid)
        fail("waitpid: %s", strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("child failed (status %#x)", status);
    int64_t after = mono_vdso();
    if (after - before < NSEC)
        fail("parent: its child slept 1 s, but its own clock moved only %" PRId64 " ns", after - before);
    printf("ok: a forked child's clock moved by the second it slept; the parent's too\n");
}

int main(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && strcmp(argv[1], "virtual") && strcmp(argv[1], "virtual-cpu")))
        fail("usage: clock_busywait [virtual|virtual-cpu]");
    virt = argc == 2;
    exact = virt && !strcmp(argv[1], "virtual");
    setvbuf(stdout, NULL, _IOLBF, 0);
    int64_t span = virt ? 2 * NSEC : NSEC / 50;
    busy_wait("clock_gettime (vDSO)", mono_vdso, span);
    busy_wait("clock_gettime (syscall)", mono_raw_syscall, span);
    busy_wait("gettimeofday", real_gettimeofday, span);
    /* time() counts whole seconds: wait for the next one or two. */
    busy_wait("time", real_time, virt ? 2 * NSEC : NSEC);
    fork_and_sleep();
    printf("clock_busywait: all checks passed\n");
    return 0;
}
