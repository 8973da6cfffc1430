#include "sim.h"

#include <math.h>
#include <simgrid/actor.h>
#include <simgrid/engine.h>
#include <simgrid/host.h>
#include <simgrid/semaphore.h>
#include <xbt/config.h>
#include <xbt/log.h>
#include <signal.h>
#include <simgrid/comm.h>
#include <simgrid/link.h>
#include <simgrid/mailbox.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <xbt/dynar.h>

/* A one-shot wake-up: a binary semaphore.  (Not a condition variable:
 * SimGrid 3.32's sg_cond_wait_for mishandles the mutex it is given.)  A
 * wake-up with nobody waiting is kept for the next wait. */
struct sim_waitq {
    sg_sem_t sem;
};

void sim_init(int *argc, char **argv)
{
#if defined(__SANITIZE_ADDRESS__)
    /* ASan cannot follow the raw contexts' stack switches: one thread per
     * actor (still one running at a time) keeps its reports true.  The
     * factory is chosen inside simgrid_init: it must be in argv. */
    char **with = calloc((size_t)*argc + 3, sizeof *with);
    if (!with)
        abort();
    with[0] = argv[0];
    with[1] = "--cfg=contexts/factory:thread";
    with[2] = "--log=xbt_cfg.thres:warning";
    for (int i = 1; i < *argc; i++)
        with[i + 2] = argv[i];
    int n = *argc + 2;
    simgrid_init(&n, with);
    free(with);
#else
    simgrid_init(argc, argv);
#endif
}
void sim_load_platform(const char *path) { simgrid_load_platform(path); }
void sim_run(void) { simgrid_run(); }

int64_t sim_now_ns(void) { return llround(simgrid_get_clock() * 1e9); }

void sim_sleep_until_ns(int64_t when)
{
    if (when > sim_now_ns())
        sg_actor_sleep_until((double)when / 1e9);
}

void sim_yield(void) { sg_actor_yield(); }

size_t sim_host_count(void) { return sg_host_count(); }
sim_host *sim_host_list(void) { return (sim_host *)sg_host_list(); }
sim_host sim_host_by_name(const char *name) { return (sim_host)sg_host_by_name(name); }
const char *sim_host_name(sim_host h) { return sg_host_get_name((sg_host_t)h); }
const char *sim_host_prop(sim_host h, const char *key) { return sg_host_get_property_value((sg_host_t)h, key); }

struct trampoline {
    void (*fn)(void *);
    void *data;
};

static void actor_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    struct trampoline *t = sg_actor_self_get_data();
    void (*fn)(void *) = t->fn;
    void *data = t->data;
    free(t);
    sg_actor_self_set_data(data);
    fn(data);
}

sim_actor sim_spawn(const char *name, sim_host h, void (*fn)(void *), void *data)
{
    struct trampoline *t = malloc(sizeof *t);
    if (!t)
        abort();
    *t = (struct trampoline){fn, data};
    sg_actor_t a = sg_actor_init(name, (sg_host_t)h);
    sg_actor_set_data(a, t);
    sg_actor_start(a, actor_main, 0, NULL);
    return (sim_actor)a;
}

void sim_kill(sim_actor a) { sg_actor_kill((sg_actor_t)a); }
void sim_daemonize(sim_actor a) { sg_actor_daemonize((sg_actor_t)a); }
sim_actor sim_self(void) { return (sim_actor)sg_actor_self(); }

struct sim_waitq *sim_waitq_new(void)
{
    struct sim_waitq *q = malloc(sizeof *q);
    if (!q)
        abort();
    q->sem = sg_sem_init(0);
    return q;
}

void sim_waitq_free(struct sim_waitq *q)
{
    if (!q)
        return;
    sg_sem_destroy(q->sem);
    free(q);
}

int sim_waitq_wait_until(struct sim_waitq *q, int64_t deadline)
{
    if (deadline < 0) {
        sg_sem_acquire(q->sem);
        return 1;
    }
    double delay = (double)deadline / 1e9 - simgrid_get_clock();
    if (delay <= 0) {
        if (sg_sem_would_block(q->sem))
            return 0;
        sg_sem_acquire(q->sem);
        return 1;
    }
    return sg_sem_acquire_timeout(q->sem, delay) == 0;
}

void sim_waitq_wake(struct sim_waitq *q)
{
    if (sg_sem_would_block(q->sem))
        sg_sem_release(q->sem);
}

void sim_sleep_for_ns(int64_t ns) { sim_sleep_until_ns(sim_now_ns() + ns); }

void sim_execute(double flops)
{
    if (flops > 0)
        sg_actor_execute(flops);
}


/* Route cache: SimGrid 3.32 crashes (segfault or xbt_die) on a missing
 * route, so each pair is first looked up, once, in a helper process forked
 * from us (it has the whole platform, at the same addresses).  One helper
 * answers every query over a pipe; one that crashed on a missing route is
 * replaced at the next query.  (A fork per query cost O(actors) each: 1000
 * hosts made it the bulk of the run.) */
