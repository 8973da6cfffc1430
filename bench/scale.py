#!/usr/bin/env python3
"""Scale: N hosts of a cluster each run a small TCP client (1 KiB request,
1 KiB answer) against one server (bench/scale_node.c), for N = 10, 100,
1000), under each backend.  Reports the wall time, the simulated time, the
peak RSS of the supervisor (its getrusage), and the peak of the total
memory of the run: the sum of the proportional set sizes (PSS, shared
pages split among their users) of the supervisor and every process
descending from it, sampled every 100 ms.  Ratios are to
the smallest N measured in the same invocation.

usage: bench/scale.py [--build DIR] [--sizes 10,100,1000] [--backends unotify,ptrace]
"""
import argparse, os, subprocess, tempfile, time

from benchlib import cluster_platform, server_and_clients

ap = argparse.ArgumentParser()
ap.add_argument("--build", default="build")
ap.add_argument("--sizes", default="10,100,1000")
ap.add_argument("--backends", default="unotify,ptrace")
args = ap.parse_args()
build = os.path.abspath(args.build)
sim = os.path.join(build, "simterpose")
node = os.path.join(build, "bench", "scale_node")
tmp = tempfile.mkdtemp(prefix="simterpose-scale.")


def tree_pss_kib(root_pid):
    """PSS of root_pid and all its descendants, in KiB."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    children = {}
    for pid, ppid in parent.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open("/proc/%d/smaps_rollup" % pid) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def run(n, backend):
    cmd = [sim, "--backend=" + backend, "--out", os.path.join(tmp, "out"),
           cluster_platform(os.path.join(tmp, "p%d.xml" % n), n + 1),
           server_and_clients(os.path.join(tmp, "d%d.xml" % n), node, n)]
    errpath = os.path.join(tmp, "err%d" % n)
    peak = 0
    t0 = time.perf_counter()
    with open(errpath, "w") as errf:
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errf)
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, tree_pss_kib(p.pid))
            time.sleep(0.1)
    wall = time.perf_counter() - t0
    err = open(errpath).read()
    ok = status == 0 and "did not succeed" not in err and "simulated time" in err
    sim_s = float(err.split("simulated time ")[1].split(" s")[0]) if "simulated time" in err else float("nan")
    return wall, sim_s, ru.ru_maxrss / 1024.0, peak / 1024.0, ok


sizes = [int(x) for x in args.sizes.split(",")]
print("Scale: N client hosts + 1 server host, one 1 KiB exchange each")
print()
print("| backend | N | all succeeded | wall s | wall / wall(N=%d) | simulated s | supervisor peak RSS MiB | run's total PSS, peak MiB |"
      % sizes[0])
print("|---|---|---|---|---|---|---|---|")
for backend in args.backends.split(","):
    base = None
    for n in sizes:
        wall, sim_s, rss, mem, ok = run(n, backend)
        base = base or wall
        print("| %s | %d | %s | %.2f | %.1f | %.6f | %.0f | %.0f |"
              % (backend, n, "yes" if ok else "NO", wall, wall / base, sim_s, rss, mem), flush=True)
