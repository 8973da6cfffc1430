#pragma once
#include "supervisor.h"

void dispatch_init(struct supervisor *s);
/* Run the handler of t's pending syscall.  A handler that must act after
 * its reply (vfork) replies itself; the caller replies when t->has_req. */
struct sysret dispatch(struct supervisor *s, struct task *t);
/* Reply now, from inside a handler. */
void reply_now(struct supervisor *s, struct task *t, struct sysret r);
