/* The launcher.  Two processes per deployed program:
 *
 *   supervisor ──clone(NEWUSER|NEWNS|NEWUTS|NEWIPC|NEWNET|NEWPID)──> reaper (PID 1)
 *   reaper ──fork──> target (PID 2): no_new_privs, no capabilities, filter, execve
 *
 * The reaper stays as init of the namespace (init ignores unhandled signals
 * and must reap orphans: the target must not be PID 1), reports the
 * target's wait status, and dies with the supervisor (PDEATHSIG), taking
 * the whole namespace with it.
 *
 * The listener reaches us without deadlock: the target sends its pid (as
 * SCM_CREDENTIALS, translated by the kernel into our PID namespace) and the
 * listener's fd number over a socket whose calls are never trapped (fd <
 * EMU_FD_BASE), then blocks in its trapped execve; we take the listener
 * with pidfd_getfd().  The listener is close-on-exec, so it never survives
 * into the program.
 *
 * With the ptrace backend the target sends its pid first and waits for our
 * byte: a SECCOMP_RET_TRACE filter with no tracer yet would fail its calls
 * with ENOSYS, so we attach before it installs the filter. */
#include "launch.h"

#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <net/if.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdnoreturn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "seccomp_compat.h"

extern char **environ;

/* Pre-execve failures in the children: print to the program's stderr file
 * (already installed as fd 2) and exit 127, like a shell. */
__attribute__((format(printf, 1, 2))) static noreturn void die_with_error(const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dprintf(2, "simterpose: %s: %s\n", msg, strerror(saved));
    _exit(127);
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        die_with_error("open %s", path);
    ssize_t len = (ssize_t)strlen(text);
    if (write(fd, text, (size_t)len) != len)
        die_with_error("write %s", path);
    close(fd);
}

struct launch_ctx {
    const struct group *g;
    const char *hosts_file;
    const struct sock_fprog *prog;
    bool ptrace;    /* attach first, then the filter; no listener */
    bool fault_tsc; /* PR_SET_TSC: rdtsc faults, the ptrace backend answers */
    uid_t uid;
    gid_t gid;
    int handover;   /* target -> supervisor: pid + listener number */
    int status_w;   /* reaper -> supervisor: target's wait status */
    int out_fd, err_fd, null_fd;
};

/* Does rdtsc fault once PR_SET_TSC asks?  Some hypervisors ignore CR4.TSD
 * (this project's CI machine does); there the flag only makes every
 * context switch of the task dearer (ptrace calls 30 % slower, measured),
 * so it is not set.  Probed once, in a child. */
static bool rdtsc_can_fault(void)
{
    static int known = -1;
    if (known >= 0)
        return known;
    pid_t pid = fork();
    if (pid == 0) {
        uint32_t lo, hi;
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core); /* the expected fault leaves no core */
        prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0);
        signal(SIGSEGV, SIG_DFL);
        __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
        _exit(0);
    }
    int st = 0;
    known = pid > 0 && waitpid(pid, &st, 0) == pid && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV;
    return known;
}

/* Our pid (as credentials: the kernel translates it into the
 * supervisor's PID namespace) and the listener's number, on fd 3. */
static int send_handover(int listener)
{
    union {
        char buf[CMSG_SPACE(sizeof(struct ucred))];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof u);
    struct iovec iov = {.iov_base = &listener, .iov_len = sizeof listener};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_CREDENTIALS;
    cm->cmsg_len = CMSG_LEN(sizeof(struct ucred));
    struct ucred cred = {.pid = getpid(), .uid = getuid(), .gid = getgid()};
    memcpy(CMSG_DATA(cm), &cred, sizeof cred);
    return sendmsg(3, &msg, 0) < 0 ? -1 : 0;
}

