#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../filters/filter.h"

#define DEFAULT_EPOCH 946684800 /* 2000-01-01T00:00:00Z */

void options_usage(FILE *f)
{
    fputs("Usage: simterpose [OPTIONS] PLATFORM.xml DEPLOYMENT.xml\n"
          "\n"
          "Run unmodified programs on the hosts of a SimGrid platform, in simulated time.\n"
          "Each <actor host=\"H\" function=\"PROG\"> of DEPLOYMENT.xml runs PROG (absolute path or\n"
          "name looked up in PATH) on virtual host H with its <argument value=.../>s as argv[1..];\n"
          "start_time delays its start and kill_time kills it (SIGKILL), in simulated seconds.\n"
          "\n"
          "Options:\n"
          "  --out DIR          output directory, recreated at each run (default ./simterpose.data);\n"
          "                     DIR/hosts/HOST/PROG.N.stdout|stderr hold each program's output\n"
          "  --stats FILE       write run statistics as JSON to FILE\n"
          "  --epoch SECONDS    Unix time shown at simulated time 0 (default 946684800,\n"
          "                     2000-01-01T00:00:00Z)\n"
          "  --seed N           seed of every random byte the programs get (getrandom,\n"
          "                     AT_RANDOM); default 1: the same run gives the same bytes\n"
          "  --watchdog MS      a task blocked natively in the kernel for MS wall milliseconds\n"
          "                     is reported and the simulation goes on without it (default 100)\n"
          "  --spin-us US       after answering a task, poll for its next syscall for up to US\n"
          "                     wall microseconds before sleeping (default 100; 0: never spin)\n"
          "  --hang-timeout S   when every task is blocked natively for S wall seconds, they\n"
          "                     are killed (default 10)\n"
          "  --backend=NAME     how syscalls are trapped: unotify (seccomp user notification,\n"
          "                     default) or ptrace (seccomp + ptrace, as the 2011 prototype);\n"
          "                     the environment variable SIMTERPOSE_BACKEND sets the default\n"
          "  --cpu-model=MODEL  off (default): computation takes no simulated time, runs are\n"
          "                     deterministic; measured: the CPU time a task uses between two\n"
          "                     trapped syscalls is run on its virtual host (speed, cores)\n"
          "  --cpu-reference-speed FLOPS\n"
          "                     flop/s of this machine, to turn measured CPU time into flops\n"
          "                     (e.g. 2.5Gf; default: calibrated at start-up and reported)\n"
          "  --cpu-threshold US CPU bursts shorter than US microseconds are not charged: they\n"
          "                     are the cost of the trap itself (default 10)\n"
          "  --strace[=FILE]    write one line per trapped syscall, in simulated-time order, to\n"
          "                     FILE (default: stderr)\n"
          "  --trace-cpu        add to each trace line the CPU time charged before the call\n"
          "  -v, --verbose      log every trapped syscall to stderr\n"
          "  --list-syscalls    print the trapped syscalls and their classes, then exit\n"
          "  --cfg=NAME:VALUE   SimGrid configuration, passed to SimGrid\n"
          "  --log=SPEC         SimGrid logging, passed to SimGrid\n"
          "  -h, --help         show this help\n"
          "\n"
          "Exit status: 0 when every program exited 0, 1 when one did not, 2 on a usage or\n"
          "input error (nothing was run).\n",
          f);
}

static int parse_backend(const char *name, int *out)
{
    if (!strcmp(name, "unotify"))
        *out = BACKEND_UNOTIFY;
    else if (!strcmp(name, "ptrace"))
        *out = BACKEND_PTRACE;
    else
        return -1;
    return 0;
}

