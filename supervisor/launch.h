/* Starting a deployed program in its own namespaces, under the filter. */
#pragma once
#include <linux/filter.h>
#include "supervisor.h"

/* Launch g->exe in fresh user/mount/UTS/IPC/network/PID namespaces on
 * g->host, with the seccomp filter prog, and take its listener.  Fills
 * g->init_pid, init_pidfd, status_fd, listener and returns the main
 * program's pid (in our namespace), or -1 with err set. */
pid_t launch_group(struct supervisor *s, struct group *g, const struct sock_fprog *prog,
                   char *err, size_t errlen);
