#include "procfs.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static ssize_t read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = 0;
    return n;
}

/* The last number on the line starting with key (the innermost
 * namespace's view), or dflt. */
static pid_t last_field(const char *buf, const char *key, pid_t dflt)
{
    const char *ns = strstr(buf, key);
    if (!ns)
        return dflt;
    pid_t v = dflt;
    const char *end = strchr(ns + 1, '\n');
    for (const char *q = ns + strlen(key); *q && (!end || q < end);) {
        char *e;
        long x = strtol(q, &e, 10);
        if (e == q)
            break;
        v = (pid_t)x;
        q = e;
    }
    return v;
}

int procfs_status(pid_t tid, struct proc_status *st)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/status", tid);
    if (read_small(path, buf, sizeof buf) < 0)
        return -1;
    const char *tg = strstr(buf, "\nTgid:"), *pp = strstr(buf, "\nPPid:");
    if (!tg || !pp)
        return -1;
    st->tgid = (pid_t)strtol(tg + 6, NULL, 10);
    st->ppid = (pid_t)strtol(pp + 6, NULL, 10);
    st->ns_tgid = last_field(buf, "\nNStgid:", st->tgid);
    st->ns_tid = last_field(buf, "\nNSpid:", tid);
    return 0;
}

/* After the ")" of the comm (which may itself hold ") "). */
static const char *stat_fields(const char *buf)
{
    const char *p = strrchr(buf, ')');
    return p ? p + 2 : NULL;
}

static int cmp_pid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

int procfs_children(pid_t pid, pid_t *out, int max)
{
    int n = 0;
    char path[300], buf[4096];
    /* Fast path: CONFIG_PROC_CHILDREN.  Children of the main thread only;
     * threads forking is rare enough to leave to adoption on notification. */
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", pid, pid);
    if (read_small(path, buf, sizeof buf) >= 0) {
        for (char *p = buf; *p && n < max;) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p)
                break;
            out[n++] = (pid_t)v;
            p = end;
        }
    } else {
        DIR *d = opendir("/proc");
        if (!d)
            return -1;
        struct dirent *e;
        while ((e = readdir(d)) && n < max) {
            if (!isdigit((unsigned char)e->d_name[0]))
                continue;
            snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
            if (read_small(path, buf, sizeof buf) < 0)
                continue;
            const char *f = stat_fields(buf);
            char state;
            int ppid;
            if (f && sscanf(f, "%c %d", &state, &ppid) == 2 && ppid == pid)
                out[n++] = (pid_t)atoi(e->d_name);
        }
        closedir(d);
    }
    qsort(out, (size_t)n, sizeof *out, cmp_pid);
    return n;
}

int procfs_threads(pid_t pid, pid_t *out, int max)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max)
        if (isdigit((unsigned char)e->d_name[0]))
            out[n++] = (pid_t)atoi(e->d_name);
    closedir(d);
    qsort(out, (size_t)n, sizeof *out, cmp_pid);
    return n;
}

int procfs_task_state(pid_t pid, pid_t tid, char *state, long *nr)
{
    char path[96], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/task/%d/stat", pid, tid);
    if (read_small(path, buf, sizeof buf) < 0)
        return -1;
    const char *f = stat_fields(buf);
    if (!f)
        return -1;
    *state = *f;
    *nr = -1;
    snprintf(path, sizeof path, "/proc/%d/task/%d/syscall", pid, tid);
    if (read_small(path, buf, sizeof buf) >= 0 && isdigit((unsigned char)buf[0]))
        *nr = strtol(buf, NULL, 10);
    return 0;
}
