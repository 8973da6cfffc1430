/* Platform file: validation before anything runs, host order and IPs,
 * the generated /etc/hosts. */
#pragma once
#include <stddef.h>
#include "supervisor.h"

/* Load the platform in a throw-away child with SimGrid itself, so that a
 * file SimGrid rejects (it aborts) becomes a one-line error here.
 * sg_argv are the --cfg/--log options, checked the same way. */
int platform_check(const char *path, int sg_argc, char **sg_argv, char *err, size_t errlen);

/* Host ids in declaration order (clusters expanded), read with expat.
 * Returns the number of names (caller frees each and the array) or -1. */
int platform_host_order(const char *path, char ***names, char *err, size_t errlen);

/* Fill s->hosts (declaration order) and their IPs: the host's "ip"
 * property, else the next free address from 10.0.0.1. */
int platform_setup_hosts(struct supervisor *s, const char *path, char *err, size_t errlen);

/* Write an /etc/hosts listing every virtual host. */
int platform_write_hosts_file(const struct supervisor *s, const char *path, char *err, size_t errlen);
