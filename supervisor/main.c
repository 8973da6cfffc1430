/* simterpose: run unmodified programs on a SimGrid platform. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../filters/filter.h"
#include "deploy.h"
#include "dispatch.h"
#include "launch.h"
#include "options.h"
#include "seccomp_compat.h"
#include "platform.h"
#include "report.h"
#include "supervisor.h"
#include "cpu.h"
#include "vdso.h"

#define OUTPUT_MARKER ".simterpose-output"
#define EXIT_USAGE 2

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Recreate the output directory, refusing to wipe one we did not make. */
static int prepare_out_dir(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (!dir || !*dir) { /* options_parse refuses it; GCC's -fsanitize build wants it said */
        snprintf(err, errlen, "--out: empty directory name");
        return -1;
    }
    if (stat(dir, &st) == 0) {
        char marker[PATH_MAX];
        snprintf(marker, sizeof marker, "%s/" OUTPUT_MARKER, dir);
        bool ours = access(marker, F_OK) == 0;
        bool empty = true;
        if (!ours && S_ISDIR(st.st_mode)) {
            DIR *d = opendir(dir);
            struct dirent *e;
            while (d && (e = readdir(d)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                    empty = false;
            if (d)
                closedir(d);
        }
        if (!S_ISDIR(st.st_mode) || (!ours && !empty)) {
            snprintf(err, errlen, "--out %s: exists and was not made by simterpose; refusing to delete it", dir);
            return -1;
        }
        if (nftw(dir, rm_entry, 32, FTW_DEPTH | FTW_PHYS) < 0) {
            snprintf(err, errlen, "--out %s: cannot remove: %s", dir, strerror(errno));
            return -1;
        }
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/hosts", dir);
    if (mkdir(dir, 0755) < 0 || mkdir(path, 0755) < 0) {
        snprintf(err, errlen, "--out %s: cannot create: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/" OUTPUT_MARKER, dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0)
        close(fd);
    return 0;
}

/* PROG as given, or looked up in PATH like execvp would. */
static char *resolve_program(const char *prog)
{
    char buf[PATH_MAX];
    struct stat st;
    if (strchr(prog, '/')) {
        if (!realpath(prog, buf) || stat(buf, &st) < 0 || !S_ISREG(st.st_mode) || access(buf, X_OK) < 0)
            return NULL;
        return strdup(buf);
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, ":");
        snprintf(buf, sizeof buf, "%.*s/%s", (int)(n ? n : 1), n ? p : ".", prog);
        if (stat(buf, &st) == 0 && S_ISREG(st.st_mode) && access(buf, X_OK) == 0) {
            char real[PATH_MAX];
            return strdup(realpath(buf, real) ? real : buf);
        }
        p += n + (p[n] == ':');
    }
    return NULL;
}

static struct vhost *find_vhost(struct supervisor *s, const char *name)
{
    for (size_t i = 0; i < s->nhosts; i++)
        if (!strcmp(s->hosts[i].name, name))
            return &s->hosts[i];
    return NULL;
}

/* Everything a deployment can get wrong, found before anything runs. */
static int build_groups(struct supervisor *s, const struct deployment *d, char *err, size_t errlen)
{
    s->groups = calloc(d->n, sizeof *s->groups);
    s->ngroups = d->n;
    for (size_t i = 0; i < d->n; i++) {
        const struct deploy_actor *a = &d->actors[i];
        struct group *g = &s->groups[i];
        g->index = (int)i;
        g->spec = a;
        g->init_pidfd = g->status_fd = g->listener = -1;
        if (!(g->host = find_vhost(s, a->host))) {
            snprintf(err, errlen, "%s:%d: unknown host '%s' (not in %s)", s->opt->deployment, a->line, a->host,
                     s->opt->platform);
            return -1;
        }
        if (strlen(a->host) > 64) {
            snprintf(err, errlen, "%s:%d: host name '%s' is longer than a hostname can be (64)", s->opt->deployment,
                     a->line, a->host);
            return -1;
        }
        if (!(g->exe = resolve_program(a->function))) {
            snprintf(err, errlen, "%s:%d: program '%s' not found%s or not executable", s->opt->deployment, a->line,
                     a->function, strchr(a->function, '/') ? "" : " in PATH");
            return -1;
        }
        const char *base = strrchr(a->function, '/') ? strrchr(a->function, '/') + 1 : a->function;
        int n = 1;
        for (size_t j = 0; j < i; j++) {
            const char *b = strrchr(d->actors[j].function, '/') ? strrchr(d->actors[j].function, '/') + 1
                                                                 : d->actors[j].function;
            if (s->groups[j].host == g->host && !strcmp(b, base))
                n++;
        }
        if (asprintf(&g->name, "%s.%d", base, n) < 0 ||
            asprintf(&g->stdout_path, "%s/hosts/%s/%s.stdout", s->opt->out_dir, g->host->name, g->name) < 0 ||
            asprintf(&g->stderr_path, "%s/hosts/%s/%s.stderr", s->opt->out_dir, g->host->name, g->name) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

static int make_host_dirs(struct supervisor *s, char *err, size_t errlen)
{
    for (size_t i = 0; i < s->ngroups; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/hosts/%s", s->opt->out_dir, s->groups[i].host->name);
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
            snprintf(err, errlen, "%.900s: %s", path, strerror(errno));
            return -1;
        }
    }
    return 0;
}

static void kill_everything(struct supervisor *s)
{
    for (size_t i = 0; i < s->ngroups; i++) {
        struct group *g = &s->groups[i];
        if (g->init_pidfd < 0)
            continue;
        syscall(SYS_pidfd_send_signal, g->init_pidfd, SIGKILL, NULL, 0);
        group_wait_reaper(s, g);
        close(g->init_pidfd);
        g->init_pidfd = -1;
    }
}

static void on_interrupt(int sig)
{
    (void)sig;
    core_interrupted = 1;
}

int main(int argc, char **argv)
{
    struct options opt;
    char err[1024];
    int ret = options_parse(argc, argv, &opt, stdout, err, sizeof err);
    if (ret != OPTIONS_OK) {
        if (ret == OPTIONS_ERROR)
            fprintf(stderr, "simterpose: %s\n", err);
        options_free(&opt);
        return ret == OPTIONS_EXIT ? 0 : EXIT_USAGE;
    }
    double wall_start = wall_now();

    struct deployment dep = {0};
    struct supervisor sup = {.opt = &opt, .backend = &unotify_backend, .epfd = -1};
    if (opt.backend == BACKEND_PTRACE)
        sup.backend = &ptrace_backend;
    struct supervisor *s = &sup;
    int status = EXIT_USAGE;

    if (deployment_parse_file(opt.deployment, &dep, err, sizeof err) < 0 ||
        platform_check(opt.platform, opt.sg_argc, opt.sg_argv, err, sizeof err) < 0) {
        fprintf(stderr, "simterpose: %s\n", err);
        goto out;
    }
    sim_init(&opt.sg_argc, opt.sg_argv);
    sim_load_platform(opt.platform);
    if (platform_setup_hosts(s, opt.platform, err, sizeof err) < 0 || build_groups(s, &dep, err, sizeof err) < 0 ||
        prepare_out_dir(opt.out_dir, err, sizeof err) < 0 || make_host_dirs(s, err, sizeof err) < 0) {
        fprintf(stderr, "simterpose: %s\n", err);
        goto out;
    }
    char hosts_file[PATH_MAX];
    snprintf(hosts_file, sizeof hosts_file, "%s/etc-hosts", opt.out_dir);
    char *abs_hosts = realpath(opt.out_dir, NULL);
    snprintf(hosts_file, sizeof hosts_file, "%s/etc-hosts", abs_hosts ? abs_hosts : opt.out_dir);
    free(abs_hosts);
    s->hosts_file = hosts_file;
    if (platform_write_hosts_file(s, hosts_file, err, sizeof err) < 0) {
        fprintf(stderr, "simterpose: %s\n", err);
        goto out;
    }

    size_t cap = filter_max_len(trap_table_len);
    struct sock_filter *insns = calloc(cap, sizeof *insns);
    int len = insns ? filter_build(trap_table, trap_table_len, s->backend->filter_action, insns, cap) : -1;
    if (len < 0) {
        fprintf(stderr, "simterpose: internal error: cannot build the seccomp filter\n");
        free(insns);
        goto out;
    }
    struct sock_fprog prog = {.len = (unsigned short)len, .filter = insns};

    if (opt.strace_path) {
        if (!strcmp(opt.strace_path, "-")) {
            s->strace = stderr;
        } else if (!(s->strace = fopen(opt.strace_path, "we"))) {
            fprintf(stderr, "simterpose: --strace: cannot write %s: %s\n", opt.strace_path, strerror(errno));
            free(insns);
            goto out;
        }
    }
    cpu_init(s);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    s->wall_start_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    s->progress_last_ns = s->wall_start_ns;
    s->progress = isatty(STDERR_FILENO) && !opt.verbose && s->strace != stderr;
    if (vdso_init() < 0)
        fprintf(stderr, "simterpose: warning: no vDSO found; clocks read through it will not be virtual\n");
    dispatch_init(s);
    s->task_hash_size = 4093;
    s->task_hash = calloc(s->task_hash_size, sizeof *s->task_hash);
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    /* Can a pidfd tell one thread's end?  (PIDFD_THREAD: Linux 6.9.) */
    int self = (int)syscall(SYS_pidfd_open, getpid(), PIDFD_THREAD);
    /* Test knob: take the Linux < 6.9 path on a newer kernel. */
    s->no_thread_pidfd = self < 0 || getenv("SIMTERPOSE_NO_PIDFD_THREAD");
    if (self >= 0)
        close(self);
    else if (opt.verbose)
        log_msg("pidfd_open(PIDFD_THREAD): %s: thread ends are seen through exit(2)", strerror(errno));
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_interrupt};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    /* Every launch forks us: launch them all before their actors exist,
     * while our address space is small: each fork copies it. */
    pid_t *main_pids = calloc(s->ngroups ? s->ngroups : 1, sizeof *main_pids);
    if (!main_pids) {
        fprintf(stderr, "simterpose: out of memory\n");
        free(insns);
        goto out;
    }
    for (size_t i = 0; i < s->ngroups; i++) {
        main_pids[i] = launch_group(s, &s->groups[i], &prog, err, sizeof err);
        if (main_pids[i] < 0) {
            fprintf(stderr, "simterpose: %s\n", err);
            kill_everything(s);
            free(main_pids);
            free(insns);
            goto out;
        }
    }
    for (size_t i = 0; i < s->ngroups; i++)
        core_start_group(s, &s->groups[i], main_pids[i]);
    free(main_pids);
    free(insns);

    sim_run();
    kill_everything(s);
    progress_clear();

    double wall = wall_now() - wall_start;
    report_summary(s, wall);
    status = 0;
    for (size_t i = 0; i < s->ngroups; i++) {
        const struct group *g = &s->groups[i];
        if (!group_succeeded(g)) {
            char outcome[128];
            group_outcome(g, outcome, sizeof outcome);
            fprintf(stderr, "simterpose: %s on %s did not succeed: %s\n", g->name, g->host->name, outcome);
            status = 1;
        }
    }
    if (core_interrupted) {
        fprintf(stderr, "simterpose: interrupted\n");
        status = 1;
    }
    if (opt.stats_path && report_stats(s, opt.stats_path, wall) < 0)
        status = 1;
out:
    sim_route_cleanup();
    if (s->strace && s->strace != stderr && fclose(s->strace) != 0) {
        fprintf(stderr, "simterpose: --strace: writing %s: %s\n", opt.strace_path, strerror(errno));
        status = 1;
    }
    core_free(s);
    deployment_free(&dep);
    options_free(&opt);
    return status;
}
