/* fork_exec_wait: self-checking test of process creation and reaping.
 *
 * Usage: fork_exec_wait [virtual]
 *        fork_exec_wait child-exit N                 (helper: exit with N)
 *        fork_exec_wait child-sleep-exit SECONDS N   (helper: sleep, exit N)
 *
 * The program re-executes itself through /proc/self/exe for the exec tests,
 * using the helper modes above.  Native mode checks what Linux guarantees;
 * virtual mode (under Simterpose) additionally checks that sleeping children
 * advance the parent's virtual clock by exactly the expected amount.
 * Exit status: 0 on success, 1 on a failed check (one "FAIL: ..." line on
 * stderr), 2 on a usage error.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "selfcheck.h"

#define NSEC_PER_SEC INT64_C(1000000000)
#define NSEC_PER_MSEC INT64_C(1000000)
#define NATIVE_SLACK (2 * NSEC_PER_SEC)
#define SELF_EXE "/proc/self/exe"

/* Exit codes used by children when something goes wrong on their side. */
#define CHILD_ERR_FORK 120
#define CHILD_ERR_WAIT 121
#define CHILD_ERR_STATUS 122
#define CHILD_ERR_KILL 123
#define CHILD_ERR_SLEEP 126
#define CHILD_ERR_EXEC 127

static bool virt;
static char *argv0;


/* Parse a non-negative decimal number of seconds ("2", "0.05") exactly. */
static bool parse_seconds(const char *s, int64_t *ns)
{
    int64_t secs = 0, frac = 0, scale = NSEC_PER_SEC;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (secs > 1000000000)
            return false;
        secs = secs * 10 + (*p - '0');
    }
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++) {
            if (scale == 1)
                return false; /* more than 9 fractional digits */
            scale /= 10;
            frac += (*p - '0') * scale;
        }
    }
    if (*p != '\0')
        return false;
    *ns = secs * NSEC_PER_SEC + frac;
    return true;
}

static int sleep_ns(int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / NSEC_PER_SEC, .tv_nsec = ns % NSEC_PER_SEC};
    return nanosleep(&ts, NULL);
}

static const char *describe(int status)
{
    static char buf[64];
    if (WIFEXITED(status))
        snprintf(buf, sizeof buf, "exit %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, sizeof buf, "signal %d", WTERMSIG(status));
    else
        snprintf(buf, sizeof buf, "raw status 0x%x", (unsigned)status);
    return buf;
}

static void expect_exit(const char *what, int status, int code)
{
    if (!WIFEXITED(status) || WEXITSTATUS(status) != code)
        fail("%s (expected exit %d, got %s)", what, code, describe(status));
}

static pid_t xfork(const char *what)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        fail("fork for %s (expected a pid, got -1 errno=%d %s)", what, errno, strerror(errno));
    return pid;
}

static void xwaitpid(pid_t pid, int *status, const char *what)
{
    pid_t r = waitpid(pid, status, 0);
    if (r != pid)
        fail("waitpid for %s (expected %ld, got %ld errno=%d %s)", what, (long)pid, (long)r,
             r < 0 ? errno : 0, r < 0 ? strerror(errno) : "none");
}

/* In a forked child: replace the image with this program, running a helper
 * mode.  Never returns. */
static _Noreturn void exec_self(char *mode, char *a1, char *a2)
{
    char *args[] = {argv0, mode, a1, a2, NULL};
    execv(SELF_EXE, args);
    _exit(CHILD_ERR_EXEC);
}

static void test_fork_exit(void)
{
    int status;
    pid_t pid = xfork("_exit(7)");
    if (pid == 0)
        _exit(7);
    xwaitpid(pid, &status, "_exit(7) child");
    expect_exit("fork+_exit(7): waitpid status", status, 7);
    printf("ok: fork, child _exit(7), waitpid -> exit 7\n");
}

