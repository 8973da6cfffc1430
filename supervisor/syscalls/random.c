/* getrandom, /dev/urandom and /dev/random: bytes from the process's
 * deterministic stream (random.c), never from the kernel: two runs with
 * the same --seed see the same. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>

#include "../mem.h"
#include "../random.h"
#include "io.h"

#ifndef GRND_INSECURE
#define GRND_INSECURE 0x0004
#endif
#define GRND_NONBLOCK_ 0x0001
#define GRND_RANDOM_ 0x0002
/* The kernel caps a single read as well; callers loop on short counts. */
#define GETRANDOM_MAX (1 << 20)

/* Bytes of the process's stream into the target's iovecs: getrandom and
 * reads of /dev/urandom and /dev/random. */
struct sysret random_device_io(struct task *t, const struct iovec *iov, int niov, bool writing)
{
    size_t total = iov_total(iov, niov);
    if (writing)
        return SYSRET_VALUE(total); /* "adds entropy": nothing to do */
    if (total > GETRANDOM_MAX)
        total = GETRANDOM_MAX; /* a short read, as the kernel's */
    unsigned char chunk[4096];
    size_t done = 0;
    while (done < total) {
        size_t n = total - done < sizeof chunk ? total - done : sizeof chunk;
        random_fill(t->proc, chunk, n);
        if (iov_copy(t, iov, niov, done, chunk, n, true) < 0)
            return done ? SYSRET_VALUE(done) : SYSRET_ERRNO(EFAULT);
        done += n;
    }
    return SYSRET_VALUE(done);
}

struct sysret sys_getrandom(struct supervisor *s, struct task *t)
{
    (void)s;
    uint64_t buf = t->req.args[0], len = t->req.args[1];
    unsigned flags = (unsigned)t->req.args[2];
    if (flags & ~(unsigned)(GRND_NONBLOCK_ | GRND_RANDOM_ | GRND_INSECURE))
        return SYSRET_ERRNO(EINVAL);
    if ((flags & GRND_INSECURE) && (flags & GRND_RANDOM_))
        return SYSRET_ERRNO(EINVAL);
    if (len > GETRANDOM_MAX)
        len = GETRANDOM_MAX;
    struct iovec one = IOV1(buf, len);
    return random_device_io(t, &one, 1, false);
}

/* open/openat: only /dev/urandom and /dev/random, named by their absolute
 * path, become ours; every other open runs natively. */
static struct sysret open_path(struct supervisor *s, struct task *t, uint64_t path, int flags)
{
    /* A match is at most 13 bytes: read 16, the part up to the page end
     * first (the string may end just before an unmapped page). */
    char name[16] = {0};
    uint64_t to_page_end = 4096 - (path & 4095);
    size_t first = to_page_end < sizeof name ? (size_t)to_page_end : sizeof name;
    if (mem_read(t, path, name, first) < 0)
        return SYSRET_CONTINUE; /* the kernel answers EFAULT */
    if (first < sizeof name && !memchr(name, 0, first))
        mem_read(t, path + first, name + first, sizeof name - first);
    bool urandom = !strncmp(name, "/dev/urandom", sizeof name), random = !strncmp(name, "/dev/random", sizeof name);
    if ((!urandom && !random) || (flags & (O_PATH | O_DIRECTORY | O_TMPFILE)))
        return SYSRET_CONTINUE;
    struct file *f = file_new(FILE_RANDOM);
    f->dev_random = random;
    f->status_flags = flags & O_NONBLOCK;
    int r = fd_install_new(s, t, f, flags & O_CLOEXEC);
    return SYSRET_OR_ERRNO(r);
}

struct sysret sys_open(struct supervisor *s, struct task *t)
{
    if (t->req.nr == __NR_openat)
        return open_path(s, t, t->req.args[1], (int)t->req.args[2]);
    return open_path(s, t, t->req.args[0], (int)t->req.args[1]);
}
