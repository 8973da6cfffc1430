/* The syscall trace (--strace) and the per-program usage in the stats. */
#pragma once
#include "supervisor.h"

/* After t's handler returned r: the call started (after its CPU charge)
 * at start_ns; cpu_sim_ns is the simulated time its CPU charge took. */
void trace_account(struct supervisor *s, struct task *t, struct sysret r, int64_t start_ns, int64_t cpu_sim_ns);
void trace_syscall(struct supervisor *s, struct task *t, struct sysret r, int64_t start_ns, int64_t cpu_sim_ns);
