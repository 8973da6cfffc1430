/* Handler prototypes, from the table. */
#pragma once
#include "../supervisor.h"

#define SYSCALL(name, cls, handler) struct sysret handler(struct supervisor *s, struct task *t);
#include "../../filters/syscall_table.h"
#undef SYSCALL
