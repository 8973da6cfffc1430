#include "platform.h"

#include <arpa/inet.h>
#include <errno.h>
#include <expat.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CONFIG_OK_MARK "@@simterpose: options accepted@@"

/* The most telling line of SimGrid's complaint: its exception text. */
static void simgrid_reason(const char *log, char *out, size_t len)
{
    static const char *const markers[] = {"Parse error at ", "Uncaught exception ", "CRITICAL] ", "Error: "};
    snprintf(out, len, "rejected by SimGrid");
    for (size_t m = 0; m < sizeof markers / sizeof markers[0]; m++) {
        const char *p = strstr(log, markers[m]);
        if (!p)
            continue;
        if (m == 1) { /* "Uncaught exception std::invalid_argument: Link not found: zz" */
            const char *colon = strstr(p, ": ");
            if (colon)
                p = colon + 2;
        } else if (m == 2) { /* "[root/CRITICAL] Invalid control string 'foo'" */
            p += strlen(markers[m]);
        }
        size_t n = strcspn(p, "\n");
        snprintf(out, len, "%.*s", (int)n, p);
        return;
    }
    /* Otherwise the last non-empty line. */
    const char *last = NULL;
    for (const char *p = log; *p;) {
        size_t n = strcspn(p, "\n");
        if (n)
            last = p;
        p += n + (p[n] == '\n');
    }
    if (last)
        snprintf(out, len, "%.*s", (int)strcspn(last, "\n"), last);
}

