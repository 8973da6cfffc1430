#include "mem.h"

#include <errno.h>
#include <sys/uio.h>
#include <time.h>

int mem_read(const struct task *t, uint64_t addr, void *buf, size_t len)
{
    struct iovec local = {buf, len}, remote = {(void *)(uintptr_t)addr, len};
    ssize_t n = process_vm_readv(t->tid, &local, 1, &remote, 1, 0);
    return n == (ssize_t)len ? 0 : -EFAULT;
}

int mem_write(const struct task *t, uint64_t addr, const void *buf, size_t len)
{
    struct iovec local = {(void *)buf, len}, remote = {(void *)(uintptr_t)addr, len};
    ssize_t n = process_vm_writev(t->tid, &local, 1, &remote, 1, 0);
    return n == (ssize_t)len ? 0 : -EFAULT;
}

#define NSEC 1000000000LL

int64_t mem_read_timespec(const struct task *t, uint64_t addr)
{
    struct timespec ts;
    if (mem_read(t, addr, &ts, sizeof ts) < 0)
        return -EFAULT;
    if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= NSEC)
        return -EINVAL;
    if (ts.tv_sec >= MEM_TIMESPEC_FOREVER / NSEC)
        return MEM_TIMESPEC_FOREVER;
    return ts.tv_sec * NSEC + ts.tv_nsec;
}

int mem_write_timespec(const struct task *t, uint64_t addr, int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / NSEC, .tv_nsec = ns % NSEC};
    return mem_write(t, addr, &ts, sizeof ts);
}
