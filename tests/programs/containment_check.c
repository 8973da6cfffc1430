/* Checks, from inside, the container Simterpose launches a program in.
 * Only meaningful under Simterpose (natively most checks fail).
 * Usage: containment_check EXPECTED_UID */
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (cond) {                                                                                                    \
            printf("ok: %s\n", #cond);                                                                                 \
        } else {                                                                                                       \
            fprintf(stderr, "FAIL: " __VA_ARGS__);                                                                     \
            fputc('\n', stderr);                                                                                       \
            failures++;                                                                                                \
        }                                                                                                              \
    } while (0)

static const char *status_field(const char *status, const char *key, char *out, size_t len)
{
    const char *p = strstr(status, key);
    if (!p)
        return "";
    p += strlen(key);
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strcspn(p, "\n");
    snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), p);
    return out;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: containment_check EXPECTED_UID\n");
        return 2;
    }
    char status[8192] = "", v[64];
    FILE *f = fopen("/proc/self/status", "r");
    if (!f || fread(status, 1, sizeof status - 1, f) == 0) {
        perror("/proc/self/status");
        return 1;
    }
    fclose(f);
    const char *zero = "0000000000000000";
    CHECK(!strcmp(status_field(status, "\nNoNewPrivs:", v, sizeof v), "1"), "NoNewPrivs is '%s'", v);
    CHECK(!strcmp(status_field(status, "\nSeccomp:", v, sizeof v), "2"), "Seccomp mode is '%s'", v);
    CHECK(!strcmp(status_field(status, "\nCapEff:", v, sizeof v), zero), "CapEff is %s", v);
    CHECK(!strcmp(status_field(status, "\nCapPrm:", v, sizeof v), zero), "CapPrm is %s", v);
    CHECK(!strcmp(status_field(status, "\nCapBnd:", v, sizeof v), zero), "CapBnd is %s", v);
    CHECK(!strcmp(status_field(status, "\nCapAmb:", v, sizeof v), zero), "CapAmb is %s", v);

    /* The same user as outside: no root inside the container either. */
    CHECK(getuid() == (uid_t)atoi(argv[1]), "uid %u, expected %s", (unsigned)getuid(), argv[1]);
    /* PID namespace: the deployed program is PID 2, its parent the reaper. */
    CHECK(getpid() == 2, "pid is %d", (int)getpid());
    CHECK(getppid() == 1, "parent pid is %d", (int)getppid());

    /* No descriptor leaks in: no listener, no supervisor socket. */
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int extra = 0;
    while (d && (e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || fd == dirfd(d) || fd <= 2)
            continue;
        char path[64], target[256] = "";
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        if (readlink(path, target, sizeof target - 1) < 0)
            strcpy(target, "?");
        fprintf(stderr, "FAIL: fd %d is open (%s)\n", fd, target);
        extra++;
    }
    if (d)
        closedir(d);
    CHECK(extra == 0, "%d unexpected descriptors", extra);
    char in[256] = "";
    CHECK(readlink("/proc/self/fd/0", in, sizeof in - 1) > 0 && !strcmp(in, "/dev/null"), "stdin is '%s'", in);

    /* Network namespace: only the loopback interface, and it is up. */
    struct if_nameindex *ifs = if_nameindex();
    int nifs = 0, has_lo = 0;
    for (struct if_nameindex *i = ifs; i && i->if_index; i++, nifs++)
        has_lo |= !strcmp(i->if_name, "lo");
    if (ifs)
        if_freenameindex(ifs);
    CHECK(nifs == 1 && has_lo, "%d interfaces (loopback: %s)", nifs, has_lo ? "yes" : "no");
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr = {0};
    strcpy(ifr.ifr_name, "lo");
    CHECK(s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP), "lo is down");
    if (s >= 0)
        close(s);
    return failures ? 1 : 0;
}
