/* Target memory.  Every pointer comes from the target and may be bad: a
 * failed or short copy is the target's EFAULT, never our crash. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "supervisor.h"

/* 0 or -EFAULT. */
int mem_read(const struct task *t, uint64_t addr, void *buf, size_t len);
int mem_write(const struct task *t, uint64_t addr, const void *buf, size_t len);

/* A struct timespec as nanoseconds: -EFAULT, or -EINVAL when out of range
 * (negative, tv_nsec >= 1e9), as the kernel checks it.  Durations too long
 * to matter come back as MEM_TIMESPEC_FOREVER. */
#define MEM_TIMESPEC_FOREVER (INT64_MAX / 4)
int64_t mem_read_timespec(const struct task *t, uint64_t addr);
int mem_write_timespec(const struct task *t, uint64_t addr, int64_t ns);
