/* What an epoll event points at: a group's listener, a task's pidfd, or
 * (Linux < 6.9, see task_new) a process's pidfd. */
#pragma once
#include <stddef.h>

enum evtag_kind { EVTAG_LISTENER, EVTAG_PIDFD, EVTAG_PROC_PIDFD };
struct evtag {
    enum evtag_kind kind;
};

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
