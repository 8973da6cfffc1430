/* Shared by the self-checking programs: how a check fails, argument parsing. */
#pragma once
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

/* One line "FAIL: ..." on stderr, exit status 1. */
static _Noreturn __attribute__((format(printf, 1, 2), unused)) void fail(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fputs("FAIL: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* Decimal s within [lo, hi] into *out; false if it is anything else. */
static __attribute__((unused)) bool parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* Timing checks of the programs that run natively and "virtual". */
#define SC_NSEC INT64_C(1000000000)
#define SC_MS INT64_C(1000000)

static __attribute__((unused)) int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * SC_NSEC + ts.tv_nsec;
}

/* An elapsed time: exactly want in simulated time (virt), at least want
 * (and not absurdly more) natively. */
static __attribute__((unused)) void check_wait(bool virt, const char *what, int64_t got, int64_t want)
{
    if (virt ? got != want : (got < want || got > want + 2 * SC_NSEC))
        fail("%s took %" PRId64 " ns, expected %s%" PRId64, what, got, virt ? "" : ">= ", want);
    printf("ok: %s after %" PRId64 " ms\n", what, got / SC_MS);
}

/* Sleeps ms in full, signals or not. */
static __attribute__((unused)) void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * SC_MS};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* A call that must fail with err. */
static __attribute__((unused)) void expect_errno(const char *what, long r, int err)
{
    if (r != -1 || errno != err)
        fail("%s: expected -1 errno %d (%s), got %ld errno %d (%s)", what, err, strerror(err), r, errno,
             strerror(errno));
    printf("ok: %s: %s\n", what, strerror(err));
}

/* Reap child pid, which must have exited with status. */
static __attribute__((unused)) void reap_child(pid_t pid, int status)
{
    int st;
    if (waitpid(pid, &st, 0) != pid)
        fail("waitpid(%d): %s", (int)pid, strerror(errno));
    if (!WIFEXITED(st) || WEXITSTATUS(st) != status)
        fail("child %d: status %#x, expected exit %d", (int)pid, st, status);
}
