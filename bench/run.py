#!/usr/bin/env python3
"""Simterpose benchmarks, all of them: ratios measured in the same run.

  1. per-syscall cost: native, the kernel floors (a minimal unotify
     supervisor and a minimal ptrace tracer that only answer), and
     Simterpose under each backend; plus the options on a trapped call
  2. bulk data path: 1 GiB over a 10 Gbps virtual link (bench/bulk.py)
  3. time warp: sleeps, and 100 clients polling a server every virtual second
  4. scale: 10, 100, 1000 hosts (bench/scale.py)

Every case runs several times, variants alternating, and medians are
compared.  Whole runs are timed from outside (inside, clocks are virtual);
per-call costs subtract a run with N = 0 (start-up).  The machine is shared
and noisy: read the ratios, not the absolute times.

usage: bench/run.py [--build DIR] [--reps R] [--warp-seconds S] [--quick]
"""
import argparse, os, statistics, subprocess, sys, tempfile, time

from benchlib import cluster_platform, server_and_clients

ap = argparse.ArgumentParser()
ap.add_argument("--build", default="build")
ap.add_argument("--reps", type=int, default=5)
ap.add_argument("--warp-seconds", type=int, default=600,
                help="virtual seconds the 100 pollers run (the issue's example: 3600)")
ap.add_argument("--quick", action="store_true", help="small sizes, to check the harness")
args = ap.parse_args()
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
build = os.path.abspath(args.build)
sim = os.path.join(build, "simterpose")
cost = os.path.join(build, "bench", "syscall_cost")
node = os.path.join(build, "bench", "scale_node")
platform = os.path.join(root, "platforms", "one_host.xml")
tmp = tempfile.mkdtemp(prefix="simterpose-bench.")
BACKENDS = ["unotify", "ptrace"]
scale = 0.1 if args.quick else 1.0


def deployment(argv, name="d.xml"):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write("<?xml version='1.0'?>\n<platform version=\"4.1\">\n")
        f.write('  <actor host="alice" function="%s">\n' % argv[0])
        for a in argv[1:]:
            f.write('    <argument value="%s"/>\n' % a)
        f.write("  </actor>\n</platform>\n")
    return path


def timed(cmd):
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def native(argv):
    return timed(argv)


def under(backend, *extra):
    def run(argv):
        return timed([sim, "--backend=" + backend, *extra, "--out", os.path.join(tmp, "out"), platform,
                      deployment(argv)])
    return run


def per_call(variants, argv_of, n):
    """Median per-call seconds for each variant: (T(n) - T(0)) / n, the
    variants interleaved in every repetition so that drift hits them alike."""
    full = {name: [] for name in variants}
    empty = {name: [] for name in variants}
    for _ in range(args.reps):
        for name, run in variants.items():
            full[name].append(run(argv_of(n)))
            empty[name].append(run(argv_of(0)))
    return {name: max(statistics.median(full[name]) - statistics.median(empty[name]), 0) / n for name in variants}


def ratio(a, b):
    return a / b if b else float("nan")


def section(title):
    print()
    print("## " + title)
    print(flush=True)


started = time.perf_counter()
print("# Simterpose benchmarks (bench/run.py, --reps %d)" % args.reps)

