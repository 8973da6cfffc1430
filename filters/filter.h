/* Trap classes and the seccomp-BPF program generated from the syscall table. */
#pragma once
#include <linux/filter.h>
#include <stddef.h>
#include <stdint.h>

/* File descriptors installed by the supervisor for emulated objects start
 * here; fd-based syscalls are trapped only for fds >= this value or below
 * EMU_FD_LOW, so native file I/O never leaves the kernel. */
#define EMU_FD_BASE 512
/* fds 0-2 are trapped too: shells dup2 pipe ends onto them, so stdin,
 * stdout and stderr may be emulated pipes. */
#define EMU_FD_LOW 3

/* Is fd a number an emulated file may have (the filter traps it)? */
static inline int fd_in_trap_range(int fd) { return (fd >= 0 && fd < EMU_FD_LOW) || fd >= EMU_FD_BASE; }

enum trap_class {
    TRAP_TIME,  /* clocks and sleeps */
    TRAP_PROC,  /* process life cycle */
    TRAP_NET,   /* socket creation: always trapped */
    TRAP_DESC,  /* descriptor calls that may involve an emulated fd anywhere
                   in their arguments (dup2, poll...): always trapped */
    TRAP_FD,    /* fd-based: trapped only when arg0 is an emulated fd */
    TRAP_RAND,  /* randomness: always trapped, served from --seed */
    TRAP_CLASS_COUNT
};

struct trap_entry {
    int nr;               /* x86_64 syscall number */
    const char *name;
    enum trap_class cls;
};

/* The table, in syscall_table.h order, and its size. */
extern const struct trap_entry trap_table[];
extern const size_t trap_table_len;

const char *trap_class_name(enum trap_class cls);
/* Index of nr in trap_table, or -1. */
int trap_lookup(int nr);

/* Build the filter for the entries of table[0..n): trapped calls return
 * trap_action (SECCOMP_RET_USER_NOTIF, or SECCOMP_RET_TRACE for ptrace),
 * the rest SECCOMP_RET_ALLOW; a foreign architecture or the x32 ABI gets
 * ENOSYS.  Returns the number of instructions written to out (at most cap),
 * or -1 if cap is too small or the table is invalid (duplicate numbers). */
int filter_build(const struct trap_entry *table, size_t n, uint32_t trap_action,
                 struct sock_filter *out, size_t cap);

/* Upper bound on the program length for a table of n entries. */
size_t filter_max_len(size_t n);
