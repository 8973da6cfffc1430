/* thread_wake: a thread wakes its creator, which blocked before the thread
 * ran its first instruction.
 *
 * Usage: thread_wake [virtual]
 *
 * The main thread creates a thread and at once waits on a condition
 * variable with a 5 s timeout (pthread_cond_timedwait, CLOCK_MONOTONIC);
 * the thread computes a few ms, then sleeps 1 s and signals.  The wait must end by the signal, not
 * the timeout: after exactly 1 s of virtual time under Simterpose, at least
 * 1 s natively.  Then a second round where nobody signals: the timed wait
 * must time out after exactly (virtual) or at least (native) 0.5 s.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "selfcheck.h"

#define NSEC INT64_C(1000000000)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond;
static bool signalled;

static int64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * NSEC + ts.tv_nsec;
}

static void *sleeper(void *arg)
{
    (void)arg;
    /* Compute a little first (no syscall), so that the creator certainly
     * blocks in its timed wait before this thread makes its first call. */
    volatile uint64_t x = 1;
    for (long i = 0; i < 20000000; i++)
        x = x * 6364136223846793005ULL + 1;
    struct timespec one = {1, 0};
    nanosleep(&one, NULL);
    pthread_mutex_lock(&lock);
    signalled = true;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
    return NULL;
}

/* Wait for `signalled` until now + timeout; returns the time waited. */
static int64_t timed_wait(int64_t timeout, int *rc)
{
    int64_t start = mono(), deadline = start + timeout;
    struct timespec abs = {deadline / NSEC, deadline % NSEC};
    pthread_mutex_lock(&lock);
    *rc = 0;
    while (!signalled && *rc == 0)
        *rc = pthread_cond_timedwait(&cond, &lock, &abs);
    pthread_mutex_unlock(&lock);
    return mono() - start;
}

int main(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && strcmp(argv[1], "virtual")))
        fail("usage: thread_wake [virtual]");
    bool virt = argc == 2;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&cond, &ca);

    pthread_t th;
    int err = pthread_create(&th, NULL, sleeper, NULL);
    if (err)
        fail("pthread_create: %s", strerror(err));
    int rc;
    int64_t waited = timed_wait(5 * NSEC, &rc);
    if (rc != 0)
        fail("the timed wait ended with %s, not by the thread's signal", strerror(rc));
    if (virt ? waited != NSEC : waited < NSEC)
        fail("woken after %" PRId64 " ns, the thread slept 1 s", waited);
    printf("ok: woken by the new thread after %.3f s\n", (double)waited / NSEC);
    if ((err = pthread_join(th, NULL)))
        fail("pthread_join: %s", strerror(err));

    signalled = false;
    waited = timed_wait(NSEC / 2, &rc);
    if (rc != ETIMEDOUT)
        fail("a wait nobody signals ended with %s, not ETIMEDOUT", strerror(rc));
    if (virt ? waited != NSEC / 2 : waited < NSEC / 2)
        fail("timed out after %" PRId64 " ns, not 0.5 s", waited);
    printf("ok: timed out after %.3f s\n", (double)waited / NSEC);
    printf("thread_wake: all checks passed\n");
    return 0;
}
