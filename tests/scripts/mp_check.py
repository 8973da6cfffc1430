"""Self-checking: Python's multiprocessing (a pool of worker processes
behind pipes and shared-memory semaphores, a queue fed by a thread),
socketpair, a subprocess pipeline, a signal handler and a timed sleep.
Prints one line per check; exits non-zero on the first failure."""
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import time


def square(x):
    return x * x


def put_pid(q):
    q.put(os.getpid())


def main():
    with mp.Pool(3) as pool:
        total = sum(pool.map(square, range(1000)))
    assert total == 332833500, total
    print("pool.map over 3 workers:", total)

    q = mp.Queue()
    p = mp.Process(target=put_pid, args=(q,))
    p.start()
    child = q.get(timeout=10)
    p.join()
    assert child == p.pid and p.exitcode == 0, (child, p.pid, p.exitcode)
    print("queue from a child process: ok")

    a, b = socket.socketpair()
    a.sendall(b"x" * 100000)
    a.close()
    got = 0
    while True:
        chunk = b.recv(65536)
        if not chunk:
            break
        got += len(chunk)
    assert got == 100000, got
    print("socketpair:", got, "bytes")

    out = subprocess.run(["sh", "-c", "seq 1000 | sort -rn | head -2 | tr '\\n' ' '"],
                         capture_output=True, text=True, check=True).stdout
    assert out == "1000 999 ", repr(out)
    print("subprocess pipeline:", out.strip())

    hits = []
    signal.signal(signal.SIGUSR1, lambda s, f: hits.append(s))
    killer = subprocess.Popen(["sh", "-c", "sleep 2; kill -USR1 %d" % os.getpid()])
    t0 = time.monotonic()
    time.sleep(10)  # Python resumes the sleep after the handler (PEP 475)
    killer.wait()
    elapsed = time.monotonic() - t0
    assert hits == [signal.SIGUSR1], hits
    print("signal handler ran; sleep(10) took %.3f s" % elapsed)
    if len(sys.argv) > 1 and sys.argv[1] == "virtual":
        assert elapsed == 10.0, elapsed


if __name__ == "__main__":
    main()