int platform_check(const char *path, int sg_argc, char **sg_argv, char *err, size_t errlen)
{
    if (access(path, R_OK) < 0) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        char **argv = calloc((size_t)sg_argc + 1, sizeof *argv);
        for (int i = 0; i < sg_argc; i++)
            argv[i] = sg_argv[i];
        int argc = sg_argc;
        sim_init(&argc, argv);
        /* Tells the parent that the options passed and the file is next. */
        fputs("\n" CONFIG_OK_MARK "\n", stderr);
        fflush(stderr);
        sim_load_platform(path);
        _exit(0);
    }
    close(pfd[1]);
    size_t cap = 65536, len = 0;
    char *log = malloc(cap + 1);
    ssize_t n;
    while (log && (n = read(pfd[0], log + len, cap - len)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        len += (size_t)n;
        if (len == cap)
            len = cap / 2, memmove(log, log + cap / 2, cap / 2); /* keep the tail */
    }
    close(pfd[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    if (!ok) {
        char reason[400] = "rejected by SimGrid";
        bool config_ok = false;
        if (log) {
            log[len] = 0;
            char *mark = strstr(log, CONFIG_OK_MARK);
            config_ok = mark != NULL;
            simgrid_reason(mark ? mark + strlen(CONFIG_OK_MARK) : log, reason, sizeof reason);
        }
        if (config_ok)
            snprintf(err, errlen, "%s: %s", path, reason);
        else
            snprintf(err, errlen, "SimGrid options (--cfg/--log): %s", reason);
    }
    free(log);
    return ok ? 0 : -1;
}

struct order_ctx {
    char **names;
    size_t n, cap;
    int failed;
};

static void add_name(struct order_ctx *c, const char *name)
{
    if (c->failed)
        return;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        char **nn = realloc(c->names, cap * sizeof *nn);
        if (!nn) {
            c->failed = 1;
            return;
        }
        c->names = nn;
        c->cap = cap;
    }
    if (!(c->names[c->n] = strdup(name)))
        c->failed = 1;
    else
        c->n++;
}

static const char *attr(const XML_Char **atts, const char *key)
{
    for (int i = 0; atts[i]; i += 2)
        if (!strcmp(atts[i], key))
            return atts[i + 1];
    return NULL;
}

/* Cluster radicals: "0-7", "1,3,5-9". */
static void expand_cluster(struct order_ctx *c, const char *prefix, const char *radical, const char *suffix)
{
    const char *p = radical;
    while (*p) {
        char *end;
        long a = strtol(p, &end, 10), b = a;
        if (end == p)
            return;
        p = end;
        if (*p == '-') {
            b = strtol(p + 1, &end, 10);
            p = end;
        }
        for (long i = a; i <= b && b - a < 1000000; i++) {
            char name[512];
            snprintf(name, sizeof name, "%s%ld%s", prefix, i, suffix);
            add_name(c, name);
        }
        if (*p == ',')
            p++;
        else if (*p)
            return;
    }
}

static void XMLCALL order_start(void *ud, const XML_Char *el, const XML_Char **atts)
{
    struct order_ctx *c = ud;
    if (!strcmp(el, "host")) {
        const char *id = attr(atts, "id");
        if (id)
            add_name(c, id);
    } else if (!strcmp(el, "cluster")) {
        const char *prefix = attr(atts, "prefix"), *radical = attr(atts, "radical"), *suffix = attr(atts, "suffix");
        if (radical)
            expand_cluster(c, prefix ? prefix : "", radical, suffix ? suffix : "");
    }
}

int platform_host_order(const char *path, char ***names, char *err, size_t errlen)
{
    struct order_ctx c = {0};
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    XML_Parser xp = XML_ParserCreate(NULL);
    XML_SetUserData(xp, &c);
    XML_SetStartElementHandler(xp, order_start);
    char buf[65536];
    size_t n;
    int ok = 1;
    do {
        n = fread(buf, 1, sizeof buf, f);
        if (XML_Parse(xp, buf, (int)n, n == 0) == XML_STATUS_ERROR) {
            snprintf(err, errlen, "%s:%lu: %s", path, (unsigned long)XML_GetCurrentLineNumber(xp),
                     XML_ErrorString(XML_GetErrorCode(xp)));
            ok = 0;
            break;
        }
    } while (n);
    XML_ParserFree(xp);
    fclose(f);
    if (!ok || c.failed) {
        if (ok)
            snprintf(err, errlen, "out of memory");
        for (size_t i = 0; i < c.n; i++)
            free(c.names[i]);
        free(c.names);
        return -1;
    }
    *names = c.names;
    return (int)c.n;
}

static int ip_in_use(const struct supervisor *s, size_t upto, const char *ip)
{
    for (size_t i = 0; i < upto; i++)
        if (!strcmp(s->hosts[i].ip, ip))
            return 1;
    return 0;
}

int platform_setup_hosts(struct supervisor *s, const char *path, char *err, size_t errlen)
{
    char **order = NULL;
    int norder = platform_host_order(path, &order, err, errlen);
    if (norder < 0)
        return -1;
    size_t n = sim_host_count();
    sim_host *all = sim_host_list();
    s->hosts = calloc(n ? n : 1, sizeof *s->hosts);
    s->nhosts = 0;
    /* Declaration order first, then anything SimGrid knows that we did
     * not see (e.g. hosts created by a zone type we do not expand). */
    for (int i = 0; i < norder; i++) {
        sim_host h = sim_host_by_name(order[i]);
        bool dup = false;
        for (size_t j = 0; j < s->nhosts; j++)
            dup |= s->hosts[j].sh == h;
        if (h && !dup)
            s->hosts[s->nhosts++].sh = h;
    }
    for (size_t i = 0; i < n; i++) {
        bool seen = false;
        for (size_t j = 0; j < s->nhosts; j++)
            seen |= s->hosts[j].sh == all[i];
        if (!seen)
            s->hosts[s->nhosts++].sh = all[i];
    }
    free(all);
    for (int i = 0; i < norder; i++)
        free(order[i]);
    free(order);

    /* Explicit addresses first, so automatic ones avoid them. */
    for (size_t i = 0; i < s->nhosts; i++) {
        struct vhost *h = &s->hosts[i];
        h->name = sim_host_name(h->sh);
        const char *ip = sim_host_prop(h->sh, "ip");
        if (!ip)
            continue;
        struct in_addr a;
        if (inet_pton(AF_INET, ip, &a) != 1) {
            snprintf(err, errlen, "%s: host '%s' has an invalid ip property '%s'", path, h->name, ip);
            return -1;
        }
        inet_ntop(AF_INET, &a, h->ip, sizeof h->ip);
        if (ip_in_use(s, i, h->ip)) {
            snprintf(err, errlen, "%s: ip %s is given to two hosts", path, h->ip);
            return -1;
        }
    }
    uint32_t next = (10u << 24) | 1; /* 10.0.0.1 */
    for (size_t i = 0; i < s->nhosts; i++) {
        struct vhost *h = &s->hosts[i];
        if (h->ip[0])
            continue;
        for (;; next++) {
            struct in_addr a = {htonl(next)};
            inet_ntop(AF_INET, &a, h->ip, sizeof h->ip);
            bool used = false;
            for (size_t j = 0; j < s->nhosts; j++)
                used |= j != i && !strcmp(s->hosts[j].ip, h->ip);
            if (!used && (next & 0xff) != 0 && (next & 0xff) != 255)
                break;
        }
        next++;
    }
    for (size_t i = 0; i < s->nhosts; i++) {
        struct in_addr a;
        inet_pton(AF_INET, s->hosts[i].ip, &a);
        s->hosts[i].addr = a.s_addr;
        s->hosts[i].next_ephemeral = 32768;
    }
    return 0;
}

int platform_write_hosts_file(const struct supervisor *s, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "we");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f, "# Generated by simterpose: the hosts of the simulated platform.\n"
               "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    for (size_t i = 0; i < s->nhosts; i++)
        fprintf(f, "%s\t%s\n", s->hosts[i].ip, s->hosts[i].name);
    if (fclose(f) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
