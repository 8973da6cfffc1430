/* random_check: getrandom and AT_RANDOM, checked and printed.
 *
 * Usage: random_check [virtual]
 *
 * Checks, natively and under Simterpose: two getrandom reads differ;
 * GRND_NONBLOCK and GRND_INSECURE work; unknown flags and
 * GRND_RANDOM|GRND_INSECURE are EINVAL; a bad buffer is EFAULT; a large
 * read returns bytes that are not all zero; glibc's stack guard is made of
 * the AT_RANDOM bytes the program sees; /dev/urandom and /dev/random read
 * (read, pread, readv), are character devices, poll readable, accept
 * writes, and two reads differ.  Prints the first bytes of getrandom, of
 * AT_RANDOM, of a forked child's getrandom and of both devices, so that a
 * scenario can compare runs: identical with the same --seed under
 * Simterpose, different otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "selfcheck.h"

#ifndef GRND_INSECURE
#define GRND_INSECURE 0x0004
#endif

static void hex(const char *what, const unsigned char *b, size_t n)
{
    printf("%s: ", what);
    for (size_t i = 0; i < n; i++)
        printf("%02x", b[i]);
    printf("\n");
}

static void fill(void *buf, size_t len, unsigned flags)
{
    ssize_t n = getrandom(buf, len, flags);
    if (n != (ssize_t)len)
        fail("getrandom(%zu, %#x) = %zd (%s)", len, flags, n, n < 0 ? strerror(errno) : "short");
}

/* Read a random device every way; print its first bytes. */
static void device(const char *path, const char *label)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fail("open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode))
        fail("%s is not a character device", path);
    unsigned char a[16], b[16], c[8], d[8];
    if (read(fd, a, sizeof a) != sizeof a || pread(fd, b, sizeof b, 0) != sizeof b)
        fail("read/pread of %s: %s", path, strerror(errno));
    struct iovec iov[2] = {{c, sizeof c}, {d, sizeof d}};
    if (readv(fd, iov, 2) != sizeof c + sizeof d)
        fail("readv of %s: %s", path, strerror(errno));
    if (!memcmp(a, b, sizeof a) || !memcmp(c, d, sizeof c))
        fail("two reads of %s gave the same bytes", path);
    if (syscall(SYS_read, fd, (void *)16, 8) != -1 || errno != EFAULT)
        fail("read of %s into a bad pointer: expected EFAULT", path);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 0) != 1 || !(p.revents & POLLIN))
        fail("%s does not poll readable", path);
    close(fd);
    fd = open(path, O_WRONLY);
    if (fd < 0 || write(fd, a, sizeof a) != sizeof a)
        fail("write to %s: %s", path, strerror(errno));
    close(fd);
    hex(label, a, sizeof a);
}

int main(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && strcmp(argv[1], "virtual")))
        fail("usage: random_check [virtual]");
    setvbuf(stdout, NULL, _IOLBF, 0);
    unsigned char a[16], b[16];
    fill(a, sizeof a, 0);
    fill(b, sizeof b, 0);
    if (!memcmp(a, b, sizeof a))
        fail("two getrandom reads gave the same 16 bytes");
    fill(b, sizeof b, GRND_NONBLOCK);
    fill(b, sizeof b, GRND_INSECURE);
    if (syscall(SYS_getrandom, b, sizeof b, 0x80) != -1 || errno != EINVAL)
        fail("getrandom with an unknown flag: expected EINVAL");
    if (syscall(SYS_getrandom, b, sizeof b, GRND_RANDOM | GRND_INSECURE) != -1 || errno != EINVAL)
        fail("getrandom(GRND_RANDOM|GRND_INSECURE): expected EINVAL");
    if (syscall(SYS_getrandom, (void *)16, sizeof b, 0) != -1 || errno != EFAULT)
        fail("getrandom into a bad pointer: expected EFAULT");
    size_t big = 100000;
    unsigned char *buf = calloc(1, big);
    if (!buf)
        fail("out of memory");
    fill(buf, big, 0);
    size_t zeros = 0;
    for (size_t i = 0; i < big; i++)
        zeros += !buf[i];
    if (zeros > big / 128) /* expected: big / 256 */
        fail("%zu zero bytes in %zu random ones", zeros, big);
    free(buf);
    printf("ok: getrandom: distinct reads, flags, EINVAL, EFAULT, %zu bytes at once\n", big);

    hex("getrandom", a, sizeof a);
    const unsigned char *at_random = (const unsigned char *)getauxval(AT_RANDOM);
    if (!at_random)
        fail("no AT_RANDOM");
    hex("AT_RANDOM", at_random, 16);
    /* glibc's stack guard is AT_RANDOM's first 8 bytes, low byte zeroed:
     * under Simterpose, proof that they were replaced before libc read
     * them. */
    uint64_t guard, expect;
    __asm__("mov %%fs:0x28, %0" : "=r"(guard));
    memcpy(&expect, at_random, sizeof expect);
    expect &= ~(uint64_t)0xff;
    if (guard != expect)
        fail("stack guard %#llx is not AT_RANDOM's %#llx", (unsigned long long)guard, (unsigned long long)expect);
    printf("ok: the stack guard comes from AT_RANDOM\n");
    device("/dev/urandom", "urandom");
    device("/dev/random", "random");
    printf("ok: /dev/urandom and /dev/random: read, pread, readv, poll, write, EFAULT\n");
    pid_t pid = fork();
    if (pid < 0)
        fail("fork: %s", strerror(errno));
    if (pid == 0) {
        unsigned char c[16];
        fill(c, sizeof c, 0);
        if (!memcmp(c, a, sizeof c))
            _exit(3); /* the child replayed the parent's stream */
        hex("child getrandom", c, sizeof c);
        _exit(0);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail("child failed (status %#x)", st);
    printf("random_check: all checks passed\n");
    return 0;
}
