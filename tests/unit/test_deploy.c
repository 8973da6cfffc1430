/* Unit tests for the deployment-file parser (supervisor/deploy.c). */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deploy.h"

#define HEADER                                                                                                 \
    "<?xml version='1.0'?>\n"                                                                                  \
    "<!DOCTYPE platform SYSTEM \"https://simgrid.org/simgrid.dtd\">\n"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static int parse_str(const char *xml, struct deployment *d, char *err, size_t errlen)
{
    return deployment_parse_buffer("t.xml", xml, strlen(xml), d, err, errlen);
}

/* Parse XML, expect a failure whose message starts with PREFIX (e.g. "t.xml:4: ")
 * and contains every keyword given. */
static void expect_error(const char *xml, const char *prefix, const char *kw1, const char *kw2)
{
    struct deployment d = {(void *)1, 42};
    char err[512];
    memset(err, 'x', sizeof(err));
    int rc = parse_str(xml, &d, err, sizeof(err));
    cr_assert_eq(rc, -1, "expected failure for:\n%s", xml);
    cr_assert_null(d.actors, "actors must be NULL on failure");
    cr_assert_eq(d.n, 0);
    cr_assert(strncmp(err, prefix, strlen(prefix)) == 0, "message '%s' should start with '%s'", err, prefix);
    if (kw1)
        cr_assert(strstr(err, kw1) != NULL, "message '%s' should contain '%s'", err, kw1);
    if (kw2)
        cr_assert(strstr(err, kw2) != NULL, "message '%s' should contain '%s'", err, kw2);
    cr_assert(strchr(err, '\n') == NULL, "message '%s' must be one line", err);
    cr_assert(err[strlen(err) - 1] != ' ', "message '%s' has a trailing space", err);
}

static char *write_temp(const char *content)
{
    char *path = strdup("/tmp/test_deploy_XXXXXX");
    cr_assert_not_null(path);
    int fd = mkstemp(path);
    cr_assert(fd >= 0, "mkstemp: %s", strerror(errno));
    size_t len = strlen(content);
    cr_assert_eq(write(fd, content, len), (ssize_t)len);
    close(fd);
    return path;
}

static void check_argv(const struct deploy_actor *a, int argc, const char *const *expected)
{
    cr_assert_eq(a->argc, argc, "argc is %d, expected %d", a->argc, argc);
    cr_assert_not_null(a->argv);
    for (int i = 0; i < argc; i++)
        cr_assert_str_eq(a->argv[i], expected[i], "argv[%d]", i);
    cr_assert_null(a->argv[argc], "argv must be NULL-terminated");
}

/* ------------------------------------------------------------------------ */
/* Valid input                                                              */
/* ------------------------------------------------------------------------ */

static const char three_actors[] = HEADER                                           /* lines 1-2 */
    "<platform version=\"4.1\">\n"                                                  /* 3 */
    "  <!-- first actor -->\n"                                                      /* 4 */
    "  <actor host=\"alice\" function=\"/bin/sh\" start_time=\"2\" kill_time=\"10\">\n" /* 5 */
    "    <argument value=\"-c\"/>\n"                                                /* 6 */
    "    <argument value=\"date; echo &quot;a &amp; b&quot; &lt;x&gt;\"/>\n"      /* 7 */
    "  </actor>\n"                                                                  /* 8 */
    "  <actor host=\"bob\" function=\"server\">\n"                                  /* 9 */
    "    <prop id=\"foo\" value=\"bar\"/>\n"                                        /* 10 */
    "    <argument value=\"\"/>\n"                                                  /* 11 */
    "    <argument value=\"--port=80\"/>\n"                                         /* 12 */
    "    <argument value=\"caf&#xE9;\"/>\n"                                         /* 13 */
    "  </actor>\n"                                                                  /* 14 */
    "\n"                                                                            /* 15 */
    "  <actor host=\"carol\" function=\"/usr/bin/env\" start_time=\"0.5\"/>\n"       /* 16 */
    "  <actor host=\"dave\" function=\"true\" kill_time=\"1e3\"></actor>\n"         /* 17 */
    "</platform>\n";

