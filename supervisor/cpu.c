/* The CPU model: what a task computes between two trapped syscalls is run
 * on its virtual host.
 *
 * Measured with the task's own scheduler clock, /proc/PID/task/TID/schedstat
 * (ns on CPU, exact for a task parked in a notification): one pread of a
 * descriptor kept open per task.  Turned into flops with the reference
 * speed of this machine, and executed as a SimGrid execution on the task's
 * host, so the host's speed, pstate and cores decide how long it takes.
 *
 * What stays out: the supervisor's own work is another process's CPU time.
 * The target's side of a trap (seccomp, the wait, the wake-up: ~7 µs on
 * our VM) is in the task's clock; bursts under --cpu-threshold are taken
 * for that and not charged, as SMPI's smpi/cpu-threshold does. */
#include "cpu.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"

static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* flop/s of this machine on a dependent multiply-add chain: a convention,
 * as any single number for "speed" is; fix it with --cpu-reference-speed
 * to compare runs across machines. */
static double calibrate(void)
{
    volatile double seed = 1.000000001;
    double x = seed, a = 0.999999999, b = 1e-9;
    uint64_t iters = 0;
    int64_t start = thread_cpu_ns(), spent;
    do {
        for (int i = 0; i < 1000000; i++)
            x = x * a + b;
        iters += 1000000;
        spent = thread_cpu_ns() - start;
    } while (spent < 50000000); /* 50 ms */
    seed = x;                   /* keep the loop */
    return 2.0 * (double)iters / ((double)spent / 1e9);
}

void cpu_init(struct supervisor *s)
{
    if (s->opt->cpu_model != CPU_MODEL_MEASURED)
        return;
    s->cpu_reference_speed = s->opt->cpu_reference_speed;
    s->cpu_calibrated = false;
    if (!(s->cpu_reference_speed > 0)) {
        s->cpu_reference_speed = calibrate();
        s->cpu_calibrated = true;
    }
    fprintf(stderr, "simterpose: CPU model: measured, reference speed %.4g flop/s (%s), threshold %d us\n",
            s->cpu_reference_speed, s->cpu_calibrated ? "calibrated now; --cpu-reference-speed fixes it" : "given",
            s->opt->cpu_threshold_us);
}

static int64_t read_schedstat(int fd)
{
    char buf[128];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    return strtoll(buf, NULL, 10);
}

void cpu_task_start(struct supervisor *s, struct task *t)
{
    t->cpu_fd = -1;
    if (s->opt->cpu_model != CPU_MODEL_MEASURED)
        return;
    char path[96];
    snprintf(path, sizeof path, "/proc/%d/task/%d/schedstat", t->proc->pid, t->tid);
    t->cpu_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (t->cpu_fd < 0) {
        log_msg("task %d: cannot open %s (%s): its computation is not charged", t->tid, path, strerror(errno));
        return;
    }
    t->cpu_last_ns = read_schedstat(t->cpu_fd);
}

void cpu_task_end(struct task *t)
{
    if (t->cpu_fd >= 0)
        close(t->cpu_fd);
    t->cpu_fd = -1;
}

int64_t cpu_charge(struct supervisor *s, struct task *t)
{
    if (t->cpu_fd < 0)
        return 0;
    int64_t now = read_schedstat(t->cpu_fd);
    if (now < 0)
        return 0;
    int64_t burst = now - t->cpu_last_ns;
    t->cpu_last_ns = now;
    if (burst < (int64_t)s->opt->cpu_threshold_us * 1000)
        return 0;
    sim_execute((double)burst / 1e9 * s->cpu_reference_speed);
    return burst;
}
