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

/* Network.  A channel carries payloads to one receiving actor on one host,
 * in the order they were sent, each arriving when SimGrid says a transfer
 * of its size on the route would (transfers overlap: pipelining). */
struct sim_channel;
/* Is there a route from a to b?  (SimGrid crashes on a missing one.) */
bool sim_route_ok(sim_host a, sim_host b);
/* Stop the route helper process (at the end of the run). */
void sim_route_cleanup(void);
double sim_route_latency(sim_host a, sim_host b);
double sim_route_bandwidth(sim_host a, sim_host b); /* bytes/s */
struct sim_channel *sim_channel_new(void);
/* In the receiving actor, before the first send: transfers start at once. */
void sim_channel_bind_receiver(struct sim_channel *c);
/* From an actor on the sending host; payload is handed over to the receiver. */
void sim_channel_send(struct sim_channel *c, void *payload, uint64_t bytes);
/* The same, returning when the transfer is over. */
void sim_channel_send_sync(struct sim_channel *c, void *payload, uint64_t bytes);
void *sim_channel_recv(struct sim_channel *c);
void sim_channel_free(struct sim_channel *c);
void sim_sleep_for_ns(int64_t ns);
/* Compute `flops` on the calling actor's host (its speed, pstate and cores
 * shared with the other executions there). */
void sim_execute(double flops);

/* A queue that actors wait on until another actor wakes them.  A wake-up
 * with nobody waiting is kept for the next wait (one-shot). */
struct sim_waitq *sim_waitq_new(void);
void sim_waitq_free(struct sim_waitq *q);
/* Wait until woken or until simulated time deadline (ns, -1 = none).
 * Returns 1 when woken, 0 on timeout. */
int sim_waitq_wait_until(struct sim_waitq *q, int64_t deadline);
void sim_waitq_wake(struct sim_waitq *q);