# 1. Per-syscall cost --------------------------------------------------------
section("1. Per-syscall cost (µs per call, medians of %d, variants interleaved)" % args.reps)
rows = [  # label, syscall_cost mode, calls per run (emulated), calls per run (native)
    ("clock_gettime, raw syscall (trapped, emulated)", "clock", 20000, 2000000),
    ("send + recv of 1 KiB over loopback TCP (a pair; emulated)", "sendrecv", 10000, 200000),
    ("getppid (untrapped: the filter only)", "getppid", 2000000, 2000000),
    ("pread of 1 byte of a regular file (untrapped)", "pread", 2000000, 2000000),
    ("clock_gettime via the vDSO (clock page, no trap)", "vdso", 2000000, 20000000),
]
print("| call | native | Simterpose-unotify | Simterpose-ptrace | unotify / native | ptrace / unotify |")
print("|---|---|---|---|---|---|")
results = {}
for label, mode, n_emu, n_nat in rows:
    n_emu, n_nat = max(int(n_emu * scale), 100), max(int(n_nat * scale), 100)
    nat = per_call({"native": native}, lambda n: [cost, mode, str(n)], n_nat)["native"]
    emu = per_call({b: under(b) for b in BACKENDS}, lambda n: [cost, mode, str(n)], n_emu)
    results[mode] = (nat, emu)
    print("| %s | %.3f | %.3f | %.3f | %.2f | %.2f |" % (label, nat * 1e6, emu["unotify"] * 1e6, emu["ptrace"] * 1e6,
                                                         ratio(emu["unotify"], nat), ratio(emu["ptrace"], emu["unotify"])),
          flush=True)

# The kernel floors: minimal supervisors that only answer a trapped
# clock_gettime with 0 (no memory access, no SimGrid).
n_floor = max(int(100000 * scale), 100)
floor_variants = {
    "unotify": lambda n: [os.path.join(build, "bench", "unotify_floor"), str(n)],
    "ptrace": lambda n: [os.path.join(build, "bench", "ptrace_floor"), "seccomp", str(n)],
    "ptrace, every syscall (2011)": lambda n: [os.path.join(build, "bench", "ptrace_floor"), "syscall", str(n)],
    "unotify, polling": lambda n: [os.path.join(build, "bench", "unotify_floor"), str(n), "spin"],
    "ptrace, polling": lambda n: [os.path.join(build, "bench", "ptrace_floor"), "seccomp", str(n), "spin"],
}
floors = {}
for name, argv_of in floor_variants.items():
    floors[name] = per_call({name: native}, argv_of, n_floor)[name]
clock_nat, clock_emu = results["clock"]
print()
print("Kernel floors (a minimal supervisor that only answers; bench/unotify_floor.c, bench/ptrace_floor.c):")
print()
print("| floor | µs per call | Simterpose / floor |")
print("|---|---|---|")
print("| unotify: trapped clock_gettime answered 0 | %.3f | %.2f |"
      % (floors["unotify"] * 1e6, ratio(clock_emu["unotify"], floors["unotify"])))
print("| ptrace + seccomp: trapped clock_gettime answered 0 | %.3f | %.2f |"
      % (floors["ptrace"] * 1e6, ratio(clock_emu["ptrace"], floors["ptrace"])))
print("| unotify, polling the listener (as --spin-us) | %.3f | %.2f |"
      % (floors["unotify, polling"] * 1e6, ratio(clock_emu["unotify"], floors["unotify, polling"])))
print("| ptrace + seccomp, polling waitpid (as --spin-us) | %.3f | %.2f |"
      % (floors["ptrace, polling"] * 1e6, ratio(clock_emu["ptrace"], floors["ptrace, polling"])))
print("| ptrace, stop at every syscall (the 2011 design): getppid | %.3f | |"
      % (floors["ptrace, every syscall (2011)"] * 1e6))
print()
print("Ratios: Simterpose-unotify / unotify floor %.2f; ptrace floor / unotify floor %.2f; "
      "Simterpose-ptrace / Simterpose-unotify %.2f (trapped clock_gettime); untrapped / native: "
      "getppid %.2f (unotify) %.2f (ptrace), pread %.2f (unotify) %.2f (ptrace); "
      "an untrapped getppid under the 2011 design / native: %.0f."
      % (ratio(clock_emu["unotify"], floors["unotify"]), ratio(floors["ptrace"], floors["unotify"]),
         ratio(clock_emu["ptrace"], clock_emu["unotify"]),
         ratio(results["getppid"][1]["unotify"], results["getppid"][0]),
         ratio(results["getppid"][1]["ptrace"], results["getppid"][0]),
         ratio(results["pread"][1]["unotify"], results["pread"][0]),
         ratio(results["pread"][1]["ptrace"], results["pread"][0]),
         ratio(floors["ptrace, every syscall (2011)"], results["getppid"][0])), flush=True)

