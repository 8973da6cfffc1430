/* clock_check: self-checking test of the time-related syscalls.
 *
 * Usage: clock_check [virtual [EPOCH]]
 *
 * Native mode (no argument): checks what real Linux guarantees (clocks
 * readable and consistent, sleeps last at least as long as requested, error
 * codes).  Virtual mode (run under Simterpose): checks the exact virtual-time
 * behaviour: the program starts at simulated time 0, CLOCK_REALTIME is
 * EPOCH + simulated time, and every sleep advances every clock by exactly the
 * requested amount.
 *
 * Also built with -static to check the handling of the vDSO in static binaries.
 * Exit status: 0 on success, 1 on a failed check (one "FAIL: ..." line on
 * stderr), 2 on a usage error.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/resource.h>
#include <sys/times.h>
#include <time.h>
#include <unistd.h>

#include "selfcheck.h"

#define NSEC_PER_SEC INT64_C(1000000000)
#define NSEC_PER_MSEC INT64_C(1000000)
#define DEFAULT_EPOCH 946684800LL
/* Upper slack for native sleeps: a sleep must not overshoot by this much. */
#define NATIVE_SLACK (2 * NSEC_PER_SEC)
/* Tolerance for clocks that NTP may slew or that run from another source. */
#define NATIVE_SKEW NSEC_PER_MSEC
/* Max distance between a coarse clock and its precise counterpart. */
#define COARSE_TOLERANCE (20 * NSEC_PER_MSEC)

static bool virt;
static long long epoch = DEFAULT_EPOCH;


enum { C_RT, C_MONO, C_BOOT, C_RT_COARSE, C_MONO_COARSE, C_RAW, NCLOCKS };

static const struct {
    clockid_t id;
    const char *name;
} clocks[NCLOCKS] = {
    [C_RT] = {CLOCK_REALTIME, "CLOCK_REALTIME"},
    [C_MONO] = {CLOCK_MONOTONIC, "CLOCK_MONOTONIC"},
    [C_BOOT] = {CLOCK_BOOTTIME, "CLOCK_BOOTTIME"},
    [C_RT_COARSE] = {CLOCK_REALTIME_COARSE, "CLOCK_REALTIME_COARSE"},
    [C_MONO_COARSE] = {CLOCK_MONOTONIC_COARSE, "CLOCK_MONOTONIC_COARSE"},
    [C_RAW] = {CLOCK_MONOTONIC_RAW, "CLOCK_MONOTONIC_RAW"},
};

/* One reading of every clock. */
struct snap {
    struct timespec ts[NCLOCKS];
    int64_t ns[NCLOCKS];
    struct timeval tv;            /* gettimeofday */
    time_t t;                     /* time() */
    int64_t raw_rt_ns, raw_mono_ns; /* via syscall(SYS_clock_gettime) */
};

static int64_t ts_ns(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * NSEC_PER_SEC + ts->tv_nsec;
}

static struct timespec ns_ts(int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / NSEC_PER_SEC, .tv_nsec = ns % NSEC_PER_SEC};
    return ts;
}

static void check_ts_valid(const struct timespec *ts, const char *what)
{
    if (ts->tv_nsec < 0 || ts->tv_nsec >= NSEC_PER_SEC)
        fail("%s tv_nsec in range (expected 0..999999999, got %ld)", what, (long)ts->tv_nsec);
}

static void gettime(int idx, struct snap *s)
{
    if (clock_gettime(clocks[idx].id, &s->ts[idx]) != 0)
        fail("clock_gettime(%s) (expected 0, got -1 errno=%d %s)", clocks[idx].name, errno,
             strerror(errno));
    check_ts_valid(&s->ts[idx], clocks[idx].name);
    s->ns[idx] = ts_ns(&s->ts[idx]);
}

static int64_t raw_gettime(int idx)
{
    struct timespec ts;
    if (syscall(SYS_clock_gettime, clocks[idx].id, &ts) != 0)
        fail("syscall(SYS_clock_gettime, %s) (expected 0, got -1 errno=%d %s)", clocks[idx].name,
             errno, strerror(errno));
    check_ts_valid(&ts, "raw SYS_clock_gettime");
    return ts_ns(&ts);
}

