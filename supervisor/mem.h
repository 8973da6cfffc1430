/* Target memory.  Every pointer comes from the target and may be bad: a
 * failed or short copy is the target's EFAULT, never our crash. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "supervisor.h"

/* 0 or -EFAULT. */
int mem_read(const struct task *t, uint64_t addr, void *buf, size_t len);
int mem_write(const struct task *t, uint64_t addr, const void *buf, size_t len);
