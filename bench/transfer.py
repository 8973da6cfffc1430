#!/usr/bin/env python3
"""Transfer times over the 100 Mbps / 10 ms link of platforms/two_hosts.xml:
an emulated TCP transfer (net_bulk under Simterpose) vs what SimGrid predicts
for one transfer of that size (with Simterpose's settings: CM02, bandwidth
factor 0.97 for TCP/IP headers), vs the textbook latency + size / bandwidth
(which ignores headers).  All times are simulated seconds: deterministic, no
repetition needed.

usage: bench/transfer.py [--build DIR]
"""
import argparse, os, re, subprocess, tempfile

ap = argparse.ArgumentParser()
ap.add_argument("--build", default="build")
args = ap.parse_args()
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
build = os.path.abspath(args.build)
platform = os.path.join(root, "platforms", "two_hosts.xml")
bulk = os.path.join(build, "tests", "programs", "net_bulk")
LAT, BW = 0.010, 100e6 / 8  # the platform's link

tmp = tempfile.mkdtemp(prefix="simterpose-transfer.")


def emulated(size):
    d = os.path.join(tmp, "d.xml")
    with open(d, "w") as f:
        f.write("<?xml version='1.0'?>\n<platform version=\"4.1\">\n")
        f.write('  <actor host="bob" function="%s"><argument value="--size"/><argument value="%d"/>'
                '<argument value="server"/><argument value="7000"/></actor>\n' % (bulk, size))
        f.write('  <actor host="alice" function="%s" start_time="1"><argument value="--size"/>'
                '<argument value="%d"/><argument value="client"/><argument value="bob"/>'
                '<argument value="7000"/></actor>\n</platform>\n' % (bulk, size))
    subprocess.run([os.path.join(build, "simterpose"), "--out", os.path.join(tmp, "out"), platform, d],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = open(os.path.join(tmp, "out", "hosts", "alice", "net_bulk.1.stdout")).read()
    secs = float(re.search(r"in ([0-9.]+) s \(connect to report\)", out).group(1))
    return secs - LAT  # the 16-byte report takes one latency back


def simgrid(size):
    r = subprocess.run([os.path.join(build, "bench", "sg_comm_time"), platform, "alice", "bob", str(size)],
                       check=True, capture_output=True, text=True)
    return float(r.stdout)


print("| size (bytes) | emulated TCP (s) | SimGrid, one transfer (s) | latency + size/bandwidth (s) | emulated / SimGrid | emulated / textbook |")
print("|---|---|---|---|---|---|")
for size in (1000, 10000, 100000, 1000000, 10000000, 100000000):
    e, s = emulated(size), simgrid(size)
    t = LAT + size / BW
    print("| %s | %.6f | %.6f | %.6f | %.4f | %.4f |" % (f"{size:,}", e, s, t, e / s, e / t))
