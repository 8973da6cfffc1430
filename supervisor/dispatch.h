#pragma once
#include "supervisor.h"

void dispatch_init(struct supervisor *s);
/* The table entry of syscall nr, NULL if we do not trap it (O(1): for
 * every trapped call). */
struct trap_entry;
const struct trap_entry *dispatch_entry(int nr);
/* Run the handler of t's pending syscall.  A handler that must act after
 * its reply (vfork) replies itself; the caller replies when t->has_req. */
struct sysret dispatch(struct supervisor *s, struct task *t);
/* Reply to t's pending syscall (after bringing its clock page up to
 * date); handlers that must act after their reply call it themselves. */
void reply_now(struct supervisor *s, struct task *t, struct sysret r);
