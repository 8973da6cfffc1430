/* Simterpose -- parser for SimGrid deployment files (format 4.1).
 *
 * A deployment file lists the programs to start on the simulated platform:
 *
 *   <?xml version='1.0'?>
 *   <!DOCTYPE platform SYSTEM "https://simgrid.org/simgrid.dtd">
 *   <platform version="4.1">
 *     <actor host="alice" function="/bin/sh" start_time="2" kill_time="10">
 *       <argument value="-c"/>
 *       <argument value="date"/>
 *     </actor>
 *   </platform>
 *
 * <process> is accepted as a legacy synonym of <actor>; <prop id=".." value=".."/>
 * inside an actor is accepted and ignored. Anything else is rejected.
 */
#ifndef SIMTERPOSE_DEPLOY_H
#define SIMTERPOSE_DEPLOY_H

#include <stddef.h>

/* Files (and buffers) larger than this are refused. */
#define DEPLOY_MAX_INPUT_SIZE ((size_t)64 * 1024 * 1024)

struct deploy_actor {
    char *host;        /* <actor host=...> */
    char *function;    /* <actor function=...>: the program (absolute path or name looked up in PATH later) */
    char **argv;       /* NULL-terminated; argv[0] = function, then each <argument value=...> in order */
    int argc;
    double start_time; /* seconds, 0 when absent */
    double kill_time;  /* seconds, -1 when absent */
    int line;          /* line of the <actor> element in the file, for error messages */
};

struct deployment {
    struct deploy_actor *actors;
    size_t n;
};

/* Parse the deployment file PATH into *OUT.
 * Returns 0, or -1 with a one-line message in ERR (no trailing newline) of the form
 * "PATH:LINE: what is wrong" (or "PATH: what is wrong" when no line applies, e.g.
 * unreadable file, with strerror). On error *OUT is left empty ({NULL, 0}).
 * ERR may be NULL or ERRLEN 0 when the caller does not want the message. */
int deployment_parse_file(const char *path, struct deployment *out, char *err, size_t errlen);

/* Same, from memory. NAME is used in place of a path in error messages. */
int deployment_parse_buffer(const char *name, const char *buf, size_t len, struct deployment *out, char *err,
                            size_t errlen);

/* Release everything held by *D and reset it to {NULL, 0}. Safe on an empty deployment. */
void deployment_free(struct deployment *d);

#endif /* SIMTERPOSE_DEPLOY_H */
