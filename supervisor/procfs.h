/* What /proc tells about the targets. */
#pragma once
#include <sys/types.h>

struct proc_status {
    pid_t tgid, ppid;
    pid_t ns_tgid; /* innermost PID namespace's view (last NStgid value) */
    pid_t ns_tid;  /* the same for the thread (last NSpid value) */
};
int procfs_status(pid_t tid, struct proc_status *st);
/* Children of process pid, ascending; returns their number (<= max) or -1. */
int procfs_children(pid_t pid, pid_t *out, int max);
/* Threads of process pid, ascending; returns their number (<= max) or -1. */
int procfs_threads(pid_t pid, pid_t *out, int max);
/* Scheduler state letter of a task and the syscall it sleeps in (-1 when
 * running). */
int procfs_task_state(pid_t pid, pid_t tid, char *state, long *nr);