static void test_exec_wait4(void)
{
    int status;
    struct rusage ru;
    memset(&ru, 0xff, sizeof ru); /* so that an unwritten rusage is noticed */
    pid_t pid = xfork("exec child-exit 42");
    if (pid == 0)
        exec_self("child-exit", "42", NULL);
    pid_t r = wait4(pid, &status, 0, &ru);
    if (r != pid)
        fail("wait4 for exec'd child (expected %ld, got %ld errno=%d %s)", (long)pid, (long)r,
             r < 0 ? errno : 0, r < 0 ? strerror(errno) : "none");
    expect_exit("fork+exec(child-exit 42): wait4 status", status, 42);
    if (ru.ru_utime.tv_sec < 0 || ru.ru_utime.tv_usec < 0 || ru.ru_utime.tv_usec >= 1000000)
        fail("wait4 rusage ru_utime valid (expected sec>=0 and usec 0..999999, got %lld.%lld)",
             (long long)ru.ru_utime.tv_sec, (long long)ru.ru_utime.tv_usec);
    if (ru.ru_stime.tv_sec < 0 || ru.ru_stime.tv_usec < 0 || ru.ru_stime.tv_usec >= 1000000)
        fail("wait4 rusage ru_stime valid (expected sec>=0 and usec 0..999999, got %lld.%lld)",
             (long long)ru.ru_stime.tv_sec, (long long)ru.ru_stime.tv_usec);
    if (ru.ru_maxrss < 0)
        fail("wait4 rusage ru_maxrss (expected >= 0, got %ld)", ru.ru_maxrss);
    printf("ok: fork+exec(%s child-exit 42), wait4 -> exit 42, rusage filled (maxrss %ld kB)\n",
           SELF_EXE, ru.ru_maxrss);
}

static void test_kill_self(void)
{
    int status;
    pid_t pid = xfork("kill(getpid(), SIGKILL)");
    if (pid == 0) {
        kill(getpid(), SIGKILL);
        _exit(CHILD_ERR_KILL);
    }
    xwaitpid(pid, &status, "self-killed child");
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail("child kill(getpid(), SIGKILL): waitpid status (expected signal %d, got %s)", SIGKILL,
             describe(status));
    printf("ok: child kill(getpid(), SIGKILL) -> WIFSIGNALED, WTERMSIG == SIGKILL\n");
}

/* Kept apart and free of locals modified after vfork() (-Wclobbered). */
static __attribute__((noinline)) pid_t vfork_exec_self(char *const args[])
{
    pid_t pid = vfork();
    if (pid == 0) {
        execv(SELF_EXE, args);
        _exit(CHILD_ERR_EXEC);
    }
    return pid;
}

static void test_vfork(void)
{
    int status;
    char *args[] = {argv0, "child-exit", "3", NULL};
    fflush(stdout);
    fflush(stderr);
    pid_t pid = vfork_exec_self(args);
    if (pid < 0)
        fail("vfork (expected a pid, got -1 errno=%d %s)", errno, strerror(errno));
    xwaitpid(pid, &status, "vfork'd child");
    expect_exit("vfork+exec(child-exit 3): waitpid status", status, 3);
    printf("ok: vfork+exec(child-exit 3), waitpid -> exit 3\n");
}

static void test_posix_spawn(void)
{
    int status;
    pid_t pid = -1;
    char *args[] = {argv0, "child-exit", "5", NULL};
    fflush(stdout);
    fflush(stderr);
    int rc = posix_spawn(&pid, SELF_EXE, NULL, NULL, args, environ);
    if (rc != 0)
        fail("posix_spawn(%s child-exit 5) (expected 0, got %d %s)", SELF_EXE, rc, strerror(rc));
    if (pid <= 0)
        fail("posix_spawn pid (expected > 0, got %ld)", (long)pid);
    xwaitpid(pid, &status, "posix_spawn'd child");
    expect_exit("posix_spawn(child-exit 5): waitpid status", status, 5);
    printf("ok: posix_spawn(child-exit 5), waitpid -> exit 5\n");
}

static void test_waitid(void)
{
    siginfo_t info;
    pid_t pid = xfork("waitid child");
    if (pid == 0)
        _exit(11);
    memset(&info, 0, sizeof info);
    if (waitid(P_PID, (id_t)pid, &info, WEXITED) != 0)
        fail("waitid(P_PID, %ld, WEXITED) (expected 0, got -1 errno=%d %s)", (long)pid, errno,
             strerror(errno));
    if (info.si_pid != pid)
        fail("waitid si_pid (expected %ld, got %ld)", (long)pid, (long)info.si_pid);
    if (info.si_signo != SIGCHLD)
        fail("waitid si_signo (expected %d SIGCHLD, got %d)", SIGCHLD, info.si_signo);
    if (info.si_code != CLD_EXITED)
        fail("waitid si_code (expected %d CLD_EXITED, got %d)", CLD_EXITED, info.si_code);
    if (info.si_status != 11)
        fail("waitid si_status (expected 11, got %d)", info.si_status);
    printf("ok: waitid(P_PID, WEXITED) -> CLD_EXITED, status 11, right pid\n");
}

