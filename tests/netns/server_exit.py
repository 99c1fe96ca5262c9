"""natlab server's exit path against a second SIGTERM, as `natlab down`
sends one (the process group, then the pidfd): the counters must be
written and the exit clean whatever the gap between the two signals.
usage: server_exit.py NATLAB DIR RUNS-PER-GAP; prints one line per gap,
exits 1 when any run was killed or left no counters."""
import os
import signal
import subprocess
import sys
import time

natlab, work, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
bad = 0
for gap_ms in (0.2, 0.5, 1.0, 3.0):
    killed = missing = 0
    for k in range(runs):
        ready, stats = f"{work}/exit.ready", f"{work}/exit.stats.json"
        for f in (ready, stats):
            if os.path.exists(f):
                os.unlink(f)
        port = 20000 + (os.getpid() + 2 * k) % 20000
        p = subprocess.Popen([natlab, "server", "--address", "127.0.0.1", "--port", str(port),
                              "--alt-port", str(port + 1), "--tcp-ports", "none", "--ready-file", ready,
                              "--stats-out", stats], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
        deadline = time.monotonic() + 5
        while not os.path.exists(ready) and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)  # readiness poll, bounded
        os.killpg(p.pid, signal.SIGTERM)
        t = time.monotonic()
        while time.monotonic() - t < gap_ms / 1000:
            pass  # the gap, to the microsecond: a sleep would overshoot it
        try:
            os.kill(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        rc = p.wait()
        killed += rc != 0
        missing += not os.path.exists(stats)
    print(f"gap {gap_ms} ms: {runs} runs, {killed} not exit 0, {missing} without counters")
    bad += killed + missing
sys.exit(1 if bad else 0)