static noreturn void run_target(const struct launch_ctx *c)
{
    /* Own session: a terminal's ^C goes to the supervisor, which then
     * ends the run cleanly, not straight to the programs. */
    setsid();
    if (dup2(c->null_fd, 0) < 0 || dup2(c->out_fd, 1) < 0 || dup2(c->err_fd, 2) < 0)
        _exit(127);
    if (dup2(c->handover, 3) < 0)
        die_with_error("dup2");
    if (syscall(SYS_close_range, 4, ~0u, 0) < 0)
        die_with_error("close_range");
    signal(SIGPIPE, SIG_DFL);
    /* Addresses leak into outputs (mkstemp names, hash seeds, pointer
     * printing): the same layout every run keeps runs identical. */
    int persona = personality(0xffffffff);
    if (persona == -1 || personality((unsigned long)persona | ADDR_NO_RANDOMIZE) == -1)
        die_with_error("personality(ADDR_NO_RANDOMIZE)");
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    /* Emulated fds live at EMU_FD_BASE and above: the soft limit must let
     * them in (select() users still see fds below FD_SETSIZE). */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        die_with_error("PR_SET_NO_NEW_PRIVS");
    capng_clear(CAPNG_SELECT_ALL);
    if (capng_apply(CAPNG_SELECT_ALL) < 0) {
        errno = EPERM;
        die_with_error("dropping capabilities");
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        die_with_error("clearing ambient capabilities");

    int listener = -1;
    /* Under ptrace, rdtsc/rdtscp fault and we answer them with the virtual
     * TSC (ptrace.c).  Not under unotify: with nobody to answer, the fault
     * would kill programs that read the TSC (the Go runtime does). */
    if (c->fault_tsc && prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0) < 0)
        die_with_error("PR_SET_TSC");
    if (c->ptrace) {
        if (send_handover(-1) < 0)
            die_with_error("handing our pid over");
        char attached;
        if (read(3, &attached, 1) != 1) {
            errno = EPERM;
            die_with_error("the supervisor did not attach");
        }
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, c->prog) < 0)
            die_with_error("installing the seccomp filter");
    } else {
        /* Once we hold a notification, only a fatal signal may interrupt
         * it: the supervisor, not the timing of native signals, decides
         * when a blocked call ends (runs stay deterministic).  Older
         * kernels: without. */
        listener = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                                SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, c->prog);
        if (listener < 0 && errno == EINVAL)
            listener = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, c->prog);
        if (listener < 0)
            die_with_error("installing the seccomp filter");
        /* From here on, only untrapped calls until execve. */
        if (send_handover(listener) < 0)
            die_with_error("handing the listener over");
    }
    close(3);

    execve(c->g->exe, c->g->spec->argv, environ);
    die_with_error("cannot execute %s", c->g->exe);
}

/* The reaper is forked from a supervisor holding other groups' listeners
 * and pidfds: keep only what this launch needs. */
static void close_all_except(const int *keep, size_t n)
{
    unsigned from = 0;
    for (;;) {
        unsigned next = ~0u;
        for (size_t i = 0; i < n; i++)
            if (keep[i] >= 0 && (unsigned)keep[i] >= from && (unsigned)keep[i] < next)
                next = (unsigned)keep[i];
        if (next > from)
            syscall(SYS_close_range, from, next == ~0u ? ~0u : next - 1, 0);
        if (next == ~0u)
            return;
        from = next + 1;
    }
}

static noreturn void run_reaper(const struct launch_ctx *c)
{
    const int keep[] = {0, 1, 2, c->handover, c->status_w, c->out_fd, c->err_fd, c->null_fd};
    close_all_except(keep, sizeof keep / sizeof keep[0]);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        _exit(127);
    /* The supervisor may have died before PDEATHSIG was armed: its end of
     * the handover socket would then be closed. */
    struct pollfd pfd = {.fd = c->handover, .events = 0};
    if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR)))
        _exit(127);
    if (dup2(c->err_fd, 2) < 0)
        _exit(127);
    prctl(PR_SET_NAME, "simterpose-init");

    char map[64];
    write_file("/proc/self/setgroups", "deny");
    snprintf(map, sizeof map, "%u %u 1\n", (unsigned)c->uid, (unsigned)c->uid);
    write_file("/proc/self/uid_map", map);
    snprintf(map, sizeof map, "%u %u 1\n", (unsigned)c->gid, (unsigned)c->gid);
    write_file("/proc/self/gid_map", map);

    const char *name = c->g->host->name;
    if (sethostname(name, strlen(name)) < 0)
        die_with_error("sethostname %s", name);
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        die_with_error("making mounts private");
    if (mount(c->hosts_file, "/etc/hosts", NULL, MS_BIND, NULL) < 0)
        die_with_error("bind-mounting %s on /etc/hosts", c->hosts_file);
    /* Loopback only, but up, as on any host. */
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = {0};
    strcpy(ifr.ifr_name, "lo");
    if (sock < 0 || ioctl(sock, SIOCGIFFLAGS, &ifr) < 0 || (ifr.ifr_flags |= IFF_UP, ioctl(sock, SIOCSIFFLAGS, &ifr) < 0))
        die_with_error("bringing up the loopback interface");
    close(sock);
    /* A /proc of the new PID namespace, so /proc/self and getpid() agree.
     * Refused where /proc is partly masked (some containers): keep the old. */
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);

    pid_t target = fork();
    if (target < 0)
        die_with_error("fork");
    if (target == 0)
        run_target(c);

    close(c->handover);
    close(c->out_fd);
    close(c->null_fd);
    for (;;) {
        int st;
        pid_t p = waitpid(-1, &st, 0);
        if (p < 0) {
            if (errno == EINTR)
                continue;
            _exit(0);
        }
        if (p == target && write(c->status_w, &st, sizeof st) != sizeof st)
            _exit(127);
    }
}