static void test_wnohang(void)
{
    int status;
    int64_t d = virt ? 3600 * NSEC_PER_SEC : 200 * NSEC_PER_MSEC;
    char *secs = virt ? "3600" : "0.2";
    int64_t t0 = mono_ns();
    pid_t pid = xfork("sleeping child");
    if (pid == 0)
        exec_self("child-sleep-exit", secs, "13");
    pid_t r = waitpid(-1, &status, WNOHANG);
    if (r != 0)
        fail("waitpid(-1, WNOHANG) with a sleeping child (expected 0, got %ld%s%s)", (long)r,
             r < 0 ? " " : "", r < 0 ? strerror(errno) : (r > 0 ? describe(status) : ""));
    printf("ok: waitpid(-1, WNOHANG) with a still-sleeping child -> 0\n");
    xwaitpid(pid, &status, "sleeping child");
    int64_t delta = mono_ns() - t0;
    expect_exit("exec(child-sleep-exit): waitpid status", status, 13);
    int64_t hi = d + (virt ? NSEC_PER_SEC : NATIVE_SLACK);
    if (delta < d || delta >= hi)
        fail("exec(child-sleep-exit %s): parent's wait time (expected %" PRId64 "..%" PRId64
             " ns, got %" PRId64 " ns)",
             secs, d, hi - 1, delta);
    printf("ok: exec(child-sleep-exit %s 13), blocking waitpid -> exit 13 after %" PRId64 " ns\n",
           secs, delta);
}

static void test_three_children(void)
{
    static const int codes[3] = {21, 22, 23};
    pid_t pids[3];
    bool seen[3] = {false, false, false};
    for (int i = 0; i < 3; i++) {
        pids[i] = xfork("one of three children");
        if (pids[i] == 0)
            _exit(codes[i]);
    }
    for (int n = 0; n < 3; n++) {
        int status;
        pid_t r = waitpid(-1, &status, 0);
        if (r < 0)
            fail("waitpid(-1) for child %d of 3 (expected a pid, got -1 errno=%d %s)", n + 1,
                 errno, strerror(errno));
        int i = 0;
        while (i < 3 && pids[i] != r)
            i++;
        if (i == 3)
            fail("waitpid(-1) returned one of our pids (expected %ld/%ld/%ld, got %ld)",
                 (long)pids[0], (long)pids[1], (long)pids[2], (long)r);
        if (seen[i])
            fail("waitpid(-1) reaped pid %ld only once (expected 1 time, got 2)", (long)r);
        seen[i] = true;
        expect_exit("waitpid(-1) status of one of three children", status, codes[i]);
    }
    printf("ok: three children (exit 21, 22, 23) reaped by waitpid(-1), each exactly once\n");
}

static void test_grandchild(void)
{
    int status;
    pid_t pid = xfork("middle child");
    if (pid == 0) {
        pid_t g = fork();
        if (g < 0)
            _exit(CHILD_ERR_FORK);
        if (g == 0)
            _exit(9);
        int gs;
        if (waitpid(g, &gs, 0) != g)
            _exit(CHILD_ERR_WAIT);
        if (!WIFEXITED(gs))
            _exit(CHILD_ERR_STATUS);
        _exit(WEXITSTATUS(gs) + 1);
    }
    xwaitpid(pid, &status, "middle child");
    expect_exit("child reaping grandchild (exit 9) and exiting 9+1: waitpid status", status, 10);
    printf("ok: grandchild exit 9 reaped by child, child exit 10 seen by parent\n");
}

static void check_elapsed(const char *what, int64_t delta, int64_t d)
{
    if (virt) {
        if (delta != d)
            fail("%s: CLOCK_MONOTONIC delta (expected %" PRId64 " ns, got %" PRId64 " ns)", what, d,
                 delta);
    } else if (delta < d || delta >= d + NATIVE_SLACK) {
        fail("%s: CLOCK_MONOTONIC delta (expected %" PRId64 "..%" PRId64 " ns, got %" PRId64
             " ns)",
             what, d, d + NATIVE_SLACK - 1, delta);
    }
    printf("ok: %s: parent's clock advanced by %" PRId64 " ns (%s)\n", what, delta,
           virt ? "exact" : "within bounds");
}

static void test_timing_single(void)
{
    int status;
    int64_t d = virt ? 2 * NSEC_PER_SEC : 50 * NSEC_PER_MSEC;
    int64_t t0 = mono_ns();
    pid_t pid = xfork("sleeping child");
    if (pid == 0)
        _exit(sleep_ns(d) == 0 ? 0 : CHILD_ERR_SLEEP);
    xwaitpid(pid, &status, "sleeping child");
    int64_t delta = mono_ns() - t0;
    expect_exit("child nanosleep then exit: waitpid status", status, 0);
    check_elapsed(virt ? "wait for child sleeping 2 s" : "wait for child sleeping 0.05 s", delta,
                  d);
}

