/* Emulated epoll instances.  Every epoll_create is emulated: a real epoll
 * could never see an emulated socket. */
#pragma once
#include "file.h"

struct epoll *epoll_new(void);
void epoll_release(struct epoll *ep);
unsigned epoll_poll(struct epoll *ep);
