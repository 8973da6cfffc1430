/* Process life cycle.  fork/clone/execve can only run natively: we let
 * them through and keep our books (adoption, vfork hand-off, vDSO
 * patching); waits are ordered in simulated time so a parent wakes when
 * its child's actor has ended, not when the kernel happens to say so. */
#include <errno.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../dispatch.h"
#include "handlers.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* The vfork child runs while the parent is frozen in the kernel: hand the
 * simulation to the child until it execs or exits. */
static struct sysret vfork_handoff(struct supervisor *s, struct task *t)
{
    struct proc *p = t->proc;
    struct proc *before = p->children;
    reply_now(s, t, SYSRET_CONTINUE);
    /* Find the child: its first trapped call (execve or exit at the
     * latest) gets it adopted, or /proc shows it.  If the parent traps
     * again first, the child is already done with the vfork. */
    while (p->children == before && !t->has_req && !t->dead && !p->g->killed) {
        s->backend->wait(s, t, 10);
        if (p->children == before && !t->has_req) {
            p->fork_pending = true;
            proc_adopt_children(s, p);
        }
    }
    struct proc *child = p->children;
    if (child == before || t->has_req)
        return SYSRET_CONTINUE; /* (already replied) */
    child->vfork_parent = t;
    while (child->vfork_parent == t && !child->dead && !p->g->killed)
        sim_waitq_wait_until(t->wake, -1);
    return SYSRET_CONTINUE;
}

struct sysret sys_fork(struct supervisor *s, struct task *t)
{
    if (t->req.nr == __NR_vfork)
        return vfork_handoff(s, t);
    t->proc->fork_pending = true;
    return SYSRET_CONTINUE;
}

struct sysret sys_clone(struct supervisor *s, struct task *t)
{
    uint64_t flags = t->req.args[0];
    if (flags & CLONE_VFORK)
        return vfork_handoff(s, t);
    /* A thread is adopted at its first trapped call, or at the next one of
     * its creator, whichever comes first: the creator may block in the
     * simulation (on a futex the thread will wake) before the thread
     * traps. */
    if (!(flags & CLONE_THREAD))
        t->proc->fork_pending = true;
    else {
        t->proc->thread_pending = true;
        if ((flags & CLONE_CHILD_CLEARTID) && t->proc->npending_ctid < 16)
            t->proc->pending_ctid[t->proc->npending_ctid++] = t->req.args[3];
    }
    return SYSRET_CONTINUE;
}

/* Its flags live in memory, out of the filter's sight: refuse it, libc
 * falls back to clone. */
struct sysret sys_clone3(struct supervisor *s, struct task *t)
{
    (void)s;
    (void)t;
    return SYSRET_ERRNO(ENOSYS);
}

struct sysret sys_execve(struct supervisor *s, struct task *t)
{
    (void)s;
    struct proc *p = t->proc;
    p->exec_pending = true;
    if (p->vfork_parent) {
        task_wake(p->vfork_parent);
        p->vfork_parent = NULL;
    }
    return SYSRET_CONTINUE;
}

struct sysret sys_arch_prctl(struct supervisor *s, struct task *t)
{
    /* The vDSO was patched by the core before we got here. */
    (void)s;
    (void)t;
    return SYSRET_CONTINUE;
}

struct sysret sys_exit(struct supervisor *s, struct task *t)
{
    if (t->req.nr == __NR_exit && s->no_thread_pidfd)
        t->exit_let_go = true; /* the backend waits for it to be gone */
    if (t->req.nr == __NR_exit_group || t->proc->live_tasks == 1) {
        t->proc->exit_code = (int)(t->req.args[0] & 0xff);
        t->proc->exiting = true;
    }
    return SYSRET_CONTINUE;
}

/* A child we let exit is a zombie a moment later.  Whether a WNOHANG wait
 * sees it must not depend on that moment: wait for the kernel to finish. */
static void settle_exiting_children(struct task *t, pid_t want)
{
    for (struct proc *c = t->proc->children; c; c = c->next_sibling) {
        if (!c->exiting || c->dead || c->pidfd < 0 || (want > 0 && c->pid != want))
            continue;
        struct pollfd pfd = {.fd = c->pidfd, .events = POLLIN};
        while (poll(&pfd, 1, 1000) < 0 && errno == EINTR)
            ;
    }
}

/* A dead child stays ours until its parent reaps it. */
static bool reaped(struct proc *c)
{
    return c->pidfd < 0 || (syscall(SYS_pidfd_send_signal, c->pidfd, 0, NULL, 0) < 0 && errno == ESRCH);
}

/* Block in simulated time until a child matching `want` (-1: any) has
 * died, or none is left: then the native call completes at once. */
static struct sysret wait_for_child(struct task *t, pid_t want)
{
    struct proc *p = t->proc;
    for (;;) {
        int live = 0, dead = 0;
        for (struct proc **cp = &p->children; *cp;) {
            struct proc *c = *cp;
            if (c->dead && reaped(c)) {
                *cp = c->next_sibling; /* gone for good */
                c->parent = NULL;
                if (c->pidfd >= 0)
                    close(c->pidfd);
                c->pidfd = -1;
                continue;
            }
            cp = &c->next_sibling;
            if (want > 0 && c->pid != want)
                continue;
            if (c->dead)
                dead++;
            else
                live++;
        }
        if (dead || !live)
            return SYSRET_CONTINUE;
        if (!task_block(t, -1))
            return SYSRET_ERRNO(EINTR);
    }
}

/* Our pid for a pid the target named in its own namespace. */
static pid_t outer_pid(struct task *t, pid_t inner)
{
    for (struct proc *c = t->proc->children; c; c = c->next_sibling)
        if (c->ns_pid == inner)
            return c->pid;
    return 0; /* not one of ours: let the kernel answer */
}

struct sysret sys_wait4(struct supervisor *s, struct task *t)
{
    (void)s;
    pid_t pid = (pid_t)t->req.args[0];
    int options = (int)t->req.args[2];
    /* pid 0 and < -1 name process groups: we wait for any child. */
    pid_t want = pid > 0 ? outer_pid(t, pid) : -1;
    if (pid > 0 && !want)
        return SYSRET_CONTINUE;
    if (options & WNOHANG) {
        settle_exiting_children(t, want);
        return SYSRET_CONTINUE;
    }
    return wait_for_child(t, want);
}

struct sysret sys_waitid(struct supervisor *s, struct task *t)
{
    (void)s;
    int idtype = (int)t->req.args[0];
    pid_t id = (pid_t)t->req.args[1];
    int options = (int)t->req.args[3];
    pid_t want = -1;
    if (idtype == P_PID) {
        want = outer_pid(t, id);
        if (!want)
            return SYSRET_CONTINUE;
    }
    if (!(options & WEXITED))
        return SYSRET_CONTINUE;
    if (options & WNOHANG) {
        settle_exiting_children(t, want);
        return SYSRET_CONTINUE;
    }
    return wait_for_child(t, want);
}

/* Only a stop (see the table): the kernel registers the list. */
struct sysret sys_set_robust_list(struct supervisor *s, struct task *t)
{
    (void)s;
    (void)t;
    return SYSRET_CONTINUE;
}
