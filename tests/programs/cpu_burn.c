/* cpu_burn: a fixed amount of computation, timed by the clock it sees.
 *
 * Usage: cpu_burn ITERATIONS [REPEAT]
 *
 * REPEAT times (default 1), runs ITERATIONS steps of a dependent integer
 * recurrence (no syscall, no memory traffic), reading CLOCK_MONOTONIC
 * before and after, and prints
 *     burn: ITERATIONS iterations in SECONDS s (checksum X)
 * (the least of the repeats is the least disturbed measurement).
 * Natively SECONDS is real time; under Simterpose with --cpu-model=measured
 * it is the simulated time the host took for the CPU time measured, which
 * the cpu_* scenarios compare across hosts of different speeds and cores.
 * Checks only that the clock moved forward; the checksum printed keeps the
 * computation from being optimised away.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "selfcheck.h"

static int64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* xorshift64: each step depends on the last. */
static uint64_t burn(long n)
{
    uint64_t x = 88172645463325252ULL;
    for (long i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    return x;
}

int main(int argc, char **argv)
{
    long n, reps = 1;
    if (argc < 2 || argc > 3 || !parse_int(argv[1], 0, 1000000000000L, &n) ||
        (argc == 3 && !parse_int(argv[2], 1, 1000, &reps)))
        fail("usage: cpu_burn ITERATIONS [REPEAT]");
    setvbuf(stdout, NULL, _IOLBF, 0);
    volatile long vn = n; /* not a compile-time constant */
    for (long r = 0; r < reps; r++) {
        int64_t start = mono();
        uint64_t sum = burn(vn);
        int64_t end = mono();
        if (n > 0 && end <= start)
            fail("the clock did not move during %ld iterations", n);
        printf("burn: %ld iterations in %.9f s (checksum %016" PRIx64 ")\n", n, (double)(end - start) / 1e9, sum);
    }
    return 0;
}
