#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supervisor/options.h"

static int parse(int argc, const char **argv, struct options *o, char *err)
{
    FILE *out = fopen("/dev/null", "w");
    int r = options_parse(argc, (char **)argv, o, out, err, 256);
    fclose(out);
    return r;
}

Test(options, defaults)
{
    const char *argv[] = {"simterpose", "p.xml", "d.xml"};
    struct options o;
    char err[256];
    unsetenv("SIMTERPOSE_BACKEND");
    cr_assert_eq(parse(3, argv, &o, err), OPTIONS_OK);
    cr_expect_eq(o.backend, BACKEND_UNOTIFY);
    cr_expect_str_eq(o.platform, "p.xml");
    cr_expect_str_eq(o.deployment, "d.xml");
    cr_expect_str_eq(o.out_dir, "simterpose.data");
    cr_expect_eq(o.epoch, 946684800);
    cr_expect_eq(o.spin_us, 100);
    cr_expect_null(o.stats_path);
    /* argv[0], then our network model defaults, nothing from the user */
    cr_assert_gt(o.sg_argc, 1);
    cr_expect_str_eq(o.sg_argv[0], "simterpose");
    bool cm02 = false;
    for (int i = 1; i < o.sg_argc; i++)
        cm02 |= !strcmp(o.sg_argv[i], "--cfg=network/model:CM02");
    cr_expect(cm02, "the network model default is not passed to SimGrid");
    options_free(&o);
}

Test(options, all_options_and_simgrid_passthrough)
{
    const char *argv[] = {"simterpose", "--cfg=network/model:CM02", "--out", "o", "--stats=s.json", "p.xml",
                          "--epoch", "0", "--log=root.thres:critical", "-v", "d.xml", "--watchdog", "250",
                          "--spin-us", "0"};
    struct options o;
    char err[256];
    cr_assert_eq(parse(15, argv, &o, err), OPTIONS_OK, "%s", err);
    cr_expect_eq(o.spin_us, 0);
    cr_expect_str_eq(o.out_dir, "o");
    cr_expect_str_eq(o.stats_path, "s.json");
    cr_expect_eq(o.epoch, 0);
    cr_expect_eq(o.verbose, 1);
    cr_expect_eq(o.watchdog_ms, 250);
    /* the user's options come last, so that they override our defaults */
    cr_assert_geq(o.sg_argc, 3);
    cr_expect_str_eq(o.sg_argv[o.sg_argc - 2], "--cfg=network/model:CM02");
    cr_expect_str_eq(o.sg_argv[o.sg_argc - 1], "--log=root.thres:critical");
    cr_expect_str_eq(o.platform, "p.xml");
    cr_expect_str_eq(o.deployment, "d.xml");
    options_free(&o);
}

static void expect_error(int argc, const char **argv, const char *needle)
{
    struct options o;
    char err[256] = "";
    cr_expect_eq(parse(argc, argv, &o, err), OPTIONS_ERROR, "accepted: %s", argv[argc - 1]);
    cr_expect(strstr(err, needle) != NULL, "message '%s' lacks '%s'", err, needle);
    cr_expect(strchr(err, '\n') == NULL, "message is not one line: %s", err);
    options_free(&o);
}

Test(options, errors_are_one_clear_line)
{
    expect_error(2, (const char *[]){"simterpose", "p.xml"}, "expected PLATFORM.xml and DEPLOYMENT.xml");
    expect_error(4, (const char *[]){"simterpose", "a", "b", "c"}, "got 3 arguments");
    expect_error(4, (const char *[]){"simterpose", "--bogus", "a", "b"}, "unknown option '--bogus'");
    expect_error(4, (const char *[]){"simterpose", "a", "b", "--epoch"}, "needs an argument");
    expect_error(5, (const char *[]){"simterpose", "--epoch", "12x", "a", "b"}, "--epoch: '12x'");
    expect_error(5, (const char *[]){"simterpose", "--epoch", "-5", "a", "b"}, "--epoch");
    expect_error(5, (const char *[]){"simterpose", "--watchdog", "0", "a", "b"}, "--watchdog");
    expect_error(5, (const char *[]){"simterpose", "--out", "", "a", "b"}, "--out");
    expect_error(5, (const char *[]){"simterpose", "--spin-us", "-1", "a", "b"}, "--spin-us: '-1'");
    expect_error(4, (const char *[]){"simterpose", "--cpu-model=fast", "a", "b"}, "--cpu-model: 'fast'");
    expect_error(5, (const char *[]){"simterpose", "--cpu-reference-speed", "2Xf", "a", "b"}, "--cpu-reference-speed");
    expect_error(5, (const char *[]){"simterpose", "--cpu-reference-speed", "0", "a", "b"}, "--cpu-reference-speed");
    expect_error(4, (const char *[]){"simterpose", "--trace-cpu", "a", "b"}, "--trace-cpu needs --strace");
    expect_error(4, (const char *[]){"simterpose", "--strace=", "a", "b"}, "--strace");
    expect_error(5, (const char *[]){"simterpose", "--seed", "-3", "a", "b"}, "--seed: '-3'");
    expect_error(5, (const char *[]){"simterpose", "--seed", "12z", "a", "b"}, "--seed: '12z'");
}