static int parse_long(const char *s, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* "2.5e9", "2500Mf", "2.5G": flop/s, > 0. */
static int parse_speed(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !(v > 0))
        return -1;
    static const struct {
        char c;
        double mult;
    } prefixes[] = {{'k', 1e3}, {'M', 1e6}, {'G', 1e9}, {'T', 1e12}};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (*end == prefixes[i].c) {
            v *= prefixes[i].mult;
            end++;
            break;
        }
    if (*end == 'f')
        end++;
    if (*end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static void list_syscalls(FILE *out)
{
    fprintf(out, "%-20s %-6s %s\n", "syscall", "class", "trapped when");
    for (size_t i = 0; i < trap_table_len; i++)
        fprintf(out, "%-20s %-6s %s\n", trap_table[i].name, trap_class_name(trap_table[i].cls),
                trap_table[i].cls == TRAP_FD ? "fd is emulated" : "always");
}

int options_parse(int argc, char **argv, struct options *o, FILE *out, char *err, size_t errlen)
{
    enum { O_OUT = 256, O_STATS, O_EPOCH, O_WATCHDOG, O_HANG, O_LIST, O_SPIN, O_CPU_MODEL, O_CPU_SPEED,
           O_CPU_THRESHOLD, O_STRACE, O_TRACE_CPU, O_SEED, O_BACKEND };
    static const struct option longopts[] = {
        {"out", required_argument, NULL, O_OUT},
        {"stats", required_argument, NULL, O_STATS},
        {"epoch", required_argument, NULL, O_EPOCH},
        {"watchdog", required_argument, NULL, O_WATCHDOG},
        {"hang-timeout", required_argument, NULL, O_HANG},
        {"spin-us", required_argument, NULL, O_SPIN},
        {"seed", required_argument, NULL, O_SEED},
        {"backend", required_argument, NULL, O_BACKEND},
        {"cpu-model", required_argument, NULL, O_CPU_MODEL},
        {"cpu-reference-speed", required_argument, NULL, O_CPU_SPEED},
        {"cpu-threshold", required_argument, NULL, O_CPU_THRESHOLD},
        {"strace", optional_argument, NULL, O_STRACE},
        {"trace-cpu", no_argument, NULL, O_TRACE_CPU},
        {"list-syscalls", no_argument, NULL, O_LIST},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    *o = (struct options){
        .out_dir = "simterpose.data",
        .epoch = DEFAULT_EPOCH,
        .watchdog_ms = 100,
        .hang_s = 10,
        .spin_us = 100,
        .cpu_threshold_us = 10,
        .seed = 1,
    };
    /* The environment sets the default, so a whole test suite can run
     * under the other backend unchanged; --backend still wins. */
    const char *env_backend = getenv("SIMTERPOSE_BACKEND");
    if (env_backend && *env_backend && parse_backend(env_backend, &o->backend) < 0) {
        snprintf(err, errlen, "SIMTERPOSE_BACKEND: '%s' is not unotify or ptrace", env_backend);
        return OPTIONS_ERROR;
    }
    o->sg_argv = calloc((size_t)argc + 1, sizeof *o->sg_argv);
    if (!o->sg_argv) {
        snprintf(err, errlen, "out of memory");
        return OPTIONS_ERROR;
    }
    o->sg_argv[o->sg_argc++] = argv[0];
    /* Our network model (docs/network.md), before the user's own --cfg so
     * that theirs win.  SimGrid's default (LV08) multiplies latencies by
     * 13.01 and bandwidths by 0.97 to mimic TCP slow start, which is wrong
     * for every message of an established connection; we keep its 0.97 on
     * bandwidth (TCP/IP headers: what a program sees is payload).  Latency-factor 0:
     * SimGrid shares the bandwidth, Simterpose adds each route's latency
     * itself, once per message, so that the transfers of one stream can
     * follow each other without paying it each time. */
    static char *const model_defaults[] = {
        "--log=xbt_cfg.thres:warning",
        "--cfg=network/model:CM02",
        "--cfg=network/latency-factor:0.0",
        "--cfg=network/bandwidth-factor:0.97",
        "--cfg=network/crosstraffic:0",
    };
    o->sg_argv = realloc(o->sg_argv, ((size_t)argc + 1 + sizeof model_defaults / sizeof *model_defaults) * sizeof *o->sg_argv);
    if (!o->sg_argv) {
        snprintf(err, errlen, "out of memory");
        return OPTIONS_ERROR;
    }
    for (size_t i = 0; i < sizeof model_defaults / sizeof *model_defaults; i++)
        o->sg_argv[o->sg_argc++] = model_defaults[i];

    /* SimGrid's options are ours to forward, not getopt's to reject: pull
     * them out first, keeping the rest in order. */
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (!rest) {
        snprintf(err, errlen, "out of memory");
        return OPTIONS_ERROR;
    }
    int nrest = 0;
    rest[nrest++] = argv[0];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) {
            for (; i < argc; i++)
                rest[nrest++] = argv[i];
            break;
        }
        if (!strncmp(argv[i], "--cfg=", 6) || !strncmp(argv[i], "--log=", 6))
            o->sg_argv[o->sg_argc++] = argv[i];
        else
            rest[nrest++] = argv[i];
    }

    int ret = OPTIONS_ERROR, c;
    long long v;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(nrest, rest, ":hv", longopts, NULL)) != -1) {
        switch (c) {
        case O_OUT:
            if (!*optarg) {
                snprintf(err, errlen, "--out needs a non-empty directory name");
                goto out;
            }
            o->out_dir = optarg;
            break;
        case O_STATS:
            o->stats_path = optarg;
            break;
        case O_EPOCH:
            if (parse_long(optarg, 0, (long long)1 << 40, &v)) {
                snprintf(err, errlen, "--epoch: '%s' is not a number of seconds >= 0", optarg);
                goto out;
            }
            o->epoch = v;
            break;
        case O_WATCHDOG:
            if (parse_long(optarg, 1, 3600000, &v)) {
                snprintf(err, errlen, "--watchdog: '%s' is not a number of milliseconds in 1..3600000", optarg);
                goto out;
            }
            o->watchdog_ms = (int)v;
            break;
        case O_HANG:
            if (parse_long(optarg, 1, 86400, &v)) {
                snprintf(err, errlen, "--hang-timeout: '%s' is not a number of seconds in 1..86400", optarg);
                goto out;
            }
            o->hang_s = (int)v;
            break;
        case O_SPIN:
            if (parse_long(optarg, 0, 1000000, &v)) {
                snprintf(err, errlen, "--spin-us: '%s' is not a number of microseconds in 0..1000000", optarg);
                goto out;
            }
            o->spin_us = (int)v;
            break;
        case O_SEED: {
            char *end;
            errno = 0;
            unsigned long long sv = strtoull(optarg, &end, 0);
            if (errno || end == optarg || *end || optarg[0] == '-') {
                snprintf(err, errlen, "--seed: '%s' is not an unsigned 64-bit number", optarg);
                goto out;
            }
            o->seed = sv;
            break;
        }
        case O_BACKEND:
            if (parse_backend(optarg, &o->backend) < 0) {
                snprintf(err, errlen, "--backend: '%s' is not unotify or ptrace", optarg);
                goto out;
            }
            break;
        case O_CPU_MODEL:
            if (!strcmp(optarg, "off"))
                o->cpu_model = CPU_MODEL_OFF;
            else if (!strcmp(optarg, "measured"))
                o->cpu_model = CPU_MODEL_MEASURED;
            else {
                snprintf(err, errlen, "--cpu-model: '%s' is not one of off, measured", optarg);
                goto out;
            }
            break;
        case O_CPU_SPEED:
            if (parse_speed(optarg, &o->cpu_reference_speed)) {
                snprintf(err, errlen, "--cpu-reference-speed: '%s' is not a speed in flop/s (e.g. 2.5Gf)", optarg);
                goto out;
            }
            break;
        case O_CPU_THRESHOLD:
            if (parse_long(optarg, 0, 1000000, &v)) {
                snprintf(err, errlen, "--cpu-threshold: '%s' is not a number of microseconds in 0..1000000", optarg);
                goto out;
            }
            o->cpu_threshold_us = (int)v;
            break;
        case O_STRACE:
            o->strace_path = optarg ? optarg : "-";
            if (!*o->strace_path) {
                snprintf(err, errlen, "--strace= needs a file name");
                goto out;
            }
            break;
        case O_TRACE_CPU:
            o->trace_cpu = 1;
            break;
        case O_LIST:
            list_syscalls(out);
            ret = OPTIONS_EXIT;
            goto out;
        case 'v':
            o->verbose++;
            break;
        case 'h':
            options_usage(out);
            ret = OPTIONS_EXIT;
            goto out;
        case ':':
            snprintf(err, errlen, "option '%s' needs an argument", rest[optind - 1]);
            goto out;
        default:
            snprintf(err, errlen, "unknown option '%s' (see --help)", rest[optind - 1]);
            goto out;
        }
    }
    if (o->trace_cpu && !o->strace_path) {
        snprintf(err, errlen, "--trace-cpu needs --strace");
        goto out;
    }
    if (nrest - optind != 2) {
        snprintf(err, errlen, "expected PLATFORM.xml and DEPLOYMENT.xml, got %d argument%s (see --help)",
                 nrest - optind, nrest - optind == 1 ? "" : "s");
        goto out;
    }
    o->platform = rest[optind];
    o->deployment = rest[optind + 1];
    ret = OPTIONS_OK;
out:
    free(rest);
    return ret;
}

void options_free(struct options *o)
{
    free(o->sg_argv);
    o->sg_argv = NULL;
}
