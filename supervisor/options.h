/* Command line of simterpose. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct options {
    const char *platform;
    const char *deployment;
    const char *out_dir;      /* --out, default ./simterpose.data */
    const char *stats_path;   /* --stats, NULL = none */
    int64_t epoch;            /* --epoch, Unix seconds at simulated time 0 */
    uint64_t seed;            /* --seed: the run's randomness */
    int watchdog_ms;          /* --watchdog, ms a task may sleep natively before the run goes on */
    int hang_s;               /* --hang-timeout, s all tasks may be stuck natively before they are killed */
    int spin_us;              /* --spin-us, wall µs to poll for the next notification before sleeping */
    int backend;              /* --backend: BACKEND_UNOTIFY or BACKEND_PTRACE */
    int cpu_model;            /* --cpu-model: CPU_MODEL_OFF or CPU_MODEL_MEASURED */
    double cpu_reference_speed; /* --cpu-reference-speed, flop/s of this machine; 0: calibrate */
    int cpu_threshold_us;     /* --cpu-threshold: shorter bursts are not charged */
    const char *strace_path;  /* --strace[=FILE]: "-" is stderr, NULL: no trace */
    int trace_cpu;            /* --trace-cpu */
    int verbose;              /* -v: log every trapped syscall */
    int list_syscalls;        /* --list-syscalls */
    /* Arguments handed to SimGrid: argv[0] and every --cfg=/--log=. */
    int sg_argc;
    char **sg_argv;
};

enum { CPU_MODEL_OFF = 0, CPU_MODEL_MEASURED = 1 };
enum { BACKEND_UNOTIFY = 0, BACKEND_PTRACE = 1 };

enum { OPTIONS_OK = 0, OPTIONS_EXIT = 1, OPTIONS_ERROR = -1 };

/* Parses argv.  OPTIONS_EXIT: --help/--list-syscalls was handled (printed
 * to out).  OPTIONS_ERROR: err holds a one-line message. */
int options_parse(int argc, char **argv, struct options *o, FILE *out, char *err, size_t errlen);
void options_free(struct options *o);
void options_usage(FILE *f);