Test(options, help_and_list_exit)
{
    struct options o;
    char err[256];
    cr_expect_eq(parse(2, (const char *[]){"simterpose", "--help"}, &o, err), OPTIONS_EXIT);
    options_free(&o);
    cr_expect_eq(parse(2, (const char *[]){"simterpose", "--list-syscalls"}, &o, err), OPTIONS_EXIT);
    options_free(&o);
}

Test(options, cpu_model_and_trace)
{
    struct options o;
    char err[256];
    const char *argv[] = {"simterpose", "--cpu-model=measured", "--cpu-reference-speed", "2.5Gf", "--cpu-threshold",
                          "3", "--strace=t.txt", "--trace-cpu", "p.xml", "d.xml"};
    cr_assert_eq(parse(10, argv, &o, err), OPTIONS_OK, "%s", err);
    cr_expect_eq(o.cpu_model, CPU_MODEL_MEASURED);
    cr_expect_float_eq(o.cpu_reference_speed, 2.5e9, 1);
    cr_expect_eq(o.cpu_threshold_us, 3);
    cr_expect_str_eq(o.strace_path, "t.txt");
    cr_expect_eq(o.trace_cpu, 1);
    options_free(&o);

    const char *argv2[] = {"simterpose", "--strace", "--cpu-reference-speed=1e9", "p.xml", "d.xml"};
    cr_assert_eq(parse(5, argv2, &o, err), OPTIONS_OK, "%s", err);
    cr_expect_str_eq(o.strace_path, "-", "--strace alone traces to stderr");
    cr_expect_float_eq(o.cpu_reference_speed, 1e9, 1);
    cr_expect_eq(o.cpu_model, CPU_MODEL_OFF, "the CPU model is off by default");
    cr_expect_eq(o.seed, 1, "the default seed is fixed");
    options_free(&o);

    const char *argv3[] = {"simterpose", "--seed", "0xffffffffffffffff", "p.xml", "d.xml"};
    cr_assert_eq(parse(5, argv3, &o, err), OPTIONS_OK, "%s", err);
    cr_expect_eq(o.seed, UINT64_MAX);
    options_free(&o);
}

Test(options, backend_from_option_and_environment)
{
    struct options o;
    char err[256];
    unsetenv("SIMTERPOSE_BACKEND");
    cr_assert_eq(parse(3, (const char *[]){"simterpose", "p.xml", "d.xml"}, &o, err), OPTIONS_OK);
    cr_expect_eq(o.backend, BACKEND_UNOTIFY);
    options_free(&o);
    cr_assert_eq(parse(4, (const char *[]){"simterpose", "--backend=ptrace", "p.xml", "d.xml"}, &o, err), OPTIONS_OK);
    cr_expect_eq(o.backend, BACKEND_PTRACE);
    options_free(&o);
    setenv("SIMTERPOSE_BACKEND", "ptrace", 1);
    cr_assert_eq(parse(3, (const char *[]){"simterpose", "p.xml", "d.xml"}, &o, err), OPTIONS_OK);
    cr_expect_eq(o.backend, BACKEND_PTRACE);
    options_free(&o);
    /* the option wins over the environment */
    cr_assert_eq(parse(5, (const char *[]){"simterpose", "--backend", "unotify", "p.xml", "d.xml"}, &o, err),
                 OPTIONS_OK);
    cr_expect_eq(o.backend, BACKEND_UNOTIFY);
    options_free(&o);
    setenv("SIMTERPOSE_BACKEND", "strace", 1);
    cr_expect_eq(parse(3, (const char *[]){"simterpose", "p.xml", "d.xml"}, &o, err), OPTIONS_ERROR);
    cr_expect(strstr(err, "SIMTERPOSE_BACKEND: 'strace'"), "%s", err);
    options_free(&o);
    unsetenv("SIMTERPOSE_BACKEND");
    cr_expect_eq(parse(4, (const char *[]){"simterpose", "--backend=gdb", "p.xml", "d.xml"}, &o, err), OPTIONS_ERROR);
    cr_expect(strstr(err, "--backend: 'gdb'"), "%s", err);
    options_free(&o);
}
