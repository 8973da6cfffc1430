/* Simterpose -- parser for SimGrid deployment files (format 4.1), built on libexpat.
 *
 * Accepted structure (anything else is an error):
 *
 *   platform            root, optional attribute version
 *     actor | process   host, function (both required), start_time, kill_time, on_failure="DIE"
 *       argument        value (required)
 *       prop            ignored
 *
 * Safety notes:
 *  - no external entity, DTD or parameter entity is ever loaded (no external entity
 *    handler is installed and parameter entity parsing is forced off);
 *  - entity declarations are refused outright, which also rules out entity
 *    expansion bombs;
 *  - input is capped at DEPLOY_MAX_INPUT_SIZE and nesting can never go deeper than
 *    three elements before an error stops the parser; the code has no recursion.
 */
#include "deploy.h"

#include <errno.h>
#include <expat.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_CHUNK ((size_t)64 * 1024)
#define PARSE_CHUNK ((size_t)1024 * 1024) /* XML_Parse takes an int length */

enum elem_kind { ELEM_PLATFORM, ELEM_ACTOR, ELEM_ARGUMENT, ELEM_PROP };

#define MAX_DEPTH 3 /* platform > actor > argument|prop */

struct parse_state {
    XML_Parser parser;
    const char *name; /* file name used in messages */
    char *err;
    size_t errlen;
    int failed;

    enum elem_kind stack[MAX_DEPTH];
    int depth;

    struct deploy_actor *actors;
    size_t n, cap;
    size_t argv_cap; /* capacity of actors[n-1].argv while that actor is open */

    /* Scanner for entity references in the raw text of a start tag (see on_default). */
    int capturing;
    int in_ref;
    int ref_overflow;
    size_t ref_len;
    char ref[16];
};

/* ------------------------------------------------------------------------ */
/* Error reporting                                                          */
/* ------------------------------------------------------------------------ */