static int recv_handover(int sock, pid_t *pid, int *listener)
{
    union {
        char buf[CMSG_SPACE(sizeof(struct ucred))];
        struct cmsghdr align;
    } u;
    struct iovec iov = {.iov_base = listener, .iov_len = sizeof *listener};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    ssize_t n;
    do
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n != sizeof *listener)
        return -1;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS) {
            struct ucred cred;
            memcpy(&cred, CMSG_DATA(cm), sizeof cred);
            *pid = cred.pid;
            return 0;
        }
    }
    return -1;
}

/* Last line the children wrote to the stderr file: why the launch failed. */
static void launch_failure_reason(const struct group *g, char *buf, size_t len)
{
    snprintf(buf, len, "no details");
    FILE *f = fopen(g->stderr_path, "re");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (*line)
            snprintf(buf, len, "%s", line);
    }
    fclose(f);
}

pid_t launch_group(struct supervisor *s, struct group *g, const struct sock_fprog *prog, char *err, size_t errlen)
{
    int sv[2] = {-1, -1}, st[2] = {-1, -1}, init_pidfd = -1;
    struct launch_ctx c = {.g = g, .hosts_file = s->hosts_file, .prog = prog, .uid = getuid(), .gid = getgid(),
                           .out_fd = -1, .err_fd = -1, .null_fd = -1};
    c.ptrace = s->backend == &ptrace_backend;
    c.fault_tsc = c.ptrace && rdtsc_can_fault();
    pid_t target = -1;

    c.out_fd = open(g->stdout_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    c.err_fd = open(g->stderr_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    c.null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (c.out_fd < 0 || c.err_fd < 0 || c.null_fd < 0) {
        snprintf(err, errlen, "cannot create output files for %s: %s", g->name, strerror(errno));
        goto fail;
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 || pipe2(st, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "socketpair/pipe: %s", strerror(errno));
        goto fail;
    }
    int one = 1;
    setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
    c.handover = sv[1];
    c.status_w = st[1];

    struct clone_args ca = {
        .flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID | CLONE_PIDFD,
        .pidfd = (uint64_t)(uintptr_t)&init_pidfd,
        .exit_signal = SIGCHLD,
    };
    pid_t init = (pid_t)syscall(SYS_clone3, &ca, sizeof ca);
    if (init < 0) {
        snprintf(err, errlen, "cannot create namespaces for %s: %s (are unprivileged user namespaces enabled?)",
                 g->name, strerror(errno));
        goto fail;
    }
    if (init == 0)
        run_reaper(&c);

    close(sv[1]);
    sv[1] = -1;
    close(st[1]);
    st[1] = -1;
    g->init_pid = init;
    g->init_pidfd = init_pidfd;
    g->status_fd = st[0];
    st[0] = -1;

    int listener_nr;
    if (recv_handover(sv[0], &target, &listener_nr) < 0) {
        char why[400];
        launch_failure_reason(g, why, sizeof why);
        snprintf(err, errlen, "cannot start %s on %s: %s", g->spec->function, g->host->name, why);
        target = -1;
        goto fail;
    }
    if (s->backend->attach(s, g, target, listener_nr, err, errlen) < 0)
        goto fail;
    if (c.ptrace && write(sv[0], "", 1) != 1) {
        snprintf(err, errlen, "cannot start %s: %s", g->name, strerror(errno));
        goto fail;
    }
    close(sv[0]);
    close(c.out_fd);
    close(c.err_fd);
    close(c.null_fd);
    return target;

fail:
    if (init_pidfd >= 0) {
        syscall(SYS_pidfd_send_signal, init_pidfd, SIGKILL, NULL, 0);
        group_wait_reaper(s, g);
        close(init_pidfd);
        g->init_pidfd = -1;
        g->init_pid = 0;
    }
    int fds[] = {sv[0], sv[1], st[0], st[1], c.out_fd, c.err_fd, c.null_fd, g->status_fd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    g->status_fd = -1;
    return -1;
}
