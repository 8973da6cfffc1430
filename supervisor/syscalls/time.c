/* Clocks and sleeps: virtual time is SimGrid's clock, realtime clocks add
 * the epoch.  The caller's own CPU clocks, getrusage and times show the
 * CPU time the simulation charged (task_add_cpu): the simulated duration
 * of its executions (--cpu-model=measured) and of its busy polls.  Other
 * tasks' CPU clocks (negative ids) stay native. */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/times.h>
#include <sys/timerfd.h>
#include <time.h>

#include "../file.h"
#include "../mem.h"
#include "../vdso.h"
#include "handlers.h"

#define NSEC 1000000000LL

enum clock_kind { CK_REAL, CK_MONO, CK_PROC_CPU, CK_THREAD_CPU, CK_NATIVE, CK_INVALID };

static enum clock_kind clock_kind(uint64_t arg)
{
    int32_t clk = (int32_t)arg; /* clockid_t is an int */
    switch (clk) {
    case CLOCK_REALTIME:
    case CLOCK_REALTIME_COARSE:
    case CLOCK_REALTIME_ALARM:
    case CLOCK_TAI:
        return CK_REAL;
    case CLOCK_MONOTONIC:
    case CLOCK_MONOTONIC_RAW:
    case CLOCK_MONOTONIC_COARSE:
    case CLOCK_BOOTTIME:
    case CLOCK_BOOTTIME_ALARM:
        return CK_MONO;
    case CLOCK_PROCESS_CPUTIME_ID:
        return CK_PROC_CPU;
    case CLOCK_THREAD_CPUTIME_ID:
        return CK_THREAD_CPU;
    default:
        /* Negative ids encode CPU clocks of other tasks and dynamic (fd)
         * clocks: the kernel validates them. */
        return clk < 0 ? CK_NATIVE : CK_INVALID;
    }
}

/* A trapped read of a virtual clock.  Reading the clock costs nothing,
 * but a task that does nothing else (a busy-wait on a deadline) must see
 * time pass, or it would spin forever: past the fast path's read limit, or
 * after STREAK_LIMIT plain trapped reads in a row, each read is charged as
 * a busy poll.  Counts, not wall time, decide: runs stay deterministic. */
#define STREAK_LIMIT 1000

static void clock_read(struct supervisor *s, struct task *t)
{
    enum vclock_site site = vclock_site(t);
    if (site == VCLOCK_REGISTER)
        vclock_register(t);
    bool past_fast_limit = site == VCLOCK_FALLBACK && s->opt->cpu_model == CPU_MODEL_OFF;
    if (past_fast_limit)
        t->proc->vclock_stale = true; /* restart its read count */
    if (++t->clock_streak > STREAK_LIMIT || past_fast_limit)
        task_charge_spin(t);
}

static int64_t clock_now(const struct supervisor *s, enum clock_kind k)
{
    int64_t now = sim_now_ns();
    return k == CK_REAL ? s->opt->epoch * NSEC + now : now;
}

struct sysret sys_clock_gettime(struct supervisor *s, struct task *t)
{
    enum clock_kind k = clock_kind(t->req.args[0]);
    if (k == CK_NATIVE)
        return SYSRET_CONTINUE;
    if (k == CK_INVALID)
        return SYSRET_ERRNO(EINVAL);
    clock_read(s, t);
    int64_t v = k == CK_PROC_CPU ? t->proc->cpu_time_ns : k == CK_THREAD_CPU ? t->cpu_time_ns : clock_now(s, k);
    if (mem_write_timespec(t, t->req.args[1], v) < 0)
        return SYSRET_ERRNO(EFAULT);
    return SYSRET_VALUE(0);
}

struct sysret sys_clock_getres(struct supervisor *s, struct task *t)
{
    (void)s;
    enum clock_kind k = clock_kind(t->req.args[0]);
    if (k == CK_NATIVE)
        return SYSRET_CONTINUE;
    if (k == CK_INVALID)
        return SYSRET_ERRNO(EINVAL);
    /* Virtual clocks, coarse ones included, are exact to the nanosecond. */
    if (t->req.args[1] && mem_write_timespec(t, t->req.args[1], 1) < 0)
        return SYSRET_ERRNO(EFAULT);
    return SYSRET_VALUE(0);
}