/* Compare a clock value read through libc with one read by the raw syscall. */
static void check_raw_syscall(int idx, int64_t raw, const struct snap *s)
{
    int64_t d = raw - s->ns[idx];
    if (virt) {
        if (d != 0)
            fail("raw SYS_clock_gettime(%s) equals libc value (expected %" PRId64 " ns, got %" PRId64
                 " ns)",
                 clocks[idx].name, s->ns[idx], raw);
    } else if (d < 0 || d >= NATIVE_SLACK) {
        fail("raw SYS_clock_gettime(%s) - libc value (expected 0..%lld ns, got %" PRId64 " ns)",
             clocks[idx].name, (long long)NATIVE_SLACK, d);
    }
}

/* Read all clocks, without checking them against each other. */
static void read_all(struct snap *s)
{
    gettime(C_RT, s);
    if (gettimeofday(&s->tv, NULL) != 0)
        fail("gettimeofday (expected 0, got -1 errno=%d %s)", errno, strerror(errno));
    s->t = time(NULL);
    if (s->t == (time_t)-1)
        fail("time() (expected a time, got -1 errno=%d %s)", errno, strerror(errno));
    for (int i = 0; i < NCLOCKS; i++)
        if (i != C_RT)
            gettime(i, s);
    s->raw_rt_ns = raw_gettime(C_RT);
    s->raw_mono_ns = raw_gettime(C_MONO);
}

/* Check that the values in a snapshot are consistent with each other. */
static void check_consistent(const struct snap *s)
{
    check_raw_syscall(C_RT, s->raw_rt_ns, s);
    check_raw_syscall(C_MONO, s->raw_mono_ns, s);

    if (s->tv.tv_usec < 0 || s->tv.tv_usec >= 1000000)
        fail("gettimeofday tv_usec in range (expected 0..999999, got %ld)", (long)s->tv.tv_usec);
    int64_t rt_us = s->ns[C_RT] / 1000;
    int64_t tv_us = (int64_t)s->tv.tv_sec * 1000000 + s->tv.tv_usec;
    if (virt) {
        if (tv_us != rt_us)
            fail("gettimeofday == CLOCK_REALTIME truncated to us (expected %" PRId64
                 " us, got %" PRId64 " us)",
                 rt_us, tv_us);
        if ((long long)s->t != (long long)s->ts[C_RT].tv_sec)
            fail("time() == CLOCK_REALTIME seconds (expected %lld, got %lld)",
                 (long long)s->ts[C_RT].tv_sec, (long long)s->t);
    } else {
        if (tv_us - rt_us < 0 || tv_us - rt_us >= 1000000)
            fail("gettimeofday - CLOCK_REALTIME (expected 0..999999 us, got %" PRId64 " us)",
                 tv_us - rt_us);
        long long dt = (long long)s->t - (long long)s->ts[C_RT].tv_sec;
        if (dt < -1 || dt > 1)
            fail("time() - CLOCK_REALTIME seconds (expected -1..1, got %lld)", dt);
    }

    int64_t dc = s->ns[C_RT_COARSE] - s->ns[C_RT];
    if (dc < -COARSE_TOLERANCE || dc > COARSE_TOLERANCE)
        fail("CLOCK_REALTIME_COARSE - CLOCK_REALTIME (expected |d| <= %lld ns, got %" PRId64 " ns)",
             (long long)COARSE_TOLERANCE, dc);
    dc = s->ns[C_MONO_COARSE] - s->ns[C_MONO];
    if (dc < -COARSE_TOLERANCE || dc > COARSE_TOLERANCE)
        fail("CLOCK_MONOTONIC_COARSE - CLOCK_MONOTONIC (expected |d| <= %lld ns, got %" PRId64
             " ns)",
             (long long)COARSE_TOLERANCE, dc);
    if (s->ns[C_BOOT] < s->ns[C_MONO])
        fail("CLOCK_BOOTTIME >= CLOCK_MONOTONIC (expected >= %" PRId64 ", got %" PRId64 ")",
             s->ns[C_MONO], s->ns[C_BOOT]);
}

/* Read all clocks and check that they are consistent with each other. */
static void take(struct snap *s)
{
    read_all(s);
    check_consistent(s);
}

/* Check that between snapshots a and b every clock advanced by d ns
 * (exactly in virtual mode; at least d and less than d + slack natively). */
