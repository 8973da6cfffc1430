/* xoshiro256** per process, seeded through splitmix64 (Vigna's
 * recommendation) from an FNV-1a hash of what names the process in the
 * run: the same scenario and --seed give the same bytes, other hosts and
 * other processes other bytes. */
#include "random.h"

#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mem.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next(uint64_t s[4])
{
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static void seed_from(uint64_t s[4], uint64_t x)
{
    for (int i = 0; i < 4; i++)
        s[i] = splitmix64(&x);
}

void random_seed_proc(const struct supervisor *s, struct proc *p, struct proc *parent)
{
    if (parent) {
        /* A draw from the parent's stream: children are adopted in a
         * deterministic order, so this is deterministic too. */
        seed_from(p->rng, next(parent->rng));
        return;
    }
    uint64_t h = 0xcbf29ce484222325ULL;
    h = fnv1a(h, &s->opt->seed, sizeof s->opt->seed);
    h = fnv1a(h, p->g->host->name, strlen(p->g->host->name) + 1);
    h = fnv1a(h, p->g->name, strlen(p->g->name) + 1);
    seed_from(p->rng, h);
}

void random_fill(struct proc *p, void *buf, size_t len)
{
    unsigned char *out = buf;
    while (len) {
        uint64_t v = next(p->rng);
        size_t n = len < sizeof v ? len : sizeof v;
        memcpy(out, &v, n);
        out += n;
        len -= n;
    }
}

void random_patch_at_random(struct task *t)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/auxv", t->proc->pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    Elf64_auxv_t av[64];
    ssize_t n = read(fd, av, sizeof av);
    close(fd);
    for (ssize_t i = 0; n > 0 && i < n / (ssize_t)sizeof av[0]; i++) {
        if (av[i].a_type == AT_RANDOM) {
            unsigned char bytes[16];
            random_fill(t->proc, bytes, sizeof bytes);
            mem_write(t, av[i].a_un.a_val, bytes, sizeof bytes);
            return;
        }
    }
}
