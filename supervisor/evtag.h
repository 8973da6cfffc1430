/* What an epoll event points at: a group's listener or a task's pidfd. */
#pragma once
#include <stddef.h>

enum evtag_kind { EVTAG_LISTENER, EVTAG_PIDFD };
struct evtag {
    enum evtag_kind kind;
};

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
