#include "filter.h"
#include <sys/syscall.h>

const struct trap_entry trap_table[] = {
#define SYSCALL(name, cls, handler) {__NR_##name, #name, cls},
#include "syscall_table.h"
#undef SYSCALL
};
const size_t trap_table_len = sizeof trap_table / sizeof trap_table[0];

const char *trap_class_name(enum trap_class cls)
{
    static const char *const names[TRAP_CLASS_COUNT] = {
        [TRAP_TIME] = "time", [TRAP_PROC] = "proc", [TRAP_NET] = "net", [TRAP_DESC] = "desc", [TRAP_FD] = "fd",
        [TRAP_RAND] = "rand",
    };
    return (unsigned)cls < TRAP_CLASS_COUNT ? names[cls] : "?";
}

int trap_lookup(int nr)
{
    /* Small table, called off the hot path (stats, tests): linear is fine. */
    for (size_t i = 0; i < trap_table_len; i++)
        if (trap_table[i].nr == nr)
            return (int)i;
    return -1;
}