n_opt = max(int(50000 * scale), 100)
opts = per_call({"default": under("unotify"),
                 "--spin-us 0": under("unotify", "--spin-us", "0"),
                 "--cpu-model=measured": under("unotify", "--cpu-model=measured", "--cpu-reference-speed=1Gf"),
                 "--strace=FILE": under("unotify", "--strace=" + os.path.join(tmp, "trace")),
                 "--backend=ptrace": under("ptrace"),
                 "--backend=ptrace --spin-us 0": under("ptrace", "--spin-us", "0")},
                lambda n: [cost, "clock", str(n)], n_opt)
print()
print("Options on a trapped clock_gettime (%d calls, variants interleaved):" % n_opt)
print()
print("| options | µs per call | cost / default |")
print("|---|---|---|")
for name, v in opts.items():
    print("| %s | %.3f | %.2f |" % (name, v * 1e6, ratio(v, opts["default"])))
sys.stdout.flush()

# 2. Bulk --------------------------------------------------------------------
section("2. Bulk data path")
size = 1 << 30 if not args.quick else 1 << 26
subprocess.run([sys.executable, os.path.join(root, "bench", "bulk.py"), "--build", build, "--size", str(size),
                "--reps", "3", "--backends", ",".join(BACKENDS)], check=True)

# 3. Time warp ---------------------------------------------------------------
section("3. Time warp (simulated seconds per wall second, medians of %d)" % args.reps)


clients, rounds = 100, max(int(args.warp_seconds * scale), 2)
poll_dep = server_and_clients(os.path.join(tmp, "poll.xml"), node, clients, rounds)
poll_platform = cluster_platform(os.path.join(tmp, "poll-platform.xml"), clients + 1)
sleep_dep = deployment(["/bin/sh", "-c", "sleep 3600"], "sleep.xml")


def warp(backend, plat, dep):
    out = os.path.join(tmp, "out-warp")
    err = os.path.join(tmp, "err-warp")
    t0 = time.perf_counter()
    with open(err, "w") as e:
        subprocess.run([sim, "--backend=" + backend, "--out", out, plat, dep], check=True,
                       stdout=subprocess.DEVNULL, stderr=e)
    wall = time.perf_counter() - t0
    text = open(err).read()
    return float(text.split("simulated time ")[1].split(" s")[0]), wall


print("| scenario | backend | simulated s | wall s | simulated s per wall s | vs unotify |")
print("|---|---|---|---|---|---|")
for label, plat, dep, reps in [("`sh -c 'sleep 3600'`", platform, sleep_dep, args.reps),
                               ("%d clients, one 1 KiB request per virtual second each, %d s" % (clients, rounds),
                                poll_platform, poll_dep, 1 if not args.quick else 1)]:
    speed = {}
    runs = {b: [] for b in BACKENDS}
    for _ in range(reps):
        for b in BACKENDS:
            runs[b].append(warp(b, plat, dep))
    for b in BACKENDS:
        simulated = runs[b][0][0]
        wall = statistics.median(w for _, w in runs[b])
        speed[b] = simulated / wall
        print("| %s | %s | %.3f | %.2f | %.0f | %.2f |" % (label, b, simulated, wall, speed[b],
                                                          ratio(speed[b], speed["unotify"])), flush=True)

# 4. Scale -------------------------------------------------------------------
section("4. Scale")
subprocess.run([sys.executable, os.path.join(root, "bench", "scale.py"), "--build", build,
                "--sizes", "10,100,1000" if not args.quick else "10,50", "--backends", ",".join(BACKENDS)], check=True)

print()
print("Whole bench: %.0f s wall." % (time.perf_counter() - started))
