/* futex, emulated: a waiter waits in simulated time, so pthread mutexes,
 * condition variables (and their timeouts: virtual clocks) and joins
 * follow the simulation instead of blocking natively.
 *
 * Keys are (process, address), as threads share their process's address
 * space; a futex without FUTEX_PRIVATE_FLAG in a shared mapping (pshared
 * mutexes, semaphores in shared memory) is keyed by the mapped object and
 * offset (/proc/PID/maps), so processes sharing it meet.  The value check reads the
 * target's memory: no other task runs meanwhile, which is what makes it
 * atomic.  PI futexes run natively. */
#include <errno.h>
#include <inttypes.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../mem.h"
#include "handlers.h"

#define NSEC 1000000000LL

/* What a futex is: (mm, addr) private, or (NULL, dev, ino, offset) in a
 * shared mapping. */
struct fkey {
    const struct proc *mm;
    uint64_t dev, ino, addr;
};

static bool same_key(const struct fkey *a, const struct fkey *b)
{
    return a->mm == b->mm && a->dev == b->dev && a->ino == b->ino && a->addr == b->addr;
}

/* The key of addr for an operation op on task t. */
static struct fkey key_of(const struct task *t, uint64_t addr, int op)
{
    struct fkey k = {.mm = t->proc, .addr = addr};
    if (op & FUTEX_PRIVATE_FLAG)
        return k;
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/maps", t->proc->pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return k;
    while (fgets(line, sizeof line, f)) {
        uint64_t start, end, off, ino;
        unsigned maj, min;
        char perms[8];
        if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %x:%x %" SCNu64, &start, &end, perms, &off, &maj,
                   &min, &ino) != 7)
            continue;
        if (addr < start || addr >= end)
            continue;
        if (perms[3] == 's')
            k = (struct fkey){NULL, ((uint64_t)maj << 32) | min, ino, off + (addr - start)};
        break;
    }
    fclose(f);
    return k;
}

struct futex_waiter {
    struct task *t;
    struct fkey key;
    uint32_t bitset;
    bool woken;
    struct futex_waiter *next;
};

/* All waiters of the run, oldest first (FIFO wake order, deterministic). */
static struct futex_waiter *waiters, **waiters_tail = &waiters;

static void enqueue(struct futex_waiter *w)
{
    w->next = NULL;
    *waiters_tail = w;
    waiters_tail = &w->next;
}

static void unlink_waiter(struct futex_waiter *w)
{
    for (struct futex_waiter **p = &waiters; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            if (waiters_tail == &w->next)
                waiters_tail = p;
            return;
        }
    }
}

/* Wake up to n waiters on key whose bitset meets bitset. */
static int wake(struct fkey key, int n, uint32_t bitset)
{
    struct task **to_wake = NULL;
    int woken = 0, cap = 0;
    for (struct futex_waiter *w = waiters, *next; w && woken < n; w = next) {
        next = w->next;
        if (!same_key(&w->key, &key) || !(w->bitset & bitset) || w->woken)
            continue;
        w->woken = true;
        unlink_waiter(w);
        if (woken == cap) {
            cap = cap ? cap * 2 : 8;
            struct task **v = realloc(to_wake, (size_t)cap * sizeof *v);
            if (!v)
                abort();
            to_wake = v;
        }
        to_wake[woken++] = w->t;
    }
    /* Wake-ups are simcalls: only after the list walk. */
    for (int i = 0; i < woken; i++)
        task_wake(to_wake[i]);
    free(to_wake);
    return woken;
}

static int requeue(struct fkey from, struct fkey to, int n)
{
    int moved = 0;
    for (struct futex_waiter *w = waiters; w && moved < n; w = w->next) {
        if (same_key(&w->key, &from) && !w->woken) {
            w->key = to;
            moved++;
        }
    }
    return moved;
}

void futex_thread_exited(struct task *t, uint64_t ctid)
{
    /* The kernel cleared *ctid and woke its futex natively, where nobody
     * of ours waits: wake our waiters (pthread_join). */
    if (ctid)
        wake((struct fkey){.mm = t->proc, .addr = ctid}, 1 << 30, FUTEX_BITSET_MATCH_ANY);
}

static struct sysret do_wait(struct task *t, uint64_t addr, int op, uint32_t val, int64_t deadline, uint32_t bitset)
{
    uint32_t cur;
    if (addr & 3)
        return SYSRET_ERRNO(EINVAL);
    if (mem_read(t, addr, &cur, sizeof cur) < 0)
        return SYSRET_ERRNO(EFAULT);
    if (cur != val)
        return SYSRET_ERRNO(EAGAIN);
    struct futex_waiter *w = calloc(1, sizeof *w);
    if (!w)
        return SYSRET_ERRNO(ENOMEM);
    *w = (struct futex_waiter){.t = t, .key = key_of(t, addr, op), .bitset = bitset};
    enqueue(w);
    task_waited(t);
    struct sysret r = SYSRET_VALUE(0);
    for (;;) {
        if (w->woken)
            break;
        if (deadline >= 0 && sim_now_ns() >= deadline) {
            r = SYSRET_ERRNO(ETIMEDOUT);
            break;
        }
        if (!task_block(t, deadline)) {
            r = SYSRET_ERRNO(EINTR);
            break;
        }
    }
    if (!w->woken)
        unlink_waiter(w);
    free(w);
    return r;
}

