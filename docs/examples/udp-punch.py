#!/usr/bin/env python3
"""An agent kind in one file (docs/agents.md): learn the public endpoint from
STUN, trade it with the peer through two FIFOs in NATLAB_SIGNAL_DIR, punch,
then the connector sends NATLAB_SEND messages that the listener echoes."""
import json, os, socket, struct, sys, time

if sys.argv[1:] == ["--version"]:
    sys.exit(print("udp-punch 1.0"))
env, t0 = os.environ, time.monotonic()
ms = lambda: round((time.monotonic() - t0) * 1000, 1)
connector = env["NATLAB_ROLE"] == "connect"
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("0.0.0.0", 0))


def stun(server):  # RFC 8489 Binding request; the XOR-MAPPED-ADDRESS back
    host, port = server.rsplit(":", 1)
    tid = os.urandom(12)
    sock.settimeout(0.5)
    for _ in range(6):
        sock.sendto(struct.pack("!HHI", 1, 0, 0x2112A442) + tid, (host, int(port)))
        try:
            data = sock.recv(2048)
        except socket.timeout:
            continue
        i = 20
        while data[8:20] == tid and i + 12 <= len(data):
            kind, size = struct.unpack("!HH", data[i:i + 4])
            if kind == 0x0020:
                port = struct.unpack("!H", data[i + 6:i + 8])[0] ^ 0x2112
                addr = struct.unpack("!I", data[i + 8:i + 12])[0] ^ 0x2112A442
                return socket.inet_ntoa(struct.pack("!I", addr)), port
            i += 4 + (size + 3) // 4 * 4
    raise SystemExit("no STUN answer from " + server)


def trade(mine):  # two FIFOs: opening one blocks until the peer opens its end
    sig = env["NATLAB_SIGNAL_DIR"]
    for name in ("to-listen", "to-connect"):
        try:
            os.mkfifo(os.path.join(sig, name))
        except FileExistsError:
            pass
    mine_to, theirs_to = ("to-listen", "to-connect") if connector else ("to-connect", "to-listen")
    if connector:
        out = open(os.path.join(sig, mine_to), "w")
        inp = open(os.path.join(sig, theirs_to))
    else:
        inp = open(os.path.join(sig, theirs_to))
        out = open(os.path.join(sig, mine_to), "w")
    out.write(json.dumps(mine) + "\n")
    out.flush()
    return tuple(json.loads(inp.readline()))


peer = trade(stun(env["NATLAB_STUN"]))
sock.settimeout(0.1)
direct_at = None
for _ in range(50):  # punch: 5 s of probes, until the peer's arrive
    sock.sendto(b"punch", peer)
    try:
        data, source = sock.recvfrom(2048)
    except socket.timeout:
        continue
    if direct_at is None:
        direct_at, peer = ms(), source
    if data == b"punch-ack" or not connector:
        sock.sendto(b"punch-ack", peer)
        break
if not connector:  # echo until the runner stops us
    sock.settimeout(None)
    while True:
        data, source = sock.recvfrom(2048)
        if data.startswith(b"msg"):
            sock.sendto(data, source)
if direct_at is None:
    sys.exit(print(json.dumps({"outcome": "failed", "reason": "no probe came back in 5 s"})))
sent = delivered = 0
first = None
for n in range(int(env["NATLAB_SEND"])):
    sent += 1
    for _ in range(10):  # each message until its echo comes back
        sock.sendto(b"msg %d" % n, peer)
        try:
            if sock.recv(2048) == b"msg %d" % n:
                delivered, first = delivered + 1, first or ms()
                break
        except socket.timeout:
            pass
    time.sleep(int(env["NATLAB_INTERVAL_MS"]) / 1000)
print(json.dumps({"outcome": "direct", "path": "direct", "technique": "punch",
                  "time_to_direct_ms": direct_at, "time_to_first_byte_ms": first,
                  "sent": sent, "delivered": delivered}))
