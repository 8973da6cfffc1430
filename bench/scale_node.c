/* scale_node: the small TCP exchanges of the scale and time-warp benchmarks.
 *
 * Usage: scale_node server PORT N     accept N connections (epoll), echo
 *                                     every 1 KiB request back until each
 *                                     client closes, exit
 *        scale_node client HOST PORT [ROUNDS]
 *                                     send 1 KiB, read the 1 KiB answer;
 *                                     ROUNDS times (default 1), one second
 *                                     apart (a client polling its server)
 *
 * Exits 0 when every exchange completed with the expected bytes.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#define MSG 1024

static int die(const char *what)
{
    fprintf(stderr, "scale_node: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Returns 0 at EOF before the first byte (the peer is done), else 1. */
static int full_io(int fd, char *buf, int writing)
{
    for (size_t done = 0; done < MSG;) {
        ssize_t n = writing ? write(fd, buf + done, MSG - done) : read(fd, buf + done, MSG - done);
        if (n == 0 && !writing && done == 0)
            return 0;
        if (n <= 0)
            die(writing ? "write" : "read (or early EOF)");
        done += (size_t)n;
    }
    return 1;
}

static int server(int port, int n)
{
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 4096))
        die("listen");
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = l};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev))
        die("epoll");
    char buf[MSG];
    for (int served = 0; served < n;) {
        struct epoll_event evs[64];
        int k = epoll_wait(ep, evs, 64, -1);
        if (k < 0)
            die("epoll_wait");
        for (int i = 0; i < k; i++) {
            if (evs[i].data.fd == l) {
                int c = accept(l, NULL, NULL);
                if (c < 0)
                    die("accept");
                struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
            } else {
                int c = evs[i].data.fd;
                if (full_io(c, buf, 0)) {
                    full_io(c, buf, 1);
                    continue;
                }
                epoll_ctl(ep, EPOLL_CTL_DEL, c, NULL);
                close(c);
                served++;
            }
        }
    }
    printf("served %d\n", n);
    return 0;
}

static int client(const char *host, const char *port, int rounds)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(host, port, &hints, &ai))
        die("getaddrinfo");
    int fd = -1;
    for (int tries = 0; tries < 100; tries++) { /* the server may start later */
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
        usleep(10000);
    }
    freeaddrinfo(ai);
    if (fd < 0)
        die("connect");
    char buf[MSG], back[MSG];
    for (int i = 0; i < MSG; i++)
        buf[i] = (char)(i * 7);
    for (int r = 0; r < rounds; r++) {
        if (r)
            sleep(1);
        full_io(fd, buf, 1);
        if (!full_io(fd, back, 0) || memcmp(buf, back, MSG)) {
            fprintf(stderr, "scale_node: the answer differs from the request\n");
            return 1;
        }
    }
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "server"))
        return server(atoi(argv[2]), atoi(argv[3]));
    if ((argc == 4 || argc == 5) && !strcmp(argv[1], "client"))
        return client(argv[2], argv[3], argc == 5 ? atoi(argv[4]) : 1);
    fprintf(stderr, "usage: scale_node server PORT N | client HOST PORT [ROUNDS]\n");
    return 2;
}
