/* Calls one syscall N times; the harness (bench/run.py) times whole runs
 * from outside, natively and under Simterpose (inside, clocks are virtual).
 * Usage: syscall_cost clock|vdso|getppid|none N */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: syscall_cost clock|vdso|getppid|none N\n");
        return 2;
    }
    long n = atol(argv[2]);
    struct timespec ts;
    volatile long sink = 0;
    if (!strcmp(argv[1], "clock"))
        for (long i = 0; i < n; i++)
            sink += syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
    else if (!strcmp(argv[1], "vdso"))
        for (long i = 0; i < n; i++)
            sink += clock_gettime(CLOCK_MONOTONIC, &ts);
    else if (!strcmp(argv[1], "getppid"))
        for (long i = 0; i < n; i++)
            sink += syscall(SYS_getppid);
    else if (strcmp(argv[1], "none"))
        return 2;
    return sink == -1;
}
