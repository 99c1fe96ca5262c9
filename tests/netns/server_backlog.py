"""natlab server's TCP send queue against a client that does not read: a UDP
peer relays ~1 MB/s for 5 s (more than the 4 MB tcp_wmem lets a
socket buffer grow to) to a TCP member whose receive buffer is 4 KB
and who reads nothing meanwhile. The server must drop whole messages once
its queue is full (counted as dropped_backlog), never a part of one: when
the member reads at last, every frame parses and every tag checks, and
what it got plus what was dropped is what was relayed.
usage: server_backlog.py NATLAB DIR; exit 1 on a failed check."""
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time

natlab, work = sys.argv[1], sys.argv[2]
here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("agent_client", os.path.join(here, "agent_client.py"))
ac = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ac)

secret = b"backlog secret"
with open(f"{work}/backlog.secret", "wb") as f:
    f.write(secret)
ready, stats = f"{work}/backlog.ready", f"{work}/backlog.stats.json"
port = 20000 + (os.getpid() * 3) % 20000
server = subprocess.Popen([natlab, "server", "--address", "127.0.0.1", "--port", str(port),
                           "--alt-port", str(port + 1), "--tcp-ports", str(port + 2),
                           "--secret", f"{work}/backlog.secret", "--ready-file", ready,
                           "--stats-out", stats], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
deadline = time.monotonic() + 5
while not os.path.exists(ready) and server.poll() is None and time.monotonic() < deadline:
    time.sleep(0.01)  # readiness poll, bounded
bad = []
try:
    alice = ac.Client(f"127.0.0.1:{port + 2}", True, secret)
    alice.sock.close()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port + 2))
    s.setblocking(False)
    alice.sock = s
    bob = ac.Client(f"127.0.0.1:{port}", False, secret)
    if not alice.register("alice", time.monotonic() + 5) or not bob.register("bob", time.monotonic() + 5):
        raise SystemExit("no registration")
    bob.send(bob.message(ac.CONNECT, bytes([5]) + b"alice"))
    m = bob.receive(time.monotonic() + 3)
    while m is not None and m["type"] != ac.PEER:
        m = bob.receive(time.monotonic() + 3)
    if m is None:
        raise SystemExit("no PEER for bob")
    sent, end = 0, time.monotonic() + 5
    while time.monotonic() < end:
        bob.send(bob.message(ac.RELAY, ac.relay(b"x" * 1100), session=m["session"]))
        sent += 1
        if sent % 50 == 0:
            time.sleep(0.05)  # pacing under the session's budget (1000/s, 1 MB/s)
    got = {}
    while True:  # parses every frame and checks every tag, or exits
        msg = alice.receive(time.monotonic() + 1)
        if msg is None:
            break
        got[msg["type"]] = got.get(msg["type"], 0) + 1
finally:
    server.send_signal(signal.SIGTERM)
    server.wait(10)
d = json.load(open(stats))
t, r = d["tcp"], d["rendezvous"]
relays = got.get(ac.RELAY, 0)
print(f"sent {sent} relays; relayed {r['relayed_packets']}; alice read {relays} and "
      f"{got.get(ac.PEER, 0)} PEER; dropped whole {t['dropped_backlog']}")
if t["dropped_backlog"] == 0:
    bad.append("no message dropped: the queue never filled")
if relays + t["dropped_backlog"] != r["relayed_packets"] or got.get(ac.PEER) != 1:
    bad.append("read + dropped != relayed")
if t["closed_error"] or t["closed_malformed"]:
    bad.append("connections closed on errors: %s" % t)
for b in bad:
    print("bad: " + b)
sys.exit(1 if bad else 0)