/* Relative timeout (FUTEX_WAIT) or absolute (WAIT_BITSET) to a deadline. */
static int64_t futex_deadline(struct supervisor *s, struct task *t, uint64_t addr, bool absolute, bool realtime,
                              int *err)
{
    *err = 0;
    if (!addr)
        return -1;
    int64_t v = mem_read_timespec(t, addr);
    if (v < 0) {
        *err = (int)-v;
        return 0;
    }
    if (v == MEM_TIMESPEC_FOREVER)
        return -1;
    if (!absolute)
        return sim_now_ns() + v;
    return realtime ? v - s->opt->epoch * NSEC : v;
}

struct sysret sys_futex(struct supervisor *s, struct task *t)
{
    uint64_t uaddr = t->req.args[0], timeout = t->req.args[3], uaddr2 = t->req.args[4];
    int op = (int)t->req.args[1];
    uint32_t val = (uint32_t)t->req.args[2], val3 = (uint32_t)t->req.args[5];
    int cmd = op & FUTEX_CMD_MASK;
    bool realtime = op & FUTEX_CLOCK_REALTIME;
    int err;
    switch (cmd) {
    case FUTEX_WAIT: {
        int64_t dl = futex_deadline(s, t, timeout, false, false, &err);
        return err ? SYSRET_ERRNO(err) : do_wait(t, uaddr, op, val, dl, FUTEX_BITSET_MATCH_ANY);
    }
    case FUTEX_WAIT_BITSET: {
        if (!val3)
            return SYSRET_ERRNO(EINVAL);
        int64_t dl = futex_deadline(s, t, timeout, true, realtime, &err);
        return err ? SYSRET_ERRNO(err) : do_wait(t, uaddr, op, val, dl, val3);
    }
    case FUTEX_WAKE:
        return SYSRET_VALUE(wake(key_of(t, uaddr, op), (int)val, FUTEX_BITSET_MATCH_ANY));
    case FUTEX_WAKE_BITSET:
        if (!val3)
            return SYSRET_ERRNO(EINVAL);
        return SYSRET_VALUE(wake(key_of(t, uaddr, op), (int)val, val3));
    case FUTEX_REQUEUE:
    case FUTEX_CMP_REQUEUE: {
        int n2 = (int)timeout; /* val2 travels in the timeout argument */
        if ((int)val < 0 || n2 < 0)
            return SYSRET_ERRNO(EINVAL);
        if (cmd == FUTEX_CMP_REQUEUE) {
            uint32_t cur;
            if (mem_read(t, uaddr, &cur, sizeof cur) < 0)
                return SYSRET_ERRNO(EFAULT);
            if (cur != val3)
                return SYSRET_ERRNO(EAGAIN);
        }
        int woken = wake(key_of(t, uaddr, op), (int)val, FUTEX_BITSET_MATCH_ANY);
        int moved = requeue(key_of(t, uaddr, op), key_of(t, uaddr2, op), n2);
        return SYSRET_VALUE(cmd == FUTEX_CMP_REQUEUE ? woken + moved : woken);
    }
    case FUTEX_WAKE_OP: {
        int n2 = (int)timeout;
        uint32_t old;
        if (mem_read(t, uaddr2, &old, sizeof old) < 0)
            return SYSRET_ERRNO(EFAULT);
        int opcode = (val3 >> 28) & 7, cmp = (val3 >> 24) & 15;
        uint32_t oparg = (val3 >> 12) & 0xfff, cmparg = val3 & 0xfff;
        if (val3 & (FUTEX_OP_OPARG_SHIFT << 28))
            oparg = oparg >= 32 ? 0 : 1u << oparg;
        uint32_t nv;
        switch (opcode) {
        case FUTEX_OP_SET: nv = oparg; break;
        case FUTEX_OP_ADD: nv = old + oparg; break;
        case FUTEX_OP_OR: nv = old | oparg; break;
        case FUTEX_OP_ANDN: nv = old & ~oparg; break;
        case FUTEX_OP_XOR: nv = old ^ oparg; break;
        default: return SYSRET_ERRNO(ENOSYS);
        }
        if (mem_write(t, uaddr2, &nv, sizeof nv) < 0)
            return SYSRET_ERRNO(EFAULT);
        int woken = wake(key_of(t, uaddr, op), (int)val, FUTEX_BITSET_MATCH_ANY);
        int32_t o = (int32_t)old, c = (int32_t)cmparg;
        bool hit;
        switch (cmp) {
        case FUTEX_OP_CMP_EQ: hit = o == c; break;
        case FUTEX_OP_CMP_NE: hit = o != c; break;
        case FUTEX_OP_CMP_LT: hit = o < c; break;
        case FUTEX_OP_CMP_LE: hit = o <= c; break;
        case FUTEX_OP_CMP_GT: hit = o > c; break;
        case FUTEX_OP_CMP_GE: hit = o >= c; break;
        default: return SYSRET_ERRNO(ENOSYS);
        }
        if (hit)
            woken += wake(key_of(t, uaddr2, op), n2, FUTEX_BITSET_MATCH_ANY);
        return SYSRET_VALUE(woken);
    }
    default:
        return SYSRET_CONTINUE; /* PI futexes and the rest: native */
    }
}
