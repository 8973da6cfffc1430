/* Deterministic randomness: every byte a program gets from getrandom or
 * AT_RANDOM comes from a per-process PRNG seeded by --seed, the host and
 * the process's place in the run. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "supervisor.h"

/* Seed the stream of a new process: from the run's seed, its host and
 * program and its rank in the group for a deployed program; from its
 * parent's stream for a forked child. */
void random_seed_proc(const struct supervisor *s, struct proc *p, struct proc *parent);
void random_fill(struct proc *p, void *buf, size_t len);
/* Overwrite the image's AT_RANDOM bytes (at its first trapped syscall,
 * before libc has read them for its stack guard). */
void random_patch_at_random(struct task *t);
