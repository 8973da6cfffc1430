#!/usr/bin/env python3
"""Simterpose benchmarks: ratios measured in the same run.

Each case runs a program natively and under Simterpose, several times,
alternating, and compares medians.  Whole runs are timed from outside:
inside Simterpose the clocks are virtual.  Per-call costs subtract a run
with N=0 (start-up).

usage: bench/run.py [--build DIR] [--reps R]
"""
import argparse, os, statistics, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--build", default="build")
ap.add_argument("--reps", type=int, default=7)
args = ap.parse_args()
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
build = os.path.abspath(args.build)
sim = os.path.join(build, "simterpose")
cost = os.path.join(build, "bench", "syscall_cost")
floor = os.path.join(build, "bench", "unotify_floor")
platform = os.path.join(root, "platforms", "one_host.xml")
tmp = tempfile.mkdtemp(prefix="simterpose-bench.")


def deployment(argv):
    path = os.path.join(tmp, "d.xml")
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


def emulated(argv, extra=()):
    return timed([sim, *extra, "--out", os.path.join(tmp, "out"), platform, deployment(argv)])


def emulated_nospin(argv):
    return emulated(argv, ["--spin-us", "0"])


def emulated_cpu(argv):
    return emulated(argv, ["--cpu-model=measured", "--cpu-reference-speed=1Gf"])


def emulated_strace(argv):
    return emulated(argv, ["--strace=" + os.path.join(tmp, "trace")])


def per_call(run, mode, n):
    """Median per-call seconds: (T(n) - T(0)) / n, alternating reps."""
    full, empty = [], []
    for _ in range(args.reps):
        full.append(run([cost, mode, str(n)]))
        empty.append(run([cost, mode, "0"]))
    return max(statistics.median(full) - statistics.median(empty), 0) / n


print("Per-syscall cost, medians of %d runs (this machine, this run)" % args.reps)
print()
print("| call | native µs | Simterpose µs | Simterpose / native |")
print("|---|---|---|---|")
rows = [("clock_gettime, raw syscall (trapped, emulated)", "clock", 20000, 2000000, emulated),
        ("clock_gettime via the vDSO (clock page; 1 read in 1000 traps)", "vdso", 2000000, 20000000, emulated),
        ("getppid (untrapped: BPF only)", "getppid", 2000000, 2000000, emulated)]
emu_clock = None
for label, mode, n_emu, n_nat, run in rows:
    nat = per_call(native, mode, n_nat)
    emu = per_call(run, mode, n_emu)
    emu_clock = emu_clock or emu
    print("| %s | %.3f | %.3f | %.1f |" % (label, nat * 1e6, emu * 1e6, emu / nat if nat else float("nan")))

# The kernel floor: a minimal supervisor that only answers (no memory
# access, no SimGrid), same trapped clock_gettime, same filter action.
n_floor = 100000
ff, fe = [], []
for _ in range(args.reps):
    ff.append(native([floor, str(n_floor)]))
    fe.append(native([floor, "0"]))
floor_us = max(statistics.median(ff) - statistics.median(fe), 0) / n_floor * 1e6
print()
print("| raw unotify round trip (bench/unotify_floor.c) | µs per call | Simterpose / floor |")
print("|---|---|---|")
print("| trapped clock_gettime answered with 0 | %.3f | %.2f |" % (floor_us, emu_clock * 1e6 / floor_us if floor_us else float("nan")))

# Options compared on the same emulated call, the variants interleaved in
# every repetition so that the machine's drift hits them alike.
variants = [("default", emulated), ("--spin-us 0", emulated_nospin),
            ("--cpu-model=measured", emulated_cpu), ("--strace=FILE", emulated_strace)]
n_opt = 50000
full = {name: [] for name, _ in variants}
empty = {name: [] for name, _ in variants}
for _ in range(args.reps):
    for name, run in variants:
        full[name].append(run([cost, "clock", str(n_opt)]))
        empty[name].append(run([cost, "clock", "0"]))
per = {name: max(statistics.median(full[name]) - statistics.median(empty[name]), 0) / n_opt
       for name, _ in variants}
print()
print("Options on a trapped clock_gettime (%d calls, variants interleaved, medians of %d):" % (n_opt, args.reps))
print()
print("| option | µs per call | cost / default |")
print("|---|---|---|")
for name, _ in variants:
    print("| %s | %.3f | %.2f |" % (name, per[name] * 1e6, per[name] / per["default"] if per["default"] else float("nan")))

print()
print("Time warp: `sh -c 'sleep 3600'` under Simterpose")
walls = [emulated(["/bin/sh", "-c", "sleep 3600"]) for _ in range(args.reps)]
print()
print("| simulated s | wall s (median) | simulated s per wall s |")
print("|---|---|---|")
w = statistics.median(walls)
print("| 3600 | %.3f | %.0f |" % (w, 3600 / w))