static void check_deltas(const struct snap *a, const struct snap *b, int64_t d, const char *what)
{
    static const int precise[] = {C_RT, C_MONO, C_BOOT, C_RAW};
    for (size_t k = 0; k < sizeof precise / sizeof precise[0]; k++) {
        int i = precise[k];
        int64_t got = b->ns[i] - a->ns[i];
        if (virt) {
            if (got != d)
                fail("%s: %s delta (expected %" PRId64 " ns, got %" PRId64 " ns)", what,
                     clocks[i].name, d, got);
        } else {
            /* MONOTONIC and BOOTTIME are what the kernel sleeps on; REALTIME
             * may be slewed by NTP and RAW is not NTP-adjusted at all. */
            int64_t lo = (i == C_MONO || i == C_BOOT) ? d : d - NATIVE_SKEW;
            if (got < lo || got >= d + NATIVE_SLACK)
                fail("%s: %s delta (expected %" PRId64 "..%" PRId64 " ns, got %" PRId64 " ns)",
                     what, clocks[i].name, lo, d + NATIVE_SLACK - 1, got);
        }
    }
    if (b->ns[C_MONO_COARSE] < a->ns[C_MONO_COARSE])
        fail("%s: CLOCK_MONOTONIC_COARSE went backwards (expected >= %" PRId64 ", got %" PRId64 ")",
             what, a->ns[C_MONO_COARSE], b->ns[C_MONO_COARSE]);

    int64_t us = ((int64_t)b->tv.tv_sec - a->tv.tv_sec) * 1000000 + (b->tv.tv_usec - a->tv.tv_usec);
    long long secs = (long long)b->t - (long long)a->t;
    if (virt) {
        if (d % 1000 == 0 && us != d / 1000)
            fail("%s: gettimeofday delta (expected %" PRId64 " us, got %" PRId64 " us)", what,
                 d / 1000, us);
        if (d % NSEC_PER_SEC == 0 && secs != d / NSEC_PER_SEC)
            fail("%s: time() delta (expected %lld s, got %lld s)", what,
                 (long long)(d / NSEC_PER_SEC), secs);
    } else {
        int64_t lo = d / 1000 - NATIVE_SKEW / 1000;
        if (us < lo || us >= (d + NATIVE_SLACK) / 1000)
            fail("%s: gettimeofday delta (expected %" PRId64 "..%" PRId64 " us, got %" PRId64
                 " us)",
                 what, lo, (d + NATIVE_SLACK) / 1000 - 1, us);
        long long slo = (long long)(d / NSEC_PER_SEC) - 1;
        long long shi = (long long)((d + NATIVE_SLACK) / NSEC_PER_SEC) + 1;
        if (secs < slo || secs > shi)
            fail("%s: time() delta (expected %lld..%lld s, got %lld s)", what, slo, shi, secs);
    }
    printf("ok: %s: clocks advanced by %" PRId64 " ns (%s)\n", what, b->ns[C_MONO] - a->ns[C_MONO],
           virt ? "exact" : "within bounds");
}

static void check_start(void)
{
    struct snap s;
    read_all(&s);
    if (virt) {
        if ((long long)s.ts[C_RT].tv_sec != epoch)
            fail("CLOCK_REALTIME seconds at start (expected %lld, got %lld)", epoch,
                 (long long)s.ts[C_RT].tv_sec);
        if (s.ts[C_RT].tv_nsec >= NSEC_PER_MSEC)
            fail("CLOCK_REALTIME nanoseconds at start (expected < %lld, got %ld)",
                 (long long)NSEC_PER_MSEC, (long)s.ts[C_RT].tv_nsec);
        static const int rel[] = {C_MONO, C_BOOT, C_RAW};
        for (size_t k = 0; k < sizeof rel / sizeof rel[0]; k++) {
            int i = rel[k];
            if (s.ns[i] < 0 || s.ns[i] >= NSEC_PER_SEC)
                fail("%s at start (expected 0..999999999 ns, got %" PRId64 " ns)", clocks[i].name,
                     s.ns[i]);
        }
    }
    check_consistent(&s);
    if (virt) {
        printf("ok: start: CLOCK_REALTIME=%lld.%09ld (epoch %lld), CLOCK_MONOTONIC=%" PRId64
               " ns\n",
               (long long)s.ts[C_RT].tv_sec, (long)s.ts[C_RT].tv_nsec, epoch, s.ns[C_MONO]);
    } else {
        if (s.ns[C_MONO] < 0)
            fail("CLOCK_MONOTONIC at start (expected >= 0, got %" PRId64 ")", s.ns[C_MONO]);
        printf("ok: start: CLOCK_REALTIME=%lld.%09ld, CLOCK_MONOTONIC=%" PRId64 " ns\n",
               (long long)s.ts[C_RT].tv_sec, (long)s.ts[C_RT].tv_nsec, s.ns[C_MONO]);
    }
    printf("ok: all clocks readable; gettimeofday/time()/coarse/raw-syscall values consistent\n");
}

