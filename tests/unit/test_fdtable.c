/* The emulated descriptor table and open files (supervisor/file.c), on a
 * task that is this test process itself: fd_native_open() looks at our
 * own /proc/PID/fd. */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdint.h>
#include <unistd.h>

#include "filters/filter.h"
#include "supervisor/file.h"

static struct proc proc;
static struct task task;

static void setup(void)
{
    proc = (struct proc){.pid = getpid(), .fds = fdtable_new()};
    task = (struct task){.proc = &proc};
}

static void teardown(void) { fdtable_put(proc.fds); }

TestSuite(fdtable, .init = setup, .fini = teardown);

static struct file *counter(uint64_t count)
{
    struct file *f = file_new(FILE_EVENTFD);
    f->evfd.count = count;
    return f;
}

Test(fdtable, allocates_the_lowest_free_fd_from_the_base)
{
    cr_expect_eq(fd_alloc(&task, 0), EMU_FD_BASE);
    cr_expect_eq(fd_alloc(&task, EMU_FD_BASE + 7), EMU_FD_BASE + 7);
    struct file *f = counter(0);
    fd_set_entry(&task, EMU_FD_BASE, f, false);
    fd_set_entry(&task, EMU_FD_BASE + 1, f, false);
    cr_expect_eq(fd_alloc(&task, 0), EMU_FD_BASE + 2);
    fd_clear(&task, EMU_FD_BASE);
    cr_expect_eq(fd_alloc(&task, 0), EMU_FD_BASE, "a cleared fd is free again");
    file_unref(f);
}

Test(fdtable, skips_fds_open_natively)
{
    /* A program with hundreds of files has native fds up there too. */
    cr_assert_eq(dup2(0, EMU_FD_BASE), EMU_FD_BASE);
    cr_expect_eq(fd_alloc(&task, 0), EMU_FD_BASE + 1);
    close(EMU_FD_BASE);
    cr_expect_eq(fd_alloc(&task, 0), EMU_FD_BASE);
}

Test(fdtable, entries_hold_references)
{
    struct file *f = counter(0), *g = counter(0);
    fd_set_entry(&task, EMU_FD_BASE + 3, f, false);
    cr_expect_eq(f->refs, 2, "the table takes its own reference");
    cr_expect_eq(fd_get(&task, EMU_FD_BASE + 3), f);
    cr_expect_null(fd_get(&task, EMU_FD_BASE + 4));
    cr_expect_null(fd_get(&task, 3), "below the base nothing is ours");
    fd_set_entry(&task, EMU_FD_BASE + 3, g, true); /* dup2 over it */
    cr_expect_eq(f->refs, 1, "the replaced file lost the table's reference");
    cr_expect(fd_entry(&task, EMU_FD_BASE + 3)->cloexec);
    fd_clear(&task, EMU_FD_BASE + 3);
    cr_expect_eq(g->refs, 1);
    file_unref(f);
    file_unref(g);
}

Test(fdtable, fork_copies_and_shares_open_files)
{
    struct file *f = counter(5);
    fd_set_entry(&task, EMU_FD_BASE, f, true);
    struct fdtable *child = fdtable_copy(proc.fds);
    cr_expect_eq(f->refs, 3, "parent table, child table, us");
    struct proc cp = {.pid = getpid(), .fds = child};
    struct task ct = {.proc = &cp};
    cr_expect_eq(fd_get(&ct, EMU_FD_BASE), f, "same open file: same counter");
    cr_expect(fd_entry(&ct, EMU_FD_BASE)->cloexec, "the flag is per descriptor, copied");
    fd_clear(&ct, EMU_FD_BASE);
    cr_expect_eq(fd_get(&task, EMU_FD_BASE), f, "closing in the child leaves the parent's");
    fdtable_put(child);
    cr_expect_eq(f->refs, 2);
    file_unref(f);
}

Test(fdtable, exec_drops_cloexec_entries_the_kernel_closed)
{
    struct file *f = counter(0);
    fd_set_entry(&task, EMU_FD_BASE + 1, f, true);  /* close-on-exec, gone natively */
    fd_set_entry(&task, EMU_FD_BASE + 2, f, true);  /* close-on-exec, exec failed: still open */
    fd_set_entry(&task, EMU_FD_BASE + 3, f, false); /* survives exec */
    cr_assert_eq(dup2(0, EMU_FD_BASE + 2), EMU_FD_BASE + 2);
    fdtable_exec(&task);
    close(EMU_FD_BASE + 2);
    cr_expect_null(fd_get(&task, EMU_FD_BASE + 1));
    cr_expect_eq(fd_get(&task, EMU_FD_BASE + 2), f);
    cr_expect_eq(fd_get(&task, EMU_FD_BASE + 3), f);
    cr_expect_eq(f->refs, 3);
    file_unref(f);
}

Test(fdtable, eventfd_and_random_readiness)
{
    struct file *f = counter(0);
    cr_expect_eq(file_poll(f), POLLOUT | POLLWRNORM, "empty counter: writable only");
    f->evfd.count = 1;
    cr_expect_eq(file_poll(f), POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM);
    f->evfd.count = UINT64_MAX - 1;
    cr_expect_eq(file_poll(f), POLLIN | POLLRDNORM, "full counter: readable only");
    cr_expect_eq(file_next_event_ns(f), -1, "a counter never becomes ready by itself");
    file_unref(f);
    struct file *r = file_new(FILE_RANDOM);
    cr_expect_eq(file_poll(r), POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM);
    file_unref(r);
    struct file *tm = file_new(FILE_TIMERFD);
    tm->tfd.next_ns = 1500;
    cr_expect_eq(file_next_event_ns(tm), 1500, "pollers must wake at a timer's next expiration");
    file_unref(tm);
}
