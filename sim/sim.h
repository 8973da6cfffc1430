/* The one door to SimGrid: the rest of Simterpose asks for "now", "sleep
 * until", "start an actor on host H", "wait for a wake-up"; only sim.c
 * includes SimGrid headers. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct s4u_Host *sim_host;     /* opaque SimGrid host */
typedef struct s4u_Actor *sim_actor;   /* opaque SimGrid actor */
struct sim_waitq;

void sim_init(int *argc, char **argv);
/* Load a platform SimGrid already validated (see platform.c). */
void sim_load_platform(const char *path);
void sim_run(void);

/* Simulated clock in integer nanoseconds: sums of sleeps stay exact. */
int64_t sim_now_ns(void);
void sim_sleep_until_ns(int64_t when);
void sim_yield(void);

size_t sim_host_count(void);
/* Hosts in platform declaration order; free() the array. */
sim_host *sim_host_list(void);
sim_host sim_host_by_name(const char *name);
const char *sim_host_name(sim_host h);
const char *sim_host_prop(sim_host h, const char *key);

/* Start fn(data) as an actor on host h. */
sim_actor sim_spawn(const char *name, sim_host h, void (*fn)(void *), void *data);
void sim_kill(sim_actor a);
/* Daemons are killed when the last ordinary actor ends. */
void sim_daemonize(sim_actor a);
sim_actor sim_self(void);

/* A queue that actors wait on until another actor wakes them.  A wake-up
 * with nobody waiting is kept for the next wait (one-shot). */
struct sim_waitq *sim_waitq_new(void);
void sim_waitq_free(struct sim_waitq *q);
/* Wait until woken or until simulated time deadline (ns, -1 = none).
 * Returns 1 when woken, 0 on timeout. */
int sim_waitq_wait_until(struct sim_waitq *q, int64_t deadline);
void sim_waitq_wake(struct sim_waitq *q);
