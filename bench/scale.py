#!/usr/bin/env python3
"""Scale: N hosts of a cluster each run a small TCP client (1 KiB request,
1 KiB answer) against one server (bench/scale_node.c), for N = 10, 100,
1000.  Reports the wall time, the simulated time, and the peak RSS of the
supervisor (getrusage of the run: the largest process of it), with the
ratio to the N = 10 run measured in the same invocation.

usage: bench/scale.py [--build DIR] [--sizes 10,100,1000]
"""
import argparse, os, resource, subprocess, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--build", default="build")
ap.add_argument("--sizes", default="10,100,1000")
ap.add_argument("--backend-args", default="", help="extra simterpose options")
args = ap.parse_args()
build = os.path.abspath(args.build)
sim = os.path.join(build, "simterpose")
node = os.path.join(build, "bench", "scale_node")
tmp = tempfile.mkdtemp(prefix="simterpose-scale.")


def platform(n):
    path = os.path.join(tmp, "p%d.xml" % n)
    with open(path, "w") as f:
        f.write("<?xml version='1.0'?>\n<!DOCTYPE platform SYSTEM \"https://simgrid.org/simgrid.dtd\">\n"
                "<platform version=\"4.1\">\n  <zone id=\"world\" routing=\"Full\">\n"
                "    <cluster id=\"c\" prefix=\"node-\" suffix=\"\" radical=\"0-%d\" speed=\"1Gf\" core=\"1\"\n"
                "             bw=\"1Gbps\" lat=\"50us\" bb_bw=\"100Gbps\" bb_lat=\"10us\"\n"
                "             loopback_bw=\"10GBps\" loopback_lat=\"0us\"/>\n"
                "  </zone>\n</platform>\n" % n)
    return path


def deployment(n):
    path = os.path.join(tmp, "d%d.xml" % n)
    with open(path, "w") as f:
        f.write("<?xml version='1.0'?>\n<platform version=\"4.1\">\n")
        f.write('  <actor host="node-0" function="%s"><argument value="server"/><argument value="7000"/>'
                '<argument value="%d"/></actor>\n' % (node, n))
        for i in range(1, n + 1):
            f.write('  <actor host="node-%d" function="%s" start_time="0.001"><argument value="client"/>'
                    '<argument value="node-0"/><argument value="7000"/></actor>\n' % (i, node))
        f.write("</platform>\n")
    return path


def run(n):
    cmd = [sim] + args.backend_args.split() + ["--out", os.path.join(tmp, "out"), platform(n), deployment(n)]
    errpath = os.path.join(tmp, "err%d" % n)
    t0 = time.perf_counter()
    with open(errpath, "w") as errf:
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errf)
        _, ru = os.wait4(p.pid, 0)[1:]
    wall = time.perf_counter() - t0
    err = open(errpath).read()
    ok = "did not succeed" not in err and "simulated time" in err
    sim_s = float(err.split("simulated time ")[1].split(" s")[0]) if "simulated time" in err else float("nan")
    return wall, sim_s, ru.ru_maxrss / 1024.0, ok


sizes = [int(x) for x in args.sizes.split(",")]
print("Scale: N client hosts + 1 server host, one 1 KiB exchange each")
print()
print("| N | all succeeded | wall s | wall / wall(N=%d) | simulated s | peak RSS MiB |" % sizes[0])
print("|---|---|---|---|---|---|")
base = None
for n in sizes:
    wall, sim_s, rss, ok = run(n)
    base = base or wall
    print("| %d | %s | %.2f | %.1f | %.6f | %.0f |" % (n, "yes" if ok else "NO", wall, wall / base, sim_s, rss))