static pid_t route_helper = -1;
static int route_query_fd = -1, route_answer_fd = -1;

static void route_helper_stop(void)
{
    if (route_helper <= 0)
        return;
    close(route_query_fd);
    close(route_answer_fd);
    kill(route_helper, SIGKILL);
    while (waitpid(route_helper, NULL, 0) < 0 && errno == EINTR)
        ;
    route_helper = -1;
}

static bool route_helper_start(void)
{
    int q[2], a[2];
    if (pipe2(q, O_CLOEXEC) < 0)
        return false;
    if (pipe2(a, O_CLOEXEC) < 0) {
        close(q[0]);
        close(q[1]);
        return false;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* Only the two pipes: no copy of a listener, pidfd or socket of
         * the supervisor's may outlive its closing there. */
        if (dup2(q[0], 0) < 0 || dup2(a[1], 1) < 0)
            _exit(1);
        syscall(SYS_close_range, 3, ~0U, 0);
        q[0] = 0;
        a[1] = 1;
        sim_host pair[2];
        while (read(q[0], pair, sizeof pair) == (ssize_t)sizeof pair) {
            xbt_dynar_t links = xbt_dynar_new(sizeof(sg_link_t), NULL);
            sg_host_get_route((sg_host_t)pair[0], (sg_host_t)pair[1], links); /* may not return */
            /* An empty route of zero latency is no route either: CM02
             * aborts on the first comm over it. */
            char ok = !xbt_dynar_is_empty(links) ||
                      sg_host_get_route_latency((sg_host_t)pair[0], (sg_host_t)pair[1]) > 0;
            xbt_dynar_free(&links);
            if (write(a[1], &ok, 1) != 1)
                break;
        }
        _exit(0);
    }
    close(q[0]);
    close(a[1]);
    if (pid < 0) {
        close(q[1]);
        close(a[0]);
        return false;
    }
    route_helper = pid;
    route_query_fd = q[1];
    route_answer_fd = a[0];
    return true;
}

/* true: SimGrid has a route from a to b; false: it would have crashed. */
static bool route_lookup(sim_host a, sim_host b)
{
    if (route_helper <= 0 && !route_helper_start())
        return false;
    sim_host pair[2] = {a, b};
    char ok = 0;
    if (write(route_query_fd, pair, sizeof pair) == (ssize_t)sizeof pair &&
        read(route_answer_fd, &ok, 1) == 1)
        return ok != 0;
    route_helper_stop(); /* it died on this pair */
    return false;
}

void sim_route_cleanup(void) { route_helper_stop(); }

struct route_entry {
    sim_host a, b;
    bool ok;
    struct route_entry *next;
};
static struct route_entry *routes[1021];

bool sim_route_ok(sim_host a, sim_host b)
{
    size_t h = ((uintptr_t)a * 31 + (uintptr_t)b) % 1021;
    for (struct route_entry *e = routes[h]; e; e = e->next)
        if (e->a == a && e->b == b)
            return e->ok;
    struct route_entry *e = malloc(sizeof *e);
    if (!e)
        abort();
    *e = (struct route_entry){a, b, route_lookup(a, b), routes[h]};
    routes[h] = e;
    return e->ok;
}

double sim_route_latency(sim_host a, sim_host b) { return sg_host_get_route_latency((sg_host_t)a, (sg_host_t)b); }
double sim_route_bandwidth(sim_host a, sim_host b) { return sg_host_get_route_bandwidth((sg_host_t)a, (sg_host_t)b); }

struct sim_channel {
    char name[32];
    sg_mailbox_t mbox;
};

struct sim_channel *sim_channel_new(void)
{
    static unsigned long next_id;
    struct sim_channel *c = malloc(sizeof *c);
    if (!c)
        abort();
    snprintf(c->name, sizeof c->name, "chan-%lu", next_id++);
    c->mbox = sg_mailbox_by_name(c->name);
    return c;
}

void sim_channel_bind_receiver(struct sim_channel *c) { sg_mailbox_set_receiver(c->name); }

void sim_channel_send(struct sim_channel *c, void *payload, uint64_t bytes)
{
    /* Detached: the transfer runs on its own; order is kept by the
     * mailbox (a permanent receiver takes comms in send order). */
    sg_comm_t comm = sg_mailbox_put_init(c->mbox, payload, (long)bytes);
    sg_comm_detach(comm, NULL);
}

void sim_channel_send_sync(struct sim_channel *c, void *payload, uint64_t bytes)
{
    sg_mailbox_put(c->mbox, payload, (long)bytes);
}

void *sim_channel_recv(struct sim_channel *c) { return sg_mailbox_get(c->mbox); }

void sim_channel_free(struct sim_channel *c) { free(c); }
