/* End of run: the summary on stderr and the JSON statistics. */
#pragma once
#include "supervisor.h"

/* Describes how g ended ("exited 0", "killed by SIGKILL"...). */
void group_outcome(const struct group *g, char *buf, size_t len);
bool group_succeeded(const struct group *g);
void report_summary(const struct supervisor *s, double wall_s);
int report_stats(const struct supervisor *s, const char *path, double wall_s);
