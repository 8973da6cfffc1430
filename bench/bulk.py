#!/usr/bin/env python3
"""Bulk data path (issue 6, item 2): 1 GiB over an emulated TCP connection
between two nodes of platforms/cluster.xml (10 Gbps links, 20 Gbps
backbone), and the same transfer natively over loopback, timed from
outside in the same run.  Reports payload bytes per wall second and the
ratio.  net_bulk generates and hashes every byte on both sides, so the
native figure is the program's own ceiling.

usage: bench/bulk.py [--build DIR] [--size BYTES] [--reps R] [--backends unotify,ptrace]
"""
import argparse, os, statistics, subprocess, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--build", default="build")
ap.add_argument("--size", type=int, default=1 << 30)
ap.add_argument("--reps", type=int, default=3)
ap.add_argument("--backends", default="unotify,ptrace")
args = ap.parse_args()
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
build = os.path.abspath(args.build)
sim = os.path.join(build, "simterpose")
bulk = os.path.join(build, "tests", "programs", "net_bulk")
platform = os.path.join(root, "platforms", "cluster.xml")
tmp = tempfile.mkdtemp(prefix="simterpose-bulk.")

dep = os.path.join(tmp, "d.xml")
with open(dep, "w") as f:
    f.write("<?xml version='1.0'?>\n<platform version=\"4.1\">\n")
    f.write('  <actor host="node-1" function="%s"><argument value="server"/><argument value="7000"/>'
            '<argument value="virtual"/></actor>\n' % bulk)
    f.write('  <actor host="node-0" function="%s" start_time="0.001"><argument value="--size"/>'
            '<argument value="%d"/><argument value="client"/><argument value="node-1"/>'
            '<argument value="7000"/><argument value="virtual"/></actor>\n</platform>\n' % (bulk, args.size))


def timed(cmd):
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


backends = args.backends.split(",")
nat, emu = [], {b: [] for b in backends}
for _ in range(args.reps):
    nat.append(timed([bulk, "--size", str(args.size), "both"]))
    for b in backends:
        emu[b].append(timed([sim, "--backend=" + b, "--out", os.path.join(tmp, "out"), platform, dep]))
out = open(os.path.join(tmp, "out", "hosts", "node-0", "net_bulk.1.stdout")).read().strip().splitlines()
n = statistics.median(nat)
print("Bulk: %d bytes over TCP, medians of %d alternating runs" % (args.size, args.reps))
print()
print("| path | wall s | payload MB/s (wall) | wall / native | wall / unotify |")
print("|---|---|---|---|---|")
print("| native, loopback | %.2f | %.0f | 1.00 | |" % (n, args.size / n / 1e6))
for b in backends:
    e = statistics.median(emu[b])
    base = statistics.median(emu[backends[0]])
    print("| Simterpose-%s, node-0 -> node-1 (10 Gbps) | %.2f | %.0f | %.2f | %.2f |"
          % (b, e, args.size / e / 1e6, e / n, e / base))
print()
print("The emulated client reported (last run): " + (out[-1] if out else "?"))
