/* The kernel floor of an emulated call: a minimal supervisor that only
 * answers.  A child installs a filter that sends clock_gettime to a
 * listener and makes the call N times; the parent takes the listener with
 * pidfd_getfd and answers each notification with 0 (no memory access, no
 * SimGrid, nothing).  bench/run.py times whole runs from outside.
 *
 * Usage: unotify_floor N [spin]    spin: poll the listener instead of
 *                                  blocking in the receive ioctl */
#include <errno.h>
#include <linux/filter.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../supervisor/seccomp_compat.h"

static int child(long n, int report_fd)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clock_gettime, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return 1;
    int listener = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    if (listener < 0 || write(report_fd, &listener, sizeof listener) != sizeof listener)
        return 1;
    close(report_fd);
    char go;
    if (read(0, &go, 1) < 0) /* wait until the parent holds the listener */
        return 1;
    struct timespec ts;
    for (long i = 0; i < n; i++)
        syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: unotify_floor N [spin]\n");
        return 2;
    }
    long n = atol(argv[1]);
    bool spin = argc == 3 && !strcmp(argv[2], "spin");
    int rep[2], go[2];
    if (pipe(rep) < 0 || pipe(go) < 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(go[0], 0);
        close(rep[0]);
        _exit(child(n, rep[1]));
    }
    close(rep[1]);
    close(go[0]);
    int child_fd;
    if (read(rep[0], &child_fd, sizeof child_fd) != sizeof child_fd)
        return 1;
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    int listener = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, child_fd, 0);
    if (listener < 0) {
        fprintf(stderr, "unotify_floor: cannot get the listener: %s\n", strerror(errno));
        kill(pid, SIGKILL);
        return 1;
    }
    if (!spin)
        ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, 0);
    if (write(go[1], "g", 1) != 1)
        return 1;
    for (long i = 0; i < n; i++) {
        if (spin) {
            struct pollfd p = {.fd = listener, .events = POLLIN};
            while (poll(&p, 1, 0) == 0)
                ;
        }
        struct seccomp_notif req;
        memset(&req, 0, sizeof req);
        if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) {
            fprintf(stderr, "unotify_floor: receive: %s\n", strerror(errno));
            break;
        }
        struct seccomp_notif_resp resp = {.id = req.id, .val = 0};
        if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0) {
            fprintf(stderr, "unotify_floor: send: %s\n", strerror(errno));
            break;
        }
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