static void check_three_actors(const struct deployment *d)
{
    cr_assert_eq(d->n, 4);
    const struct deploy_actor *a = &d->actors[0];
    cr_assert_str_eq(a->host, "alice");
    cr_assert_str_eq(a->function, "/bin/sh");
    cr_assert_float_eq(a->start_time, 2.0, 1e-12);
    cr_assert_float_eq(a->kill_time, 10.0, 1e-12);
    cr_assert_eq(a->line, 5);
    check_argv(a, 3, (const char *const[]){"/bin/sh", "-c", "date; echo \"a & b\" <x>"});

    a = &d->actors[1];
    cr_assert_str_eq(a->host, "bob");
    cr_assert_str_eq(a->function, "server");
    cr_assert_float_eq(a->start_time, 0.0, 1e-12);
    cr_assert_float_eq(a->kill_time, -1.0, 1e-12);
    cr_assert_eq(a->line, 9);
    check_argv(a, 4, (const char *const[]){"server", "", "--port=80", "caf\xc3\xa9"});

    a = &d->actors[2];
    cr_assert_str_eq(a->host, "carol");
    cr_assert_str_eq(a->function, "/usr/bin/env");
    cr_assert_float_eq(a->start_time, 0.5, 1e-12);
    cr_assert_float_eq(a->kill_time, -1.0, 1e-12);
    cr_assert_eq(a->line, 16);
    check_argv(a, 1, (const char *const[]){"/usr/bin/env"});

    a = &d->actors[3];
    cr_assert_str_eq(a->host, "dave");
    cr_assert_str_eq(a->function, "true");
    cr_assert_float_eq(a->start_time, 0.0, 1e-12);
    cr_assert_float_eq(a->kill_time, 1000.0, 1e-12);
    cr_assert_eq(a->line, 17);
    check_argv(a, 1, (const char *const[]){"true"});
}

Test(deploy, valid_buffer_all_fields)
{
    struct deployment d;
    char err[256] = "";
    cr_assert_eq(parse_str(three_actors, &d, err, sizeof(err)), 0, "unexpected error: %s", err);
    check_three_actors(&d);
    deployment_free(&d);
    cr_assert_null(d.actors);
    cr_assert_eq(d.n, 0);
    deployment_free(&d); /* twice is harmless */
}

Test(deploy, valid_file_all_fields)
{
    char *path = write_temp(three_actors);
    struct deployment d;
    char err[256] = "";
    int rc = deployment_parse_file(path, &d, err, sizeof(err));
    unlink(path);
    free(path);
    cr_assert_eq(rc, 0, "unexpected error: %s", err);
    check_three_actors(&d);
    deployment_free(&d);
}

Test(deploy, legacy_process_element)
{
    static const char xml[] = HEADER "<platform version=\"4.1\">\n"
                                     "<process host=\"alice\" function=\"/bin/echo\" start_time=\"1.5\">\n"
                                     "  <argument value=\"hi\"/>\n"
                                     "</process>\n"
                                     "<actor host=\"bob\" function=\"/bin/true\"/>\n"
                                     "</platform>\n";
    struct deployment d;
    char err[256] = "";
    cr_assert_eq(parse_str(xml, &d, err, sizeof(err)), 0, "unexpected error: %s", err);
    cr_assert_eq(d.n, 2);
    cr_assert_str_eq(d.actors[0].host, "alice");
    cr_assert_str_eq(d.actors[0].function, "/bin/echo");
    cr_assert_float_eq(d.actors[0].start_time, 1.5, 1e-12);
    cr_assert_float_eq(d.actors[0].kill_time, -1.0, 1e-12);
    cr_assert_eq(d.actors[0].line, 4);
    check_argv(&d.actors[0], 2, (const char *const[]){"/bin/echo", "hi"});
    cr_assert_str_eq(d.actors[1].host, "bob");
    cr_assert_eq(d.actors[1].line, 7);
    deployment_free(&d);
}