static void check_getres(void)
{
    for (int i = 0; i < NCLOCKS; i++) {
        struct timespec res;
        if (clock_getres(clocks[i].id, &res) != 0)
            fail("clock_getres(%s) (expected 0, got -1 errno=%d %s)", clocks[i].name, errno,
                 strerror(errno));
        int64_t r = ts_ns(&res);
        if (r <= 0 || r > 10 * NSEC_PER_MSEC)
            fail("clock_getres(%s) (expected 1..10000000 ns, got %" PRId64 " ns)", clocks[i].name,
                 r);
        printf("ok: clock_getres(%s) = %" PRId64 " ns\n", clocks[i].name, r);
    }
}

static void check_nanosleep(int64_t d, bool with_rem)
{
    struct snap a, b;
    struct timespec req = ns_ts(d), rem = {0, 0};
    char what[96];
    snprintf(what, sizeof what, "nanosleep(%" PRId64 " ns)", d);
    take(&a);
    if (nanosleep(&req, with_rem ? &rem : NULL) != 0)
        fail("%s (expected 0, got -1 errno=%d %s)", what, errno, strerror(errno));
    take(&b);
    check_deltas(&a, &b, d, what);
}

static void check_clock_nanosleep_rel(int64_t d)
{
    struct snap a, b;
    struct timespec req = ns_ts(d);
    char what[96];
    snprintf(what, sizeof what, "clock_nanosleep(MONOTONIC, rel %" PRId64 " ns)", d);
    take(&a);
    int rc = clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL);
    if (rc != 0)
        fail("%s (expected 0, got %d %s)", what, rc, strerror(rc));
    take(&b);
    check_deltas(&a, &b, d, what);
}

/* Absolute sleep until now(clock) + d; afterwards the clock must read the
 * deadline (exactly in virtual mode). */
static void check_clock_nanosleep_abs(int idx, int64_t d)
{
    struct snap a, b;
    char what[96];
    snprintf(what, sizeof what, "clock_nanosleep(%s, ABSTIME now+%" PRId64 " ns)",
             clocks[idx].name + 6, d);
    take(&a);
    int64_t deadline = a.ns[idx] + d;
    struct timespec req = ns_ts(deadline);
    int rc = clock_nanosleep(clocks[idx].id, TIMER_ABSTIME, &req, NULL);
    if (rc != 0)
        fail("%s (expected 0, got %d %s)", what, rc, strerror(rc));
    take(&b);
    if (virt) {
        if (b.ns[idx] != deadline)
            fail("%s: %s after wake-up (expected %" PRId64 " ns, got %" PRId64 " ns)", what,
                 clocks[idx].name, deadline, b.ns[idx]);
        check_deltas(&a, &b, d, what);
    } else {
        if (b.ns[idx] < deadline || b.ns[idx] >= deadline + NATIVE_SLACK)
            fail("%s: %s after wake-up (expected %" PRId64 "..%" PRId64 " ns, got %" PRId64
                 " ns)",
                 what, clocks[idx].name, deadline, deadline + NATIVE_SLACK - 1, b.ns[idx]);
        /* The clocks in a snapshot are read one after another, so allow the
         * read skew on the clocks other than the one slept on. */
        check_deltas(&a, &b, d - NATIVE_SKEW, what);
    }
}

/* Absolute deadline in the past: returns at once, no time passes. */
static void check_clock_nanosleep_past(int idx, struct timespec deadline)
{
    struct snap a, b;
    char what[96];
    snprintf(what, sizeof what, "clock_nanosleep(%s, ABSTIME in the past)", clocks[idx].name + 6);
    take(&a);
    int rc = clock_nanosleep(clocks[idx].id, TIMER_ABSTIME, &deadline, NULL);
    if (rc != 0)
        fail("%s (expected 0, got %d %s)", what, rc, strerror(rc));
    take(&b);
    check_deltas(&a, &b, 0, what);
}

static void expect_err(const char *what, long rc, int err, int want)
{
    if (rc != -1 || err != want)
        fail("%s (expected -1 errno=%d %s, got %ld errno=%d %s)", what, want, strerror(want), rc,
             rc == -1 ? err : 0, rc == -1 ? strerror(err) : "none");
    printf("ok: %s -> -1 %s\n", what, strerror(want));
}

