/* tsc_check: rdtsc and rdtscp.
 *
 * Usage: tsc_check [virtual tsc-faults|tsc-real]
 *
 * Natively the counter grows across a 100 ms sleep.  Under Simterpose with
 * --backend=ptrace (SIMTERPOSE_BACKEND=ptrace), on a machine where rdtsc
 * faults once PR_SET_TSC asks (tsc-faults, probed by meson), both
 * instructions are answered with the virtual TSC, 1 GHz from the
 * simulation's start: exactly 10^8 ticks across the sleep, and the same
 * reading as CLOCK_MONOTONIC.  Under unotify, or where the machine does not
 * fault rdtsc (tsc-real), they read the real counter: only growth is
 * checked, and the program says so.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "selfcheck.h"

static uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static uint64_t rdtscp(uint32_t *aux)
{
    uint32_t lo, hi, c;
    __asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(c));
    *aux = c;
    return ((uint64_t)hi << 32) | lo;
}

int main(int argc, char **argv)
{
    if (argc != 1 && (argc != 3 || strcmp(argv[1], "virtual") != 0 ||
                      (strcmp(argv[2], "tsc-faults") != 0 && strcmp(argv[2], "tsc-real") != 0))) {
        fprintf(stderr, "usage: %s [virtual tsc-faults|tsc-real]\n", argv[0]);
        return 2;
    }
    const char *backend = getenv("SIMTERPOSE_BACKEND");
    bool ptrace_backend = argc == 3 && backend && strcmp(backend, "ptrace") == 0;
    bool emulated = ptrace_backend && strcmp(argv[2], "tsc-faults") == 0;
    if (ptrace_backend && !emulated)
        printf("note: this machine does not fault rdtsc (PR_SET_TSC is ignored): the TSC is the real one\n");
    uint64_t a = rdtsc();
    struct timespec ts = {0, 100 * SC_MS};
    nanosleep(&ts, NULL);
    uint64_t b = rdtsc();
    uint32_t aux;
    uint64_t c = rdtscp(&aux);
    if (b <= a || c < b)
        fail("the TSC did not grow: %llu, %llu, %llu", (unsigned long long)a, (unsigned long long)b,
             (unsigned long long)c);
    printf("ok: rdtsc grew by %llu ticks across a 100 ms sleep\n", (unsigned long long)(b - a));
    if (emulated) {
        if (b - a != 100000000)
            fail("virtual TSC: %llu ticks across 100 ms, expected 100000000", (unsigned long long)(b - a));
        int64_t mono = mono_ns();
        uint64_t now = rdtsc();
        if ((int64_t)now != mono)
            fail("virtual TSC %llu, CLOCK_MONOTONIC %lld ns: expected equal", (unsigned long long)now, (long long)mono);
        if (aux != 0)
            fail("rdtscp's TSC_AUX: %u, expected 0", aux);
        printf("ok: virtual TSC at 1 GHz, equal to CLOCK_MONOTONIC\n");
    }
    printf("tsc_check: all passed\n");
    return 0;
}