Test(deploy, no_doctype_and_many_arguments)
{
    /* Enough arguments to exercise the argv growth several times. */
    size_t cap = 64 * 1024;
    char *xml = malloc(cap);
    cr_assert_not_null(xml);
    size_t off = (size_t)snprintf(xml, cap, "<platform><actor host='h' function='f'>");
    for (int i = 0; i < 1000; i++)
        off += (size_t)snprintf(xml + off, cap - off, "<argument value='a%d'/>", i);
    snprintf(xml + off, cap - off, "</actor></platform>");
    struct deployment d;
    char err[256] = "";
    int rc = parse_str(xml, &d, err, sizeof(err));
    free(xml);
    cr_assert_eq(rc, 0, "unexpected error: %s", err);
    cr_assert_eq(d.n, 1);
    cr_assert_eq(d.actors[0].argc, 1001);
    cr_assert_str_eq(d.actors[0].argv[0], "f");
    cr_assert_str_eq(d.actors[0].argv[1], "a0");
    cr_assert_str_eq(d.actors[0].argv[1000], "a999");
    cr_assert_null(d.actors[0].argv[1001]);
    deployment_free(&d);
}

Test(deploy, null_err_buffer_is_accepted)
{
    struct deployment d;
    cr_assert_eq(parse_str("<platform/>", &d, NULL, 0), -1);
    cr_assert_eq(parse_str("<platform><actor host='a' function='b'/></platform>", &d, NULL, 0), 0);
    deployment_free(&d);
}

/* ------------------------------------------------------------------------ */
/* Rejections                                                               */
/* ------------------------------------------------------------------------ */

Test(deploy, malformed_xml)
{
    expect_error(HEADER "<platform version=\"4.1\">\n"
                        "  <actor host=\"a\" function=\"f\">\n"
                        "  </process>\n"
                        "</platform>\n",
                 "t.xml:5: ", "malformed XML", "mismatched tag");
    expect_error(HEADER "<platform>\n<actor host=\"a\" function=\"f\"/>\n", "t.xml:", "malformed XML",
                 "no element found");
    expect_error("<platform><actor host=\"a\" host=\"b\" function=\"f\"/></platform>", "t.xml:1: ",
                 "malformed XML", "duplicate attribute");
    expect_error("", "t.xml:1: ", "malformed XML", "no element found");
    expect_error("<platform/><platform/>", "t.xml:1: ", "malformed XML", "junk after document element");
}

Test(deploy, wrong_root)
{
    expect_error(HEADER "\n<actor host=\"a\" function=\"f\"/>\n", "t.xml:4: ", "root element", "<actor>");
    expect_error(HEADER "<deployment version=\"4.1\"/>\n", "t.xml:3: ", "root element", "<platform>");
}

Test(deploy, missing_host)
{
    expect_error(HEADER "<platform version=\"4.1\">\n"
                        "  <actor function=\"/bin/sh\">\n"
                        "  </actor>\n"
                        "</platform>\n",
                 "t.xml:4: ", "missing", "'host'");
    expect_error(HEADER "<platform version=\"4.1\">\n<actor host=\"\" function=\"/bin/sh\"/>\n</platform>\n",
                 "t.xml:4: ", "empty", "'host'");
}

Test(deploy, missing_function)
{
    expect_error(HEADER "<platform version=\"4.1\">\n"
                        "\n"
                        "  <process host=\"alice\"/>\n"
                        "</platform>\n",
                 "t.xml:5: ", "missing", "'function'");
}

Test(deploy, empty_function)
{
    expect_error(HEADER "<platform version=\"4.1\">\n"
                        "  <actor host=\"alice\" function=\"\"/>\n"
                        "</platform>\n",
                 "t.xml:4: ", "empty", "'function'");
}

