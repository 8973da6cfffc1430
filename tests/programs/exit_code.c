/* exit_code: helper to test the supervisor's exit-status reporting.
 *
 * Usage: exit_code N [SIGNAL]
 *
 * Prints "exit_code pid=<pid>" on stdout and "exit_code: to stderr" on
 * stderr, then exits with status N (0..255), or, if SIGNAL (a number) is
 * given, kills itself with that signal.  If the signal does not terminate the
 * process, prints a FAIL line and exits 1.  Usage errors exit 2.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return 0;
    *out = v;
    return 1;
}

int main(int argc, char **argv)
{
    long code, sig = 0;
    if (argc < 2 || argc > 3 || !parse_int(argv[1], 0, 255, &code) ||
        (argc == 3 && !parse_int(argv[2], 1, SIGRTMAX, &sig))) {
        fprintf(stderr, "usage: %s N [SIGNAL]\n", argc > 0 ? argv[0] : "exit_code");
        return 2;
    }

    printf("exit_code pid=%ld\n", (long)getpid());
    fprintf(stderr, "exit_code: to stderr\n");
    /* Nothing is flushed when a signal kills the process. */
    if (fflush(stdout) != 0 || fflush(stderr) != 0)
        return 1;

    if (sig != 0) {
        /* Make sure the signal is neither ignored, caught nor blocked. */
        sigset_t set;
        if (signal((int)sig, SIG_DFL) == SIG_ERR && sig != SIGKILL && sig != SIGSTOP)
            fprintf(stderr, "exit_code: signal(%ld, SIG_DFL): %s\n", sig, strerror(errno));
        if (sigemptyset(&set) != 0 || sigaddset(&set, (int)sig) != 0 ||
            sigprocmask(SIG_UNBLOCK, &set, NULL) != 0)
            fprintf(stderr, "exit_code: unblocking signal %ld: %s\n", sig, strerror(errno));
        if (kill(getpid(), (int)sig) != 0) {
            fprintf(stderr, "FAIL: kill(getpid(), %ld) (expected 0, got -1 errno=%d %s)\n", sig,
                    errno, strerror(errno));
            return 1;
        }
        fprintf(stderr, "FAIL: signal %ld terminates the process (expected death, got survival)\n",
                sig);
        return 1;
    }
    return (int)code;
}