static void vset_error(char *err, size_t errlen, const char *name, long line, const char *fmt, va_list ap)
{
    if (err == NULL || errlen == 0)
        return;
    int off;
    if (line > 0)
        off = snprintf(err, errlen, "%s:%ld: ", name, line);
    else
        off = snprintf(err, errlen, "%s: ", name);
    if (off < 0) {
        err[0] = '\0';
        return;
    }
    if ((size_t)off < errlen)
        vsnprintf(err + off, errlen - (size_t)off, fmt, ap);
    /* Keep the message on one line whatever the input contained. */
    for (char *c = err; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
}

static void set_error(char *err, size_t errlen, const char *name, long line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void set_error(char *err, size_t errlen, const char *name, long line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset_error(err, errlen, name, line, fmt, ap);
    va_end(ap);
}

static long current_line(const struct parse_state *st)
{
    return (long)XML_GetCurrentLineNumber(st->parser);
}

/* Record the first error, at the current parser line, and stop the parser. */
static void fail(struct parse_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct parse_state *st, const char *fmt, ...)
{
    if (st->failed)
        return;
    st->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vset_error(st->err, st->errlen, st->name, current_line(st), fmt, ap);
    va_end(ap);
    XML_StopParser(st->parser, XML_FALSE);
}

static void *fail_oom(struct parse_state *st)
{
    fail(st, "out of memory");
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static const char *elem_name(enum elem_kind k)
{
    switch (k) {
    case ELEM_PLATFORM:
        return "platform";
    case ELEM_ACTOR:
        return "actor";
    case ELEM_ARGUMENT:
        return "argument";
    case ELEM_PROP:
        return "prop";
    }
    return "?";
}

/* Parse a non-negative finite number of seconds; the whole string must be consumed. */
static int parse_seconds(const char *s, double *out)
{
    if (s[0] == '\0' || s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r' || s[0] == '\f' ||
        s[0] == '\v')
        return -1;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0')
        return -1;
    if (!isfinite(v) || v < 0)
        return -1;
    *out = v == 0 ? 0.0 : v; /* turns -0 into 0 */
    return 0;
}

static void free_actor(struct deploy_actor *a)
{
    free(a->host);
    free(a->function);
    if (a->argv != NULL) {
        for (int i = 0; i < a->argc; i++)
            free(a->argv[i]);
        free(a->argv);
    }
    memset(a, 0, sizeof(*a));
}

static void free_actors(struct deploy_actor *actors, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free_actor(&actors[i]);
    free(actors);
}

/* Append a copy of S to the argv of the open actor. */
static int push_arg(struct parse_state *st, const char *s)
{
    struct deploy_actor *a = &st->actors[st->n - 1];
    /* Need room for the new element and the NULL terminator. */
    if ((size_t)a->argc + 2 > st->argv_cap) {
        if (a->argc >= (1 << 28)) {
            fail(st, "too many <argument> elements");
            return -1;
        }
        size_t ncap = st->argv_cap ? st->argv_cap * 2 : 8;
        char **nv = realloc(a->argv, ncap * sizeof(*nv));
        if (nv == NULL) {
            fail_oom(st);
            return -1;
        }
        a->argv = nv;
        st->argv_cap = ncap;
    }
    char *copy = strdup(s);
    if (copy == NULL) {
        fail_oom(st);
        return -1;
    }
    a->argv[a->argc++] = copy;
    a->argv[a->argc] = NULL;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Element handlers                                                         */
/* ------------------------------------------------------------------------ */

static void start_platform(struct parse_state *st, const char **atts)
{
    for (size_t i = 0; atts[i] != NULL; i += 2) {
        if (strcmp(atts[i], "version") == 0)
            continue;
        fail(st, "unknown attribute '%s' on <platform>", atts[i]);
        return;
    }
}

static void start_actor(struct parse_state *st, const char *tag, const char **atts)
{
    const char *host = NULL, *function = NULL, *start = NULL, *kill = NULL;
    for (size_t i = 0; atts[i] != NULL; i += 2) {
        const char *k = atts[i], *v = atts[i + 1];
        if (strcmp(k, "host") == 0) {
            host = v;
        } else if (strcmp(k, "function") == 0) {
            function = v;
        } else if (strcmp(k, "start_time") == 0) {
            start = v;
        } else if (strcmp(k, "kill_time") == 0) {
            kill = v;
        } else if (strcmp(k, "on_failure") == 0) {
            if (strcmp(v, "DIE") != 0) {
                fail(st, "<%s> on_failure=\"%s\" is not supported (only \"DIE\")", tag, v);
                return;
            }
        } else {
            fail(st, "unknown attribute '%s' on <%s>", k, tag);
            return;
        }
    }
    if (host == NULL) {
        fail(st, "<%s> is missing the 'host' attribute", tag);
        return;
    }
    if (host[0] == '\0') {
        fail(st, "<%s> has an empty 'host' attribute", tag);
        return;
    }
    if (function == NULL) {
        fail(st, "<%s> is missing the 'function' attribute", tag);
        return;
    }
    if (function[0] == '\0') {
        fail(st, "<%s> has an empty 'function' attribute", tag);
        return;
    }
    double start_time = 0, kill_time = -1;
    if (start != NULL && parse_seconds(start, &start_time) != 0) {
        fail(st, "invalid start_time \"%s\" on <%s>: expected a finite number of seconds >= 0", start, tag);
        return;
    }
    if (kill != NULL) {
        if (parse_seconds(kill, &kill_time) != 0) {
            fail(st, "invalid kill_time \"%s\" on <%s>: expected a finite number of seconds >= 0", kill, tag);
            return;
        }
        /* An absent start_time means 0: a kill_time of 0 would kill the actor before it starts. */
        if (kill_time <= start_time) {
            fail(st, "kill_time (%g) must be greater than start_time (%g) on <%s>", kill_time, start_time, tag);
            return;
        }
    }

    if (st->n == st->cap) {
        size_t ncap = st->cap ? st->cap * 2 : 8;
        if (ncap > ((size_t)-1) / sizeof(*st->actors)) {
            fail_oom(st);
            return;
        }
        struct deploy_actor *na = realloc(st->actors, ncap * sizeof(*na));
        if (na == NULL) {
            fail_oom(st);
            return;
        }
        st->actors = na;
        st->cap = ncap;
    }
    struct deploy_actor *a = &st->actors[st->n++];
    memset(a, 0, sizeof(*a));
    st->argv_cap = 0;
    a->start_time = start_time;
    a->kill_time = kill_time;
    long line = current_line(st);
    a->line = line > 0 && line < (long)1 << 30 ? (int)line : 0;
    a->host = strdup(host);
    a->function = strdup(function);
    if (a->host == NULL || a->function == NULL) {
        fail_oom(st);
        return;
    }
    push_arg(st, function); /* argv[0] */
}

static void start_argument(struct parse_state *st, const char **atts)
{
    const char *value = NULL;
    for (size_t i = 0; atts[i] != NULL; i += 2) {
        if (strcmp(atts[i], "value") == 0) {
            value = atts[i + 1];
        } else {
            fail(st, "unknown attribute '%s' on <argument>", atts[i]);
            return;
        }
    }
    if (value == NULL) {
        fail(st, "<argument> is missing the 'value' attribute");
        return;
    }
    push_arg(st, value);
}

static int is_actor_tag(const char *name)
{
    return strcmp(name, "actor") == 0 || strcmp(name, "process") == 0;
}

static int is_predefined_entity(const char *n, size_t len)
{
    static const char *const names[] = {"lt", "gt", "amp", "quot", "apos"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i]) == len && memcmp(names[i], n, len) == 0)
            return 1;
    return 0;
}

/* Expat silently drops references to undeclared entities inside attribute values when
 * the document names an external DTD it did not read (as every SimGrid file does).
 * To refuse them instead, on_start replays the raw start tag through this handler
 * (XML_DefaultCurrent) and every '&name;' in it is checked: inside a well-formed tag
 * '&' can only start a reference in an attribute value. Entity declarations are
 * refused, so only character references and the five predefined entities are valid. */
static void XMLCALL on_default(void *ud, const XML_Char *s, int len)
{
    struct parse_state *st = ud;
    if (!st->capturing || st->failed)
        return;
    for (int i = 0; i < len; i++) {
        char c = s[i];
        if (!st->in_ref) {
            if (c == '&') {
                st->in_ref = 1;
                st->ref_len = 0;
                st->ref_overflow = 0;
            }
            continue;
        }
        if (c != ';') {
            if (st->ref_len < sizeof(st->ref))
                st->ref[st->ref_len++] = c;
            else
                st->ref_overflow = 1;
            continue;
        }
        st->in_ref = 0;
        if (st->ref_len > 0 && st->ref[0] == '#')
            continue; /* character reference, already checked by expat */
        if (!st->ref_overflow && is_predefined_entity(st->ref, st->ref_len))
            continue;
        fail(st, "undefined entity &%.*s%s; in attribute value", (int)st->ref_len, st->ref,
             st->ref_overflow ? "..." : "");
        return;
    }
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct parse_state *st = ud;
    if (st->failed)
        return;

    st->capturing = 1;
    st->in_ref = 0;
    XML_DefaultCurrent(st->parser);
    st->capturing = 0;
    if (st->failed)
        return;

    if (st->depth == 0) {
        if (strcmp(name, "platform") != 0) {
            fail(st, "root element is <%s>, expected <platform>", name);
            return;
        }
        start_platform(st, atts);
        st->stack[st->depth++] = ELEM_PLATFORM;
        return;
    }

    enum elem_kind parent = st->stack[st->depth - 1];
    enum elem_kind kind;
    switch (parent) {
    case ELEM_PLATFORM:
        if (is_actor_tag(name)) {
            kind = ELEM_ACTOR;
            start_actor(st, name, atts);
        } else if (strcmp(name, "argument") == 0) {
            fail(st, "<argument> outside of an <actor>");
            return;
        } else if (strcmp(name, "prop") == 0) {
            fail(st, "<prop> outside of an <actor>");
            return;
        } else {
            fail(st, "unknown element <%s> in deployment file (only <actor> or <process> may appear in <platform>)",
                 name);
            return;
        }
        break;
    case ELEM_ACTOR:
        if (strcmp(name, "argument") == 0) {
            kind = ELEM_ARGUMENT;
            start_argument(st, atts);
        } else if (strcmp(name, "prop") == 0) {
            kind = ELEM_PROP; /* accepted and ignored */
        } else if (is_actor_tag(name)) {
            fail(st, "<%s> nested inside another <actor>", name);
            return;
        } else {
            fail(st, "unknown element <%s> inside <actor> (only <argument> or <prop> allowed)", name);
            return;
        }
        break;
    case ELEM_ARGUMENT:
    case ELEM_PROP:
    default:
        fail(st, "unexpected element <%s> inside <%s> (it must be empty)", name, elem_name(parent));
        return;
    }
    if (st->failed)
        return;
    st->stack[st->depth++] = kind;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    (void)name; /* expat already checked that tags match */
    struct parse_state *st = ud;
    if (st->failed || st->depth == 0)
        return;
    st->depth--;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct parse_state *st = ud;
    if (st->failed || st->depth == 0)
        return;
    for (int i = 0; i < len; i++) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            continue;
        int shown = len - i < 20 ? len - i : 20;
        fail(st, "unexpected text \"%.*s\" inside <%s>", shown, s + i, elem_name(st->stack[st->depth - 1]));
        return;
    }
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *entityName, int is_parameter_entity,
                                   const XML_Char *value, int value_length, const XML_Char *base,
                                   const XML_Char *systemId, const XML_Char *publicId, const XML_Char *notationName)
{
    (void)value;
    (void)value_length;
    (void)base;
    (void)systemId;
    (void)publicId;
    (void)notationName;
    struct parse_state *st = ud;
    fail(st, "entity declarations are not allowed in a deployment file (%s%s)", is_parameter_entity ? "%" : "",
         entityName);
}

static void XMLCALL on_skipped_entity(void *ud, const XML_Char *entityName, int is_parameter_entity)
{
    struct parse_state *st = ud;
    fail(st, "undefined entity %s%s;", is_parameter_entity ? "%" : "&", entityName);
}

/* ------------------------------------------------------------------------ */
/* Driver                                                                   */
/* ------------------------------------------------------------------------ */

static int state_init(struct parse_state *st, const char *name, char *err, size_t errlen)
{
    memset(st, 0, sizeof(*st));
    st->name = name;
    st->err = err;
    st->errlen = errlen;
    st->parser = XML_ParserCreate(NULL);
    if (st->parser == NULL) {
        set_error(err, errlen, name, 0, "out of memory (cannot create XML parser)");
        return -1;
    }
    /* Never read the external DTD nor any external parameter entity. No external
     * entity reference handler is installed either, so nothing is ever fetched. */
    XML_SetParamEntityParsing(st->parser, XML_PARAM_ENTITY_PARSING_NEVER);
    XML_SetUserData(st->parser, st);
    XML_SetElementHandler(st->parser, on_start, on_end);
    XML_SetCharacterDataHandler(st->parser, on_text);
    XML_SetEntityDeclHandler(st->parser, on_entity_decl);
    XML_SetSkippedEntityHandler(st->parser, on_skipped_entity);
    XML_SetDefaultHandlerExpand(st->parser, on_default);
    return 0;
}

/* Turn the outcome of an XML_Parse/XML_ParseBuffer call into our error, if any.
 * Returns 0 when parsing may go on. */
static int check_status(struct parse_state *st, enum XML_Status status)
{
    if (status == XML_STATUS_OK && !st->failed)
        return 0;
    if (!st->failed) {
        st->failed = 1;
        set_error(st->err, st->errlen, st->name, (long)XML_GetCurrentLineNumber(st->parser), "malformed XML: %s",
                  XML_ErrorString(XML_GetErrorCode(st->parser)));
    }
    return -1;
}

/* Final checks and hand-over of the result. Frees everything on error. */
static int state_finish(struct parse_state *st, int ok, struct deployment *out)
{
    if (ok && !st->failed && st->n == 0) {
        st->failed = 1;
        set_error(st->err, st->errlen, st->name, 0, "no <actor> in deployment");
    }
    XML_ParserFree(st->parser);
    st->parser = NULL;
    if (!ok || st->failed) {
        free_actors(st->actors, st->n);
        return -1;
    }
    if (st->n < st->cap) {
        struct deploy_actor *shrunk = realloc(st->actors, st->n * sizeof(*shrunk));
        if (shrunk != NULL)
            st->actors = shrunk;
    }
    out->actors = st->actors;
    out->n = st->n;
    return 0;
}

int deployment_parse_buffer(const char *name, const char *buf, size_t len, struct deployment *out, char *err,
                            size_t errlen)
{
    if (out == NULL)
        return -1;
    out->actors = NULL;
    out->n = 0;
    if (name == NULL)
        name = "<buffer>";
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (buf == NULL && len > 0) {
        set_error(err, errlen, name, 0, "no input buffer");
        return -1;
    }
    if (len > DEPLOY_MAX_INPUT_SIZE) {
        set_error(err, errlen, name, 0, "input too large (%zu bytes, limit is %zu MiB)", len,
                  DEPLOY_MAX_INPUT_SIZE >> 20);
        return -1;
    }

    struct parse_state st;
    if (state_init(&st, name, err, errlen) != 0)
        return -1;

    int ok = 1;
    size_t off = 0;
    do {
        size_t chunk = len - off < PARSE_CHUNK ? len - off : PARSE_CHUNK;
        int final = off + chunk == len;
        if (check_status(&st, XML_Parse(st.parser, buf ? buf + off : "", (int)chunk, final)) != 0) {
            ok = 0;
            break;
        }
        off += chunk;
    } while (off < len);

    return state_finish(&st, ok, out);
}

int deployment_parse_file(const char *path, struct deployment *out, char *err, size_t errlen)
{
    if (out == NULL)
        return -1;
    out->actors = NULL;
    out->n = 0;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (path == NULL) {
        set_error(err, errlen, "(null)", 0, "no file name given");
        return -1;
    }

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        set_error(err, errlen, path, 0, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        set_error(err, errlen, path, 0, "cannot stat: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (S_ISDIR(sb.st_mode)) {
        set_error(err, errlen, path, 0, "cannot read: %s", strerror(EISDIR));
        close(fd);
        return -1;
    }
    if (S_ISREG(sb.st_mode) && (unsigned long long)sb.st_size > DEPLOY_MAX_INPUT_SIZE) {
        set_error(err, errlen, path, 0, "file too large (%lld bytes, limit is %zu MiB)", (long long)sb.st_size,
                  DEPLOY_MAX_INPUT_SIZE >> 20);
        close(fd);
        return -1;
    }

    struct parse_state st;
    if (state_init(&st, path, err, errlen) != 0) {
        close(fd);
        return -1;
    }

    /* Stream the file into expat; also enforces the size cap on pipes and the like. */
    int ok = 1;
    size_t total = 0;
    for (;;) {
        void *dst = XML_GetBuffer(st.parser, (int)READ_CHUNK);
        if (dst == NULL) {
            check_status(&st, XML_STATUS_ERROR);
            ok = 0;
            break;
        }
        ssize_t r;
        do
            r = read(fd, dst, READ_CHUNK);
        while (r < 0 && errno == EINTR);
        if (r < 0) {
            st.failed = 1;
            set_error(err, errlen, path, 0, "read error: %s", strerror(errno));
            ok = 0;
            break;
        }
        total += (size_t)r;
        if (total > DEPLOY_MAX_INPUT_SIZE) {
            st.failed = 1;
            set_error(err, errlen, path, 0, "file too large (more than %zu MiB)", DEPLOY_MAX_INPUT_SIZE >> 20);
            ok = 0;
            break;
        }
        if (check_status(&st, XML_ParseBuffer(st.parser, (int)r, r == 0)) != 0) {
            ok = 0;
            break;
        }
        if (r == 0)
            break;
    }
    close(fd);
    return state_finish(&st, ok, out);
}

void deployment_free(struct deployment *d)
{
    if (d == NULL)
        return;
    free_actors(d->actors, d->n);
    d->actors = NULL;
    d->n = 0;
}