static void expect_bad_time(const char *attr, const char *value)
{
    char xml[512];
    snprintf(xml, sizeof(xml),
             HEADER "<platform version=\"4.1\">\n"
                    "  <actor host=\"a\" function=\"f\"/>\n"
                    "  <actor host=\"a\" function=\"f\" %s=\"%s\"/>\n"
                    "</platform>\n",
             attr, value);
    char kw[128];
    snprintf(kw, sizeof(kw), "invalid %s", attr);
    expect_error(xml, "t.xml:5: ", kw, value);
}

Test(deploy, bad_start_time)
{
    const char *bad[] = {"abc", "", "-1", "-0.5", "nan", "NaN", "inf", "-inf", "infinity", "1s", "1 ", " 1",
                         "1e999", "2,5", "0x", "--1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_bad_time("start_time", bad[i]);
}

Test(deploy, bad_kill_time)
{
    const char *bad[] = {"abc", "", "-1", "nan", "inf", "10s", "1e999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_bad_time("kill_time", bad[i]);
}

Test(deploy, kill_time_not_after_start_time)
{
    expect_error(HEADER "<platform version=\"4.1\">\n"
                        "  <actor host=\"a\" function=\"f\" start_time=\"5\" kill_time=\"5\"/>\n"
                        "</platform>\n",
                 "t.xml:4: ", "kill_time", "start_time");
    expect_error(HEADER "<platform version=\"4.1\">\n"
                        "  <actor host=\"a\" function=\"f\"\n"
                        "         start_time=\"10\" kill_time=\"2.5\"/>\n"
                        "</platform>\n",
                 "t.xml:4: ", "kill_time (2.5)", "start_time (10)");
    /* Absent start_time means 0: a kill_time of 0 would kill before the start. */
    expect_error(HEADER "<platform version=\"4.1\">\n"
                        "  <actor host=\"a\" function=\"f\" kill_time=\"0\"/>\n"
                        "</platform>\n",
                 "t.xml:4: ", "kill_time", "greater than");
}

Test(deploy, zero_start_time_and_negative_zero_accepted)
{
    struct deployment d;
    char err[256] = "";
    cr_assert_eq(
        parse_str("<platform><actor host='a' function='f' start_time='-0' kill_time='0.001'/></platform>", &d, err,
                  sizeof(err)),
        0, "unexpected error: %s", err);
    cr_assert(d.actors[0].start_time == 0.0 && !signbit(d.actors[0].start_time));
    cr_assert_float_eq(d.actors[0].kill_time, 0.001, 1e-15);
    deployment_free(&d);
}

Test(deploy, argument_without_value)
{
    expect_error(HEADER "<platform version=\"4.1\">\n"
                        "  <actor host=\"a\" function=\"f\">\n"
                        "    <argument value=\"ok\"/>\n"
                        "    <argument/>\n"
                        "  </actor>\n"
                        "</platform>\n",
                 "t.xml:6: ", "<argument>", "'value'");
}

Test(deploy, argument_outside_actor)
{
    expect_error(HEADER "<platform version=\"4.1\">\n"
                        "  <actor host=\"a\" function=\"f\"/>\n"
                        "  <argument value=\"x\"/>\n"
                        "</platform>\n",
                 "t.xml:5: ", "<argument>", "outside");
}

Test(deploy, unknown_element_in_platform)
{
    expect_error(HEADER "<platform version=\"4.1\">\n"
                        "  <actor host=\"a\" function=\"f\"/>\n"
                        "  <host id=\"alice\" speed=\"1Gf\"/>\n"
                        "</platform>\n",
                 "t.xml:5: ", "unknown element", "<host>");
    expect_error(HEADER "<platform version=\"4.1\">\n"
                        "  <zone id=\"z\" routing=\"Full\"/>\n"
                        "</platform>\n",
                 "t.xml:4: ", "unknown element", "<zone>");
}

Test(deploy, unknown_element_in_actor)
{
    expect_error(HEADER "<platform version=\"4.1\">\n"
                        "  <actor host=\"a\" function=\"f\">\n"
                        "    <arg value=\"x\"/>\n"
                        "  </actor>\n"
                        "</platform>\n",
                 "t.xml:5: ", "unknown element", "<arg>");
    expect_error("<platform>\n<actor host='a' function='f'>\n<actor host='b' function='g'/>\n</actor>\n</platform>",
                 "t.xml:3: ", "<actor>", "nested");
    expect_error("<platform>\n<actor host='a' function='f'>\n<argument value='x'>\n<argument value='y'/>\n"
                 "</argument>\n</actor>\n</platform>",
                 "t.xml:4: ", "unexpected element <argument>", "inside <argument>");
}

Test(deploy, unknown_attribute)
{
    expect_error("<platform>\n<actor host='a' function='f' speed='1'/>\n</platform>", "t.xml:2: ",
                 "unknown attribute", "'speed'");
    expect_error("<platform>\n<actor host='a' function='f' on_failure='RESTART'/>\n</platform>", "t.xml:2: ",
                 "on_failure", "RESTART");
}

Test(deploy, stray_text)
{
    expect_error("<platform>\n<actor host='a' function='f'>\n  hello\n</actor>\n</platform>", "t.xml:", "unexpected text",
                 "hello");
}

Test(deploy, no_actor)
{
    expect_error(HEADER "<platform version=\"4.1\">\n</platform>\n", "t.xml: ", "no <actor> in deployment", NULL);
    expect_error("<platform/>", "t.xml: ", "no <actor> in deployment", NULL);
}

Test(deploy, entities_refused)
{
    /* Internal entity declarations (and so entity-expansion bombs) are refused. */
    expect_error("<?xml version='1.0'?>\n"
                 "<!DOCTYPE platform [\n"
                 "  <!ENTITY a \"aaaaaaaaaa\">\n"
                 "  <!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">\n"
                 "]>\n"
                 "<platform><actor host='a' function='&b;'/></platform>\n",
                 "t.xml:3: ", "entity", NULL);
    /* External entities are never loaded, even with a declaration that would. */
    expect_error("<!DOCTYPE platform [ <!ENTITY x SYSTEM \"file:///etc/passwd\"> ]>\n"
                 "<platform><actor host='a' function='f'><argument value='&x;'/></actor></platform>\n",
                 "t.xml:1: ", "entity", NULL);
    /* An undeclared entity must not silently vanish from an argument. */
    expect_error(HEADER "<platform version=\"4.1\">\n"
                        "  <actor host=\"a\" function=\"f\">\n"
                        "    <argument value=\"x&nbsp;y\"/>\n"
                        "  </actor>\n"
                        "</platform>\n",
                 "t.xml:5: ", "undefined entity", "&nbsp;");
}

Test(deploy, external_dtd_not_fetched)
{
    /* A DOCTYPE naming a local DTD that would, if read, add a default attribute. */
    char *dtd = write_temp("<!ATTLIST actor start_time CDATA \"42\">\n");
    char xml[512];
    snprintf(xml, sizeof(xml),
             "<?xml version='1.0'?>\n<!DOCTYPE platform SYSTEM \"file://%s\">\n"
             "<platform><actor host='a' function='f'/></platform>\n",
             dtd);
    struct deployment d;
    char err[256] = "";
    int rc = parse_str(xml, &d, err, sizeof(err));
    unlink(dtd);
    free(dtd);
    cr_assert_eq(rc, 0, "unexpected error: %s", err);
    cr_assert_float_eq(d.actors[0].start_time, 0.0, 1e-12, "the external DTD was read");
    deployment_free(&d);
}

/* ------------------------------------------------------------------------ */
/* Files                                                                    */
/* ------------------------------------------------------------------------ */

Test(deploy, unreadable_file)
{
    struct deployment d;
    char err[512];
    cr_assert_eq(deployment_parse_file("/nonexistent/dir/deploy.xml", &d, err, sizeof(err)), -1);
    cr_assert_null(d.actors);
    cr_assert_eq(d.n, 0);
    cr_assert(strncmp(err, "/nonexistent/dir/deploy.xml: ", 29) == 0, "got '%s'", err);
    cr_assert(strstr(err, strerror(ENOENT)) != NULL, "got '%s'", err);

    cr_assert_eq(deployment_parse_file("/tmp", &d, err, sizeof(err)), -1);
    cr_assert(strncmp(err, "/tmp: ", 6) == 0, "got '%s'", err);
    cr_assert(strstr(err, strerror(EISDIR)) != NULL, "got '%s'", err);
}

Test(deploy, file_error_has_path_and_line)
{
    char *path = write_temp(HEADER "<platform version=\"4.1\">\n  <actor host=\"a\"/>\n</platform>\n");
    struct deployment d;
    char err[512], prefix[256];
    int rc = deployment_parse_file(path, &d, err, sizeof(err));
    snprintf(prefix, sizeof(prefix), "%s:4: ", path);
    unlink(path);
    free(path);
    cr_assert_eq(rc, -1);
    cr_assert(strncmp(err, prefix, strlen(prefix)) == 0, "got '%s', expected prefix '%s'", err, prefix);
    cr_assert(strstr(err, "'function'") != NULL, "got '%s'", err);
}

Test(deploy, file_too_large)
{
    char *path = write_temp("");
    int fd = open(path, O_WRONLY);
    cr_assert(fd >= 0);
    cr_assert_eq(ftruncate(fd, (off_t)DEPLOY_MAX_INPUT_SIZE + 1), 0); /* sparse: costs no disk */
    close(fd);
    struct deployment d;
    char err[512];
    int rc = deployment_parse_file(path, &d, err, sizeof(err));
    unlink(path);
    free(path);
    cr_assert_eq(rc, -1);
    cr_assert(strstr(err, "too large") != NULL, "got '%s'", err);
}

Test(deploy, buffer_too_large)
{
    struct deployment d;
    char err[512];
    static const char tiny[] = "<platform/>";
    /* The size is checked before the buffer is read. */
    cr_assert_eq(deployment_parse_buffer("big.xml", tiny, DEPLOY_MAX_INPUT_SIZE + 1, &d, err, sizeof(err)), -1);
    cr_assert(strncmp(err, "big.xml: ", 9) == 0 && strstr(err, "too large") != NULL, "got '%s'", err);
}

Test(deploy, long_message_is_truncated_safely)
{
    struct deployment d;
    char err[16];
    cr_assert_eq(parse_str("<platform/>", &d, err, sizeof(err)), -1);
    cr_assert_eq(strlen(err), sizeof(err) - 1);
}

/* The demo deployments shipped in platforms/ must parse. Run from the source root,
 * or define SIMTERPOSE_SOURCE_DIR. */
static void parse_demo(const char *name, size_t expected_n)
{
    char path[1024];
#ifdef SIMTERPOSE_SOURCE_DIR
    snprintf(path, sizeof(path), "%s/platforms/%s", SIMTERPOSE_SOURCE_DIR, name);
#else
    snprintf(path, sizeof(path), "platforms/%s", name);
#endif
    if (access(path, R_OK) != 0)
        cr_skip_test("%s not found (run from the source root)", path);
    struct deployment d;
    char err[512] = "";
    cr_assert_eq(deployment_parse_file(path, &d, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(d.n, expected_n);
    for (size_t i = 0; i < d.n; i++) {
        cr_assert(d.actors[i].function[0] != 0);
        cr_assert_geq(d.actors[i].argc, 2);
        cr_assert_str_eq(d.actors[i].argv[0], d.actors[i].function);
        cr_assert(!strcmp(d.actors[i].host, "alice") || !strcmp(d.actors[i].host, "bob"), "host %s",
                  d.actors[i].host);
    }
    deployment_free(&d);
}

Test(deploy, demo_two_hosts)
{
    parse_demo("two_hosts_demo.xml", 2);
}

Test(deploy, demo_one_host_sleep)
{
    parse_demo("one_host_sleep.xml", 1);
}
