/* getrandom: bytes from the process's deterministic stream (random.c),
 * never from the kernel: two runs with the same --seed see the same. */
#include <errno.h>
#include <stdint.h>

#include "../mem.h"
#include "../random.h"
#include "handlers.h"

#ifndef GRND_INSECURE
#define GRND_INSECURE 0x0004
#endif
#define GRND_NONBLOCK_ 0x0001
#define GRND_RANDOM_ 0x0002
/* The kernel caps a single read as well; callers loop on short counts. */
#define GETRANDOM_MAX (1 << 20)

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
    unsigned char chunk[4096];
    uint64_t done = 0;
    while (done < len) {
        size_t n = len - done < sizeof chunk ? (size_t)(len - done) : sizeof chunk;
        random_fill(t->proc, chunk, n);
        if (mem_write(t, buf + done, chunk, n) < 0)
            return done ? SYSRET_VALUE(done) : SYSRET_ERRNO(EFAULT);
        done += n;
    }
    return SYSRET_VALUE(done);
}
