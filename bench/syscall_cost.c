/* Calls one syscall N times; the harness (bench/run.py) times whole runs
 * from outside, natively and under Simterpose (inside, clocks are virtual).
 * Usage: syscall_cost clock|vdso|getppid|pread|sendrecv|none N
 *   clock     clock_gettime through the real syscall (trapped, emulated)
 *   vdso      clock_gettime through the vDSO (clock page)
 *   getppid   an untrapped call (the BPF filter only)
 *   pread     pread of 1 byte of a regular file (untrapped)
 *   sendrecv  send 1 KiB on a loopback TCP connection and receive it (a
 *             pair of calls; emulated under Simterpose) */
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int die(const char *what)
{
    perror(what);
    exit(1);
}

/* A connected loopback pair: *tx -> *rx. */
static void tcp_pair(int *tx, int *rx)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) ||
        getsockname(l, (struct sockaddr *)&a, &len))
        die("listen");
    *tx = socket(AF_INET, SOCK_STREAM, 0);
    if (*tx < 0 || connect(*tx, (struct sockaddr *)&a, sizeof a))
        die("connect");
    if ((*rx = accept(l, NULL, NULL)) < 0)
        die("accept");
    close(l);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: syscall_cost clock|vdso|getppid|pread|sendrecv|none N\n");
        return 2;
    }
    long n = atol(argv[2]);
    struct timespec ts;
    volatile long sink = 0;
    if (!strcmp(argv[1], "clock"))
        for (long i = 0; i < n; i++)
            sink += syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
    else if (!strcmp(argv[1], "vdso"))
        for (long i = 0; i < n; i++)
            sink += clock_gettime(CLOCK_MONOTONIC, &ts);
    else if (!strcmp(argv[1], "getppid"))
        for (long i = 0; i < n; i++)
            sink += syscall(SYS_getppid);
    else if (!strcmp(argv[1], "pread")) {
        int fd = open(argv[0], O_RDONLY); /* ourselves: a regular file */
        char c;
        if (fd < 0)
            die("open");
        for (long i = 0; i < n; i++)
            sink += pread(fd, &c, 1, 0);
    } else if (!strcmp(argv[1], "sendrecv")) {
        int tx, rx;
        char buf[1024] = {1}, back[1024];
        tcp_pair(&tx, &rx);
        for (long i = 0; i < n; i++) {
            if (send(tx, buf, sizeof buf, 0) != sizeof buf || recv(rx, back, sizeof back, MSG_WAITALL) != sizeof back)
                die("send/recv");
        }
    } else if (strcmp(argv[1], "none"))
        return 2;
    return sink == -1;
}