struct sysret sys_gettimeofday(struct supervisor *s, struct task *t)
{
    clock_read(s, t);
    int64_t now = clock_now(s, CK_REAL);
    if (t->req.args[0]) {
        struct {
            int64_t sec, usec;
        } tv = {now / NSEC, (now % NSEC) / 1000};
        if (mem_write(t, t->req.args[0], &tv, sizeof tv) < 0)
            return SYSRET_ERRNO(EFAULT);
    }
    if (t->req.args[1]) {
        /* The kernel's timezone is UTC unless someone set it: we say UTC. */
        int tz[2] = {0, 0};
        if (mem_write(t, t->req.args[1], tz, sizeof tz) < 0)
            return SYSRET_ERRNO(EFAULT);
    }
    return SYSRET_VALUE(0);
}

struct sysret sys_time(struct supervisor *s, struct task *t)
{
    clock_read(s, t);
    int64_t sec = clock_now(s, CK_REAL) / NSEC;
    if (t->req.args[0] && mem_write(t, t->req.args[0], &sec, sizeof sec) < 0)
        return SYSRET_ERRNO(EFAULT);
    return SYSRET_VALUE(sec);
}

/* Sleep in simulated time until the virtual clock reaches deadline. */
/* rem: where a relative sleep cut short by a signal reports what was
 * left (0: nowhere). */
static struct sysret sleep_until(struct task *t, int64_t deadline, uint64_t rem)
{
    task_waited(t);
    while (sim_now_ns() < deadline) {
        if (!task_block(t, deadline)) {
            if (rem && t->sig_interrupt && mem_write_timespec(t, rem, deadline - sim_now_ns()) < 0)
                return SYSRET_ERRNO(EFAULT);
            return SYSRET_ERRNO(EINTR);
        }
    }
    return SYSRET_VALUE(0);
}

struct sysret sys_nanosleep(struct supervisor *s, struct task *t)
{
    (void)s;
    int64_t d = mem_read_timespec(t, t->req.args[0]);
    if (d < 0)
        return SYSRET_ERRNO((int)-d);
    return sleep_until(t, sim_now_ns() + d, t->req.args[1]);
}

struct sysret sys_clock_nanosleep(struct supervisor *s, struct task *t)
{
    enum clock_kind k = clock_kind(t->req.args[0]);
    if (k == CK_THREAD_CPU || k == CK_INVALID)
        return SYSRET_ERRNO(EINVAL);
    if (k == CK_NATIVE || k == CK_PROC_CPU)
        return SYSRET_CONTINUE;
    int64_t v = mem_read_timespec(t, t->req.args[2]);
    if (v < 0)
        return SYSRET_ERRNO((int)-v);
    int64_t deadline = sim_now_ns() + v;
    if (t->req.args[1] & TIMER_ABSTIME)
        deadline = v - (clock_now(s, k) - sim_now_ns());
    return sleep_until(t, deadline, t->req.args[1] & TIMER_ABSTIME ? 0 : t->req.args[3]);
}

/* timerfd: timers of simulated time (file.c counts their expirations). */
struct sysret sys_timerfd_create(struct supervisor *s, struct task *t)
{
    int clock = (int)t->req.args[0], flags = (int)t->req.args[1];
    if (clock == CLOCK_REALTIME_ALARM || clock == CLOCK_BOOTTIME_ALARM)
        return SYSRET_ERRNO(EPERM); /* needs CAP_WAKE_ALARM, which no target has */
    if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC && clock != CLOCK_BOOTTIME)
        return SYSRET_ERRNO(EINVAL);
    if (flags & ~(TFD_CLOEXEC | TFD_NONBLOCK))
        return SYSRET_ERRNO(EINVAL);
    struct file *f = file_new(FILE_TIMERFD);
    f->tfd = (struct timerfd_state){.clock = clock, .next_ns = -1};
    f->status_flags = flags & TFD_NONBLOCK; /* == O_NONBLOCK */
    int r = fd_install_new(s, t, f, flags & TFD_CLOEXEC);
    return SYSRET_OR_ERRNO(r);
}

/* What timerfd_gettime shows: time to the next expiration, and the period. */
static struct itimerspec timerfd_current(struct file *f)
{
    timerfd_settle(f);
    int64_t left = f->tfd.next_ns < 0 ? 0 : f->tfd.next_ns - sim_now_ns();
    return (struct itimerspec){
        .it_value = {.tv_sec = left / NSEC, .tv_nsec = left % NSEC},
        .it_interval = {.tv_sec = f->tfd.interval_ns / NSEC, .tv_nsec = f->tfd.interval_ns % NSEC},
    };
}

static struct file *timerfd_of(struct task *t, struct sysret *err)
{
    struct file *f = fd_get(t, (int)t->req.args[0]);
    *err = f ? SYSRET_ERRNO(EINVAL) : SYSRET_CONTINUE; /* not ours: a native one, or EBADF */
    return f && f->kind == FILE_TIMERFD ? f : NULL;
}

