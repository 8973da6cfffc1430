#include "report.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "../filters/filter.h"

bool group_succeeded(const struct group *g)
{
    return g->end == END_EXITED && WEXITSTATUS(g->status) == 0;
}

void group_outcome(const struct group *g, char *buf, size_t len)
{
    switch (g->end) {
    case END_EXITED:
        snprintf(buf, len, "exited %d", WEXITSTATUS(g->status));
        break;
    case END_SIGNALED:
        snprintf(buf, len, "killed by SIG%s%s%s%s", sigabbrev_np(WTERMSIG(g->status)) ?: "?",
                 g->killed ? " (" : "", g->killed ? g->kill_reason : "", g->killed ? ")" : "");
        break;
    case END_LAUNCH_FAILED:
        snprintf(buf, len, "failed to launch");
        break;
    case END_RUNNING:
        snprintf(buf, len, "still running at the end (killed)");
        break;
    }
}

void report_summary(const struct supervisor *s, double wall_s)
{
    double sim_s = (double)sim_now_ns() / 1e9;
    fprintf(stderr, "simterpose: simulated time %.6f s, wall time %.3f s, %zu process%s\n", sim_s, wall_s,
            s->ngroups, s->ngroups == 1 ? "" : "es");
    for (size_t i = 0; i < s->ngroups; i++) {
        const struct group *g = &s->groups[i];
        char out[128];
        group_outcome(g, out, sizeof out);
        fprintf(stderr, "  %-16s %-24s %s at %.6f s\n", g->host->name, g->name, out, (double)g->end_ns / 1e9);
    }
}

static void json_string(FILE *f, const char *str)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)str; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

_Static_assert(TRAP_CLASS_COUNT <= 8, "struct usage holds 8 classes");

static void usage_add(struct usage *sum, const struct usage *u)
{
    for (int c = 0; c < TRAP_CLASS_COUNT; c++)
        sum->syscalls_by_class[c] += u->syscalls_by_class[c];
    sum->bytes_sent += u->bytes_sent;
    sum->bytes_received += u->bytes_received;
    sum->cpu_ns += u->cpu_ns;
    sum->cpu_sim_ns += u->cpu_sim_ns;
    sum->blocked_ns += u->blocked_ns;
}

static void json_usage(FILE *f, const struct usage *u)
{
    fprintf(f, "{\"syscalls\": {");
    for (int c = 0; c < TRAP_CLASS_COUNT; c++)
        fprintf(f, "%s\"%s\": %llu", c ? ", " : "", trap_class_name((enum trap_class)c),
                (unsigned long long)u->syscalls_by_class[c]);
    fprintf(f, "}, \"bytes_sent\": %llu, \"bytes_received\": %llu, \"cpu_time\": %.9f, \"cpu_simulated_time\": %.9f, "
               "\"blocked_time\": %.9f}",
            (unsigned long long)u->bytes_sent, (unsigned long long)u->bytes_received, (double)u->cpu_ns / 1e9,
            (double)u->cpu_sim_ns / 1e9, (double)u->blocked_ns / 1e9);
}

int report_stats(const struct supervisor *s, const char *path, double wall_s)
{
    FILE *f = fopen(path, "we");
    if (!f) {
        fprintf(stderr, "simterpose: cannot write stats to %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "{\n  \"simulated_time\": %.9f,\n  \"wall_time\": %.6f,\n  \"epoch\": %lld,\n",
            (double)sim_now_ns() / 1e9, wall_s, (long long)s->opt->epoch);
    fprintf(f, "  \"backend\": ");
    json_string(f, s->backend->name);
    fprintf(f, ",\n  \"processes\": [");
    for (size_t i = 0; i < s->ngroups; i++) {
        const struct group *g = &s->groups[i];
        fprintf(f, "%s\n    {\"host\": ", i ? "," : "");
        json_string(f, g->host->name);
        fprintf(f, ", \"name\": ");
        json_string(f, g->name);
        fprintf(f, ", \"program\": ");
        json_string(f, g->exe);
        fprintf(f, ", \"argv\": [");
        for (int a = 0; a < g->spec->argc; a++) {
            fprintf(f, "%s", a ? ", " : "");
            json_string(f, g->spec->argv[a]);
        }
        fprintf(f, "], ");
        if (g->end == END_EXITED)
            fprintf(f, "\"exit_status\": %d, \"signal\": null", WEXITSTATUS(g->status));
        else if (g->end == END_SIGNALED)
            fprintf(f, "\"exit_status\": null, \"signal\": \"SIG%s\"", sigabbrev_np(WTERMSIG(g->status)) ?: "?");
        else
            fprintf(f, "\"exit_status\": null, \"signal\": null");
        fprintf(f, ", \"killed_at_kill_time\": %s, \"start_time\": %.9f, \"end_time\": %.9f, \"stdout\": ",
                g->killed && !strcmp(g->kill_reason, "kill_time") ? "true" : "false", g->spec->start_time, (double)g->end_ns / 1e9);
        json_string(f, g->stdout_path);
        fprintf(f, ", \"stderr\": ");
        json_string(f, g->stderr_path);
        fprintf(f, ",\n     \"usage\": ");
        json_usage(f, &g->usage);
        fprintf(f, "}");
    }
    fprintf(f, "\n  ],\n  \"hosts\": [");
    for (size_t h = 0; h < s->nhosts; h++) {
        struct usage sum = {0};
        for (size_t i = 0; i < s->ngroups; i++)
            if (s->groups[i].host == &s->hosts[h])
                usage_add(&sum, &s->groups[i].usage);
        fprintf(f, "%s\n    {\"host\": ", h ? "," : "");
        json_string(f, s->hosts[h].name);
        fprintf(f, ", \"usage\": ");
        json_usage(f, &sum);
        fprintf(f, "}");
    }
    fprintf(f, "\n  ],\n  \"cpu_model\": ");
    if (s->opt->cpu_model == CPU_MODEL_MEASURED)
        fprintf(f, "{\"model\": \"measured\", \"reference_speed\": %.6g, \"calibrated\": %s, \"threshold_us\": %d}",
                s->cpu_reference_speed, s->cpu_calibrated ? "true" : "false", s->opt->cpu_threshold_us);
    else
        fprintf(f, "{\"model\": \"off\"}");
    fprintf(f, ",\n  \"syscalls\": {");
    int first = 1;
    for (size_t i = 0; i < trap_table_len; i++) {
        if (!s->syscall_counts[i])
            continue;
        fprintf(f, "%s\n    ", first ? "" : ",");
        json_string(f, trap_table[i].name);
        fprintf(f, ": %llu", (unsigned long long)s->syscall_counts[i]);
        first = 0;
    }
    fprintf(f, "\n  }\n}\n");
    if (fclose(f) != 0) {
        fprintf(stderr, "simterpose: writing %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}
