/* hostname_check: check the host name and name resolution seen by a program.
 *
 * Usage: hostname_check EXPECTED_HOSTNAME [NAME=IP ...]
 *
 * Checks that gethostname() and uname().nodename both equal
 * EXPECTED_HOSTNAME, and that every NAME resolves (getaddrinfo with AF_INET,
 * and gethostbyname) to IP as its first IPv4 address.
 * Exit status: 0 on success, 1 on a failed check (one "FAIL: ..." line on
 * stderr), 2 on a usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "selfcheck.h"


static void check_hostname(const char *expected)
{
    char buf[HOST_NAME_MAX + 2];
    memset(buf, 0, sizeof buf);
    if (gethostname(buf, sizeof buf - 1) != 0)
        fail("gethostname (expected 0, got -1 errno=%d %s)", errno, strerror(errno));
    if (strcmp(buf, expected) != 0)
        fail("gethostname (expected \"%s\", got \"%s\")", expected, buf);
    printf("ok: gethostname() = \"%s\"\n", buf);

    struct utsname u;
    if (uname(&u) != 0)
        fail("uname (expected 0, got -1 errno=%d %s)", errno, strerror(errno));
    if (strcmp(u.nodename, expected) != 0)
        fail("uname().nodename (expected \"%s\", got \"%s\")", expected, u.nodename);
    printf("ok: uname().nodename = \"%s\"\n", u.nodename);
}

static void check_resolution(const char *name, const char *ip)
{
    struct in_addr want;
    char got[INET_ADDRSTRLEN];
    if (inet_pton(AF_INET, ip, &want) != 1) {
        fprintf(stderr, "hostname_check: \"%s\" is not an IPv4 address\n", ip);
        exit(2);
    }

    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    int rc = getaddrinfo(name, NULL, &hints, &res);
    if (rc != 0)
        fail("getaddrinfo(\"%s\", AF_INET) (expected 0, got %d %s)", name, rc,
             rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    const struct addrinfo *ai = res;
    while (ai != NULL && (ai->ai_family != AF_INET || ai->ai_addr == NULL))
        ai = ai->ai_next;
    if (ai == NULL) {
        freeaddrinfo(res);
        fail("getaddrinfo(\"%s\", AF_INET) returns an IPv4 address (expected %s, got none)", name,
             ip);
    }
    const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)ai->ai_addr;
    if (inet_ntop(AF_INET, &sin->sin_addr, got, sizeof got) == NULL)
        fail("inet_ntop (expected an address string, got errno=%d %s)", errno, strerror(errno));
    if (sin->sin_addr.s_addr != want.s_addr) {
        freeaddrinfo(res);
        fail("getaddrinfo(\"%s\") first IPv4 address (expected %s, got %s)", name, ip, got);
    }
    freeaddrinfo(res);
    printf("ok: getaddrinfo(\"%s\") -> %s\n", name, got);

    errno = 0;
    h_errno = 0;
    struct hostent *he = gethostbyname(name);
    if (he == NULL)
        fail("gethostbyname(\"%s\") (expected a hostent, got NULL h_errno=%d %s)", name, h_errno,
             hstrerror(h_errno));
    if (he->h_addrtype != AF_INET || he->h_length != (int)sizeof(struct in_addr))
        fail("gethostbyname(\"%s\") address type (expected AF_INET/%d, got %d/%d)", name,
             (int)sizeof(struct in_addr), he->h_addrtype, he->h_length);
    if (he->h_addr_list == NULL || he->h_addr_list[0] == NULL)
        fail("gethostbyname(\"%s\") address list (expected %s, got empty)", name, ip);
    struct in_addr first;
    memcpy(&first, he->h_addr_list[0], sizeof first);
    if (inet_ntop(AF_INET, &first, got, sizeof got) == NULL)
        fail("inet_ntop (expected an address string, got errno=%d %s)", errno, strerror(errno));
    if (first.s_addr != want.s_addr)
        fail("gethostbyname(\"%s\") first address (expected %s, got %s)", name, ip, got);
    printf("ok: gethostbyname(\"%s\") -> %s\n", name, got);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '\0') {
        fprintf(stderr, "usage: %s EXPECTED_HOSTNAME [NAME=IP ...]\n", argc > 0 ? argv[0] : "hostname_check");
        return 2;
    }
    /* Validate all pairs first so a usage error is not reported as a FAIL. */
    for (int i = 2; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (eq == NULL || eq == argv[i] || eq[1] == '\0') {
            fprintf(stderr, "hostname_check: bad argument \"%s\" (expected NAME=IP)\n", argv[i]);
            return 2;
        }
    }

    check_hostname(argv[1]);
    for (int i = 2; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        *eq = '\0';
        check_resolution(argv[i], eq + 1);
    }
    printf("hostname_check: all checks passed\n");
    return 0;
}
