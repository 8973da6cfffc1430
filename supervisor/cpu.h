/* The CPU model (--cpu-model=measured): computation between trapped
 * syscalls is charged to the task's virtual host. */
#pragma once
#include <stdint.h>
#include "supervisor.h"

/* Calibrates the reference speed unless given; prints the model in use. */
void cpu_init(struct supervisor *s);
/* Start measuring a new task (no simcall: safe in the event loop). */
void cpu_task_start(struct supervisor *s, struct task *t);
void cpu_task_end(struct task *t);
/* Charge the CPU time t used since its last syscall: blocks t's actor for
 * the simulated duration.  Returns the measured ns charged (0: none). */
int64_t cpu_charge(struct supervisor *s, struct task *t);