static void test_timing_parallel(void)
{
    int64_t d1 = virt ? 1 * NSEC_PER_SEC : 50 * NSEC_PER_MSEC;
    int64_t d2 = virt ? 3 * NSEC_PER_SEC : 150 * NSEC_PER_MSEC;
    int64_t t0 = mono_ns();
    /* The short sleeper is exec'd (so a start-up charge cannot matter), the
     * long one is a plain fork. */
    pid_t p1 = xfork("short sleeper");
    if (p1 == 0)
        exec_self("child-sleep-exit", virt ? "1" : "0.05", "31");
    pid_t p2 = xfork("long sleeper");
    if (p2 == 0)
        _exit(sleep_ns(d2) == 0 ? 32 : CHILD_ERR_SLEEP);
    pid_t order[2];
    for (int n = 0; n < 2; n++) {
        int status;
        pid_t r = waitpid(-1, &status, 0);
        if (r != p1 && r != p2)
            fail("waitpid(-1) for parallel sleepers (expected %ld or %ld, got %ld errno=%d)",
                 (long)p1, (long)p2, (long)r, r < 0 ? errno : 0);
        if (n == 1 && r == order[0])
            fail("waitpid(-1) reaped pid %ld only once (expected 1 time, got 2)", (long)r);
        order[n] = r;
        expect_exit(r == p1 ? "short sleeper status" : "long sleeper status", status,
                    r == p1 ? 31 : 32);
    }
    int64_t delta = mono_ns() - t0;
    /* In virtual time the 1 s sleeper must die before the 3 s one. */
    if (virt && order[0] != p1)
        fail("parallel sleepers: first reaped (expected short sleeper pid %ld, got %ld)", (long)p1,
             (long)order[0]);
    check_elapsed(virt ? "wait for children sleeping 1 s and 3 s in parallel"
                       : "wait for children sleeping 0.05 s and 0.15 s in parallel",
                  delta, d1 > d2 ? d1 : d2);
}

static void test_echild(void)
{
    int status;
    errno = 0;
    pid_t r = waitpid(-1, &status, 0);
    if (r != -1 || errno != ECHILD)
        fail("waitpid(-1) with no children (expected -1 ECHILD, got %ld errno=%d %s)", (long)r,
             r == -1 ? errno : 0, r == -1 ? strerror(errno) : "none");
    errno = 0;
    r = waitpid(-1, &status, WNOHANG);
    if (r != -1 || errno != ECHILD)
        fail("waitpid(-1, WNOHANG) with no children (expected -1 ECHILD, got %ld errno=%d %s)",
             (long)r, r == -1 ? errno : 0, r == -1 ? strerror(errno) : "none");
    printf("ok: waitpid(-1) with no children left -> -1 ECHILD\n");
}

static _Noreturn void usage(void)
{
    fprintf(stderr,
            "usage: %s [virtual]\n"
            "       %s child-exit N\n"
            "       %s child-sleep-exit SECONDS N\n",
            argv0, argv0, argv0);
    exit(2);
}

int main(int argc, char **argv)
{
    argv0 = argc > 0 ? argv[0] : "fork_exec_wait";

    /* Helper modes used by the exec'd copies: handled before anything else. */
    if (argc == 3 && strcmp(argv[1], "child-exit") == 0) {
        long n;
        if (!parse_int(argv[2], 0, 255, &n))
            usage();
        return (int)n;
    }
    if (argc == 4 && strcmp(argv[1], "child-sleep-exit") == 0) {
        int64_t ns;
        long n;
        if (!parse_seconds(argv[2], &ns) || !parse_int(argv[3], 0, 255, &n))
            usage();
        if (sleep_ns(ns) != 0)
            return CHILD_ERR_SLEEP;
        return (int)n;
    }

    if (argc > 2 || (argc == 2 && strcmp(argv[1], "virtual") != 0))
        usage();
    virt = argc == 2;
    printf("fork_exec_wait: %s mode\n", virt ? "virtual" : "native");

    test_fork_exit();
    test_exec_wait4();
    test_kill_self();
    test_vfork();
    test_posix_spawn();
    test_waitid();
    test_three_children();
    test_grandchild();
    /* timed tests: the exact 2 s check comes first so that a wrong mode
     * fails quickly instead of sleeping 3600 s natively */
    test_timing_single();
    test_timing_parallel();
    test_wnohang();
    test_echild();

    printf("fork_exec_wait: all checks passed\n");
    return 0;
}