static void expect_rc(const char *what, int rc, int want)
{
    if (rc != want)
        fail("%s (expected %d %s, got %d %s)", what, want, strerror(want), rc, strerror(rc));
    printf("ok: %s -> %s\n", what, strerror(want));
}

static void check_errors(void)
{
    struct snap a, b;
    struct timespec ts;
    long rc;
    /* volatile so that the compiler neither warns about nor folds the NULL */
    struct timespec *volatile nullts = NULL;
    void *volatile badptr = (void *)1;
    clockid_t volatile badclock = 12345;

    take(&a);

    errno = 0;
    rc = nanosleep(nullts, NULL);
    expect_err("nanosleep(NULL)", rc, errno, EFAULT);
    ts = (struct timespec){0, NSEC_PER_SEC};
    errno = 0;
    rc = nanosleep(&ts, NULL);
    expect_err("nanosleep(tv_nsec=1000000000)", rc, errno, EINVAL);
    ts = (struct timespec){0, -1};
    errno = 0;
    rc = nanosleep(&ts, NULL);
    expect_err("nanosleep(tv_nsec=-1)", rc, errno, EINVAL);
    ts = (struct timespec){-1, 0};
    errno = 0;
    rc = nanosleep(&ts, NULL);
    expect_err("nanosleep(tv_sec=-1)", rc, errno, EINVAL);
#ifdef SYS_nanosleep
    errno = 0;
    rc = syscall(SYS_nanosleep, (struct timespec *)nullts, NULL);
    expect_err("syscall(SYS_nanosleep, NULL)", rc, errno, EFAULT);
    ts = (struct timespec){0, NSEC_PER_SEC};
    errno = 0;
    rc = syscall(SYS_nanosleep, &ts, NULL);
    expect_err("syscall(SYS_nanosleep, tv_nsec=1000000000)", rc, errno, EINVAL);
#endif
    errno = 0;
    rc = syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, (struct timespec *)nullts, NULL);
    expect_err("syscall(SYS_clock_nanosleep, MONOTONIC, NULL)", rc, errno, EFAULT);

    ts = (struct timespec){0, NSEC_PER_SEC};
    expect_rc("clock_nanosleep(MONOTONIC, tv_nsec=1000000000)",
              clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL), EINVAL);
    expect_rc("clock_nanosleep(REALTIME, ABSTIME, tv_nsec=1000000000)",
              clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL), EINVAL);
    ts = (struct timespec){0, 1000};
    expect_rc("clock_nanosleep(clock 12345)", clock_nanosleep(badclock, 0, &ts, NULL), EINVAL);

    errno = 0;
    rc = clock_gettime(badclock, &ts);
    expect_err("clock_gettime(clock 12345)", rc, errno, EINVAL);
    errno = 0;
    rc = clock_getres(badclock, &ts);
    expect_err("clock_getres(clock 12345)", rc, errno, EINVAL);
    errno = 0;
    rc = syscall(SYS_clock_gettime, CLOCK_REALTIME, (struct timespec *)badptr);
    expect_err("syscall(SYS_clock_gettime, REALTIME, (void*)1)", rc, errno, EFAULT);
    errno = 0;
    rc = syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (struct timespec *)badptr);
    expect_err("syscall(SYS_clock_gettime, MONOTONIC, (void*)1)", rc, errno, EFAULT);
    errno = 0;
    rc = syscall(SYS_gettimeofday, (struct timeval *)badptr, NULL);
    expect_err("syscall(SYS_gettimeofday, (void*)1)", rc, errno, EFAULT);

    take(&b);
    check_deltas(&a, &b, 0, "failed calls");
}

static void check_cputime(void)
{
    static const struct {
        clockid_t id;
        const char *name;
    } cpu[] = {{CLOCK_PROCESS_CPUTIME_ID, "CLOCK_PROCESS_CPUTIME_ID"},
               {CLOCK_THREAD_CPUTIME_ID, "CLOCK_THREAD_CPUTIME_ID"}};
    for (size_t i = 0; i < sizeof cpu / sizeof cpu[0]; i++) {
        struct timespec ts = {-1, -1};
        if (clock_gettime(cpu[i].id, &ts) != 0)
            fail("clock_gettime(%s) (expected 0, got -1 errno=%d %s)", cpu[i].name, errno,
                 strerror(errno));
        check_ts_valid(&ts, cpu[i].name);
        if (ts.tv_sec < 0)
            fail("%s value (expected >= 0, got %lld s)", cpu[i].name, (long long)ts.tv_sec);
        printf("ok: %s = %lld.%09ld\n", cpu[i].name, (long long)ts.tv_sec, (long)ts.tv_nsec);
    }
}

