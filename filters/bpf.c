/* Emits the seccomp-BPF program for a trap table.
 *
 * Shape:  arch check -> x32 check -> binary search on the syscall number
 * -> per-syscall action.  A binary search keeps the cost of an untrapped
 * syscall at ~log2(n) comparisons instead of n, which matters because every
 * native syscall of the target runs this program. */
#include "filter.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <string.h>

#define X32_SYSCALL_BIT 0x40000000u
#define LEAF_MAX 4 /* ranges this small are tested linearly */

/* Per-entry action block lengths (see emit_action). */
#define ACTION_LEN_ALWAYS 1
#define ACTION_LEN_FD 6

struct emitter {
    struct sock_filter *out;
    size_t cap, len;
    uint32_t trap;
    int overflow;
};

static void emit(struct emitter *e, uint16_t code, uint8_t jt, uint8_t jf, uint32_t k)
{
    if (e->len >= e->cap) {
        e->overflow = 1;
        return;
    }
    e->out[e->len++] = (struct sock_filter){code, jt, jf, k};
}

static size_t action_len(const struct trap_entry *t)
{
    return t->cls == TRAP_FD ? ACTION_LEN_FD : ACTION_LEN_ALWAYS;
}

/* Clobbers A; every path returns. */
static void emit_action(struct emitter *e, const struct trap_entry *t)
{
    if (t->cls != TRAP_FD) {
        emit(e, BPF_RET | BPF_K, 0, 0, e->trap);
        return;
    }
    /* The kernel reads an fd argument as a 32-bit int: look at the low
     * word only, and treat negative values (bit 31) as not ours. */
    emit(e, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, args[0]));
    emit(e, BPF_JMP | BPF_JGE | BPF_K, 3, 0, 0x80000000u);
    emit(e, BPF_JMP | BPF_JGE | BPF_K, 1, 0, EMU_FD_BASE);
    emit(e, BPF_JMP | BPF_JGE | BPF_K, 1, 0, EMU_FD_LOW);
    emit(e, BPF_RET | BPF_K, 0, 0, e->trap);
    emit(e, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
}

static size_t leaf_len(const struct trap_entry *t, size_t n)
{
    size_t len = 1; /* final ALLOW */
    for (size_t i = 0; i < n; i++)
        len += 1 + action_len(&t[i]);
    return len;
}

static size_t tree_len(const struct trap_entry *t, size_t n)
{
    if (n <= LEAF_MAX)
        return leaf_len(t, n);
    size_t mid = n / 2, left = tree_len(t, mid);
    return (left > 255 ? 2 : 1) + left + tree_len(t + mid, n - mid);
}

/* A holds the syscall number on entry to every node. */
static void emit_tree(struct emitter *e, const struct trap_entry *t, size_t n)
{
    if (n <= LEAF_MAX) {
        for (size_t i = 0; i < n; i++) {
            emit(e, BPF_JMP | BPF_JEQ | BPF_K, 0, (uint8_t)action_len(&t[i]), (uint32_t)t[i].nr);
            emit_action(e, &t[i]);
        }
        emit(e, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
        return;
    }
    size_t mid = n / 2, left = tree_len(t, mid);
    if (left <= 255) {
        emit(e, BPF_JMP | BPF_JGE | BPF_K, (uint8_t)left, 0, (uint32_t)t[mid].nr);
    } else {
        /* Conditional jumps reach 255 instructions; go long with JA. */
        emit(e, BPF_JMP | BPF_JGE | BPF_K, 0, 1, (uint32_t)t[mid].nr);
        emit(e, BPF_JMP | BPF_JA, 0, 0, (uint32_t)left);
    }
    emit_tree(e, t, mid);
    emit_tree(e, t + mid, n - mid);
}

static int by_nr(const void *a, const void *b)
{
    const struct trap_entry *x = a, *y = b;
    return (x->nr > y->nr) - (x->nr < y->nr);
}

size_t filter_max_len(size_t n)
{
    /* 6 header instructions; per entry at most a JEQ and an FD action, one
     * leaf ALLOW and two branch instructions. */
    return 6 + n * (1 + ACTION_LEN_FD + 1 + 2);
}

int filter_build(const struct trap_entry *table, size_t n, uint32_t trap_action,
                 struct sock_filter *out, size_t cap)
{
    struct trap_entry *sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted)
        return -1;
    memcpy(sorted, table, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, by_nr);
    for (size_t i = 0; i < n; i++) {
        if (sorted[i].nr < 0 || (i && sorted[i].nr == sorted[i - 1].nr)) {
            free(sorted);
            return -1;
        }
    }

    struct emitter e = {.out = out, .cap = cap, .trap = trap_action};
    emit(&e, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, arch));
    emit(&e, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, AUDIT_ARCH_X86_64);
    /* int $0x80 from a 64-bit process or a 32-bit binary would bypass the
     * emulation: refuse rather than run it natively. */
    emit(&e, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ERRNO | ENOSYS);
    emit(&e, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, nr));
    emit(&e, BPF_JMP | BPF_JGE | BPF_K, 0, 1, X32_SYSCALL_BIT);
    emit(&e, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ERRNO | ENOSYS);
    emit_tree(&e, sorted, n);
    free(sorted);
    return e.overflow ? -1 : (int)e.len;
}
