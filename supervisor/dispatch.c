#include "dispatch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../filters/filter.h"
#include "syscalls/handlers.h"
#include "vdso.h"
#include <sys/syscall.h>

typedef struct sysret (*handler_fn)(struct supervisor *, struct task *);

/* Indexed like trap_table: the X-macro expands in the same order. */
static const handler_fn handlers[] = {
#define SYSCALL(name, cls, handler) handler,
#include "../filters/syscall_table.h"
#undef SYSCALL
};

#define MAX_NR 1024
static short slot_of_nr[MAX_NR]; /* table index + 1, 0 = not ours */

void dispatch_init(struct supervisor *s)
{
    _Static_assert(sizeof handlers / sizeof handlers[0] <= 32767, "table too large");
    for (size_t i = 0; i < trap_table_len; i++)
        if (trap_table[i].nr >= 0 && trap_table[i].nr < MAX_NR)
            slot_of_nr[trap_table[i].nr] = (short)(i + 1);
    s->syscall_counts = calloc(trap_table_len, sizeof *s->syscall_counts);
}

const struct trap_entry *dispatch_entry(int nr)
{
    int slot = nr >= 0 && nr < MAX_NR ? slot_of_nr[nr] : 0;
    return slot ? &trap_table[slot - 1] : NULL;
}

struct sysret dispatch(struct supervisor *s, struct task *t)
{
    int nr = t->req.nr;
    int slot = nr >= 0 && nr < MAX_NR ? slot_of_nr[nr] : 0;
    if (!slot) {
        /* The filter and the table disagree: should never happen. */
        s->unknown_syscalls++;
        log_msg("task %d: unexpected syscall %d trapped; running it natively", t->tid, nr);
        return SYSRET_CONTINUE;
    }
    s->syscall_counts[slot - 1]++;
    if (nr != __NR_clock_gettime && nr != __NR_gettimeofday && nr != __NR_time)
        t->clock_streak = 0;
    struct sysret r = handlers[slot - 1](s, t);
    if (s->opt->verbose) {
        if (r.kind == RET_CONTINUE)
            log_msg("%s %d %s(%#llx, %#llx, %#llx) = <native>", t->proc->g->host->name, t->tid,
                    trap_table[slot - 1].name, (unsigned long long)t->req.args[0],
                    (unsigned long long)t->req.args[1], (unsigned long long)t->req.args[2]);
        else
            log_msg("%s %d %s(%#llx, %#llx, %#llx) = %s%lld", t->proc->g->host->name, t->tid,
                    trap_table[slot - 1].name, (unsigned long long)t->req.args[0],
                    (unsigned long long)t->req.args[1], (unsigned long long)t->req.args[2],
                    r.kind == RET_ERRNO ? "-" : "", (long long)r.value);
    }
    return r;
}

void reply_now(struct supervisor *s, struct task *t, struct sysret r)
{
    vclock_sync(s, t);
    int err = s->backend->reply(s, t, r);
    if (err < 0 && err != -ENOENT)
        log_msg("task %d: reply failed: %s", t->tid, strerror(-err));
}