static int64_t cpu_ns(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        fail("clock_gettime(CPU clock %d): %s", (int)id, strerror(errno));
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* CPU time: a loop burning CPU until its own CPU clock says 5 ms ends (in
 * the simulation the clock reads themselves are charged, as busy polls);
 * getrusage agrees with the clock; times() counts simulated ticks. */
static void check_cpu_accounting(void)
{
    int64_t start = cpu_ns(CLOCK_PROCESS_CPUTIME_ID), now = start;
    volatile unsigned long spin = 0;
    while ((now = cpu_ns(CLOCK_PROCESS_CPUTIME_ID)) - start < 5000000)
        spin++;
    if (cpu_ns(CLOCK_THREAD_CPUTIME_ID) > cpu_ns(CLOCK_PROCESS_CPUTIME_ID))
        fail("thread CPU clock ahead of the process's");
    printf("ok: a loop on the CPU clock ended after %lld ns of CPU\n", (long long)(now - start));
    struct rusage ru;
    int64_t before = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        fail("getrusage: %s", strerror(errno));
    int64_t after = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
    int64_t ru_ns = ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
                    ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
    if (ru_ns < before - 1000000 - (virt ? 0 : 10000000) || ru_ns > after + 1000)
        fail("getrusage says %lld ns of CPU, the clock %lld..%lld", (long long)ru_ns, (long long)before,
             (long long)after);
    printf("ok: getrusage agrees with CLOCK_PROCESS_CPUTIME_ID\n");
    long hz = sysconf(_SC_CLK_TCK);
    struct tms tm;
    clock_t t0 = times(&tm);
    struct timespec one = {1, 0};
    nanosleep(&one, NULL);
    clock_t t1 = times(&tm);
    if (virt ? t1 - t0 != hz : t1 - t0 < hz)
        fail("times() advanced %ld ticks over a 1 s sleep, expected %s%ld", (long)(t1 - t0), virt ? "" : ">= ", hz);
    printf("ok: times() advanced %ld ticks over a 1 s sleep\n", (long)(t1 - t0));
}

static _Noreturn void usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [virtual [EPOCH]]\n", argv0);
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc > 3)
        usage(argv[0]);
    if (argc >= 2) {
        if (strcmp(argv[1], "virtual") != 0)
            usage(argv[0]);
        virt = true;
        if (argc == 3) {
            char *end;
            errno = 0;
            epoch = strtoll(argv[2], &end, 10);
            if (errno != 0 || end == argv[2] || *end != '\0' || epoch < 0)
                usage(argv[0]);
        }
    }
    printf("clock_check: %s mode%s\n", virt ? "virtual" : "native", virt ? "" : " (bounds only)");

    check_start(); /* must come first: nothing has slept yet */
    check_getres();
    check_cputime();
    check_cpu_accounting();

    if (virt) {
        check_nanosleep(3600 * NSEC_PER_SEC, true);
        check_nanosleep(1250 * NSEC_PER_MSEC, false);
        check_nanosleep(1000, true);
        check_clock_nanosleep_rel(250 * NSEC_PER_MSEC);
        check_clock_nanosleep_abs(C_RT, 1500 * NSEC_PER_MSEC);
        check_clock_nanosleep_abs(C_MONO, 500 * NSEC_PER_MSEC);
    } else {
        check_nanosleep(100 * NSEC_PER_MSEC, true);
        check_clock_nanosleep_rel(50 * NSEC_PER_MSEC);
        check_clock_nanosleep_abs(C_RT, 50 * NSEC_PER_MSEC);
        check_clock_nanosleep_abs(C_MONO, 50 * NSEC_PER_MSEC);
    }

    struct timespec now;
    if (clock_gettime(CLOCK_REALTIME, &now) != 0)
        fail("clock_gettime(CLOCK_REALTIME) (expected 0, got -1 errno=%d %s)", errno,
             strerror(errno));
    now.tv_sec -= 10;
    check_clock_nanosleep_past(C_RT, now);
    check_clock_nanosleep_past(C_MONO, (struct timespec){0, 0});

    check_errors();

    printf("clock_check: all checks passed\n");
    return 0;
}