static bool valid_timespec(const struct timespec *ts)
{
    return ts->tv_sec >= 0 && ts->tv_nsec >= 0 && ts->tv_nsec < NSEC;
}

struct sysret sys_timerfd_settime(struct supervisor *s, struct task *t)
{
    struct sysret err;
    struct file *f = timerfd_of(t, &err);
    if (!f)
        return err;
    int flags = (int)t->req.args[1];
    if (flags & ~(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET))
        return SYSRET_ERRNO(EINVAL);
    struct itimerspec new;
    if (mem_read(t, t->req.args[2], &new, sizeof new) < 0)
        return SYSRET_ERRNO(EFAULT);
    if (!valid_timespec(&new.it_value) || !valid_timespec(&new.it_interval))
        return SYSRET_ERRNO(EINVAL);
    struct itimerspec old = timerfd_current(f);
    int64_t value = new.it_value.tv_sec >= MEM_TIMESPEC_FOREVER / NSEC ? MEM_TIMESPEC_FOREVER
                                                                       : new.it_value.tv_sec * NSEC + new.it_value.tv_nsec;
    int64_t interval = new.it_interval.tv_sec >= MEM_TIMESPEC_FOREVER / NSEC
                           ? MEM_TIMESPEC_FOREVER
                           : new.it_interval.tv_sec * NSEC + new.it_interval.tv_nsec;
    f->tfd.ticks = 0; /* as Linux: a new setting forgets unread expirations */
    f->tfd.interval_ns = interval;
    if (!value) {
        f->tfd.next_ns = -1;
    } else if (flags & TFD_TIMER_ABSTIME) {
        int64_t offset = clock_now(s, f->tfd.clock == CLOCK_REALTIME ? CK_REAL : CK_MONO) - sim_now_ns();
        f->tfd.next_ns = value - offset < 0 ? 0 : value - offset; /* in the past: expires at once */
    } else {
        f->tfd.next_ns = value >= MEM_TIMESPEC_FOREVER - sim_now_ns() ? MEM_TIMESPEC_FOREVER : sim_now_ns() + value;
    }
    file_notify(f); /* pollers and readers: a new deadline */
    if (t->req.args[3] && mem_write(t, t->req.args[3], &old, sizeof old) < 0)
        return SYSRET_ERRNO(EFAULT);
    return SYSRET_VALUE(0);
}

struct sysret sys_timerfd_gettime(struct supervisor *s, struct task *t)
{
    (void)s;
    struct sysret err;
    struct file *f = timerfd_of(t, &err);
    if (!f)
        return err;
    struct itimerspec cur = timerfd_current(f);
    if (mem_write(t, t->req.args[1], &cur, sizeof cur) < 0)
        return SYSRET_ERRNO(EFAULT);
    return SYSRET_VALUE(0);
}

/* getrusage: the CPU time we charged as user time; the rest (memory, page
 * faults, context switches) is the machine's, not the simulation's, and
 * differs from run to run: zero. */
struct sysret sys_getrusage(struct supervisor *s, struct task *t)
{
    (void)s;
    int who = (int)t->req.args[0];
    int64_t ns;
    switch (who) {
    case RUSAGE_SELF: ns = t->proc->cpu_time_ns; break;
    case RUSAGE_THREAD: ns = t->cpu_time_ns; break;
    case RUSAGE_CHILDREN: ns = t->proc->children_cpu_ns; break;
    default: return SYSRET_ERRNO(EINVAL);
    }
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    ru.ru_utime = (struct timeval){ns / NSEC, (ns % NSEC) / 1000};
    return mem_write(t, t->req.args[1], &ru, sizeof ru) < 0 ? SYSRET_ERRNO(EFAULT) : SYSRET_VALUE(0);
}

/* times: CPU times in clock ticks, and simulated time since the start in
 * ticks where Linux counts from boot. */
struct sysret sys_times(struct supervisor *s, struct task *t)
{
    (void)s;
    const int64_t tick = NSEC / 100; /* USER_HZ */
    struct tms tm = {.tms_utime = (clock_t)(t->proc->cpu_time_ns / tick),
                     .tms_cutime = (clock_t)(t->proc->children_cpu_ns / tick)};
    if (t->req.args[0] && mem_write(t, t->req.args[0], &tm, sizeof tm) < 0)
        return SYSRET_ERRNO(EFAULT);
    return SYSRET_VALUE(sim_now_ns() / tick);
}
