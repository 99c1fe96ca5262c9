#!/usr/bin/env python3
"""A STUN client for the server tests, written apart from natlab's codec so
the two check each other. Run inside namespaces by natlab exec.

  probe IP PORT [--lport N] [--change ip|port|both] [--response-port N]
                [--padding N] [--unknown TYPE] [--software TEXT]
                [--fingerprint] [--classic]
        one Binding request (3 tries, 1 s each); prints the answer as
        key=value lines, or "no_reply" and exit 1
  junk IP PORT  malformed datagrams, responses and indications; exit 0 if
                nothing answers within 1 s
  wait IP PORT  until a plain request is answered (at most 5 s)
  tcp IP PORT [probe's options] [--count N] [--connect-back IP:PORT]
                [--from-other] [--listen]
        over one TCP connection (RFC 8489 6.2.2): N requests written at once
        (default 1, so the server must split the stream), N answers read
        (each within 12 s); prints the last one as key=value lines plus
        answers=N. --connect-back adds NATLAB-CONNECT-BACK (from the other
        address with --from-other); --listen accepts on the local port
        meanwhile (as a host behind a NAT must, to tell a SYN that got in)
  tcpjunk IP PORT garbage|oversized|split
        garbage/oversized: a broken stream; exit 0 if the server closes the
        connection within 2 s without answering. split: one request
        written a byte at a time, exit 0 if it is answered
"""
import os
import select
import socket
import struct
import sys
import time
import zlib

COOKIE = 0x2112A442
NAMES = {0x0001: "mapped", 0x0020: "xor_mapped", 0x0004: "source", 0x0005: "changed",
         0x802B: "response_origin", 0x802C: "other_address"}


def attr(t, v):
    return struct.pack("!HH", t, len(v)) + v + b"\0" * (-len(v) % 4)


def build(args, tid):
    attrs = b""
    change = {"": 0, "ip": 4, "port": 2, "both": 6}[args.get("change", "")]
    if change or args.get("classic"):  # the classic client always sends it
        attrs += attr(0x0003, struct.pack("!I", change))
    if "response-port" in args:
        attrs += attr(0x0027, struct.pack("!HH", int(args["response-port"]), 0))
    if "padding" in args:
        attrs += attr(0x0026, b"\xab" * int(args["padding"]))
    if "unknown" in args:
        attrs += attr(int(args["unknown"], 16), b"\x00\x01\x02\x03")
    if "software" in args:
        attrs += attr(0x8022, args["software"].encode())
    if "connect-back" in args:
        ip, port = args["connect-back"].rsplit(":", 1)
        x = struct.unpack("!I", socket.inet_aton(ip))[0] ^ COOKIE
        attrs += attr(0xC4A0, struct.pack("!BBHII", 0, 1, int(port) ^ (COOKIE >> 16), x,
                                          4 if args.get("from-other") else 0))
    head = struct.pack("!HH", 0x0001, len(attrs) + (8 if args.get("fingerprint") else 0)) + tid
    msg = head + attrs
    if args.get("fingerprint"):
        msg += attr(0x8028, struct.pack("!I", (zlib.crc32(msg) ^ 0x5354554E) & 0xFFFFFFFF))
    return msg


def address(v, xor):
    family, port = v[1], struct.unpack("!H", v[2:4])[0]
    if family != 1 or len(v) != 8:
        return "family%d" % family
    ip = struct.unpack("!I", v[4:8])[0]
    if xor:
        port ^= COOKIE >> 16
        ip ^= COOKIE
    return "%s:%d" % (socket.inet_ntoa(struct.pack("!I", ip)), port)


def parse(data, tid):
    out = {"size": len(data)}
    typ, length = struct.unpack("!HH", data[:4])
    out["type"] = "0x%04x" % typ
    out["length_ok"] = "yes" if length + 20 == len(data) else "no"
    out["id_echo"] = "yes" if data[4:20] == tid else "no"
    types, off, fp = [], 20, "none"
    while off + 4 <= len(data):
        t, ln = struct.unpack("!HH", data[off:off + 4])
        v = data[off + 4:off + 4 + ln]
        types.append("0x%04x" % t)
        if t in NAMES:
            out[NAMES[t]] = address(v, t == 0x0020)
        elif t == 0x8022:
            out["software"] = v.decode(errors="replace")
        elif t == 0x0026:
            out["padding"] = ln
        elif t == 0x0009:
            out["error"] = (v[2] & 7) * 100 + v[3]
            out["reason"] = v[4:].decode(errors="replace").rstrip()
        elif t == 0x000A:
            out["unknown"] = ",".join("0x%04x" % struct.unpack("!H", v[i:i + 2])[0] for i in range(0, ln, 2))
        elif t == 0xC4A1 and ln == 16:
            out["connect_outcome"] = {1: "connected", 2: "reset", 3: "icmp", 4: "timeout",
                                      5: "failed"}.get(v[0], "?%d" % v[0])
            out["connect_icmp"] = "%d/%d" % (v[1], v[2])
            out["connect_elapsed_ms"] = struct.unpack("!I", v[4:8])[0]
            out["connect_source"] = address(v[8:16], True)
        elif t == 0x8028:
            want = (zlib.crc32(data[:off]) ^ 0x5354554E) & 0xFFFFFFFF
            fp = "ok" if struct.unpack("!I", v)[0] == want and off + 8 == len(data) else "bad"
        off += 4 + ln + (-ln % 4)
    out["types"] = ",".join(types)
    out["fingerprint"] = fp
    return out


def sock(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    return s


def probe(ip, port, args):
    main = sock(int(args.get("lport", 0)))
    socks = [main]
    if "response-port" in args:
        socks.append(sock(int(args["response-port"])))
    tid = os.urandom(16) if args.get("classic") else struct.pack("!I", COOKIE) + os.urandom(12)
    msg = build(args, tid)
    for _ in range(3):
        main.sendto(msg, (ip, port))
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            ready, _, _ = select.select(socks, [], [], max(0, deadline - time.monotonic()))
            for s in ready:
                data, frm = s.recvfrom(65536)
                if len(data) < 20 or data[4:20] != tid:
                    continue
                out = parse(data, tid)
                out["reply_from"] = "%s:%d" % frm
                out["reply_to_port"] = s.getsockname()[1]
                out["local"] = "%s:%d" % main.getsockname()
                out["request_size"] = len(msg)
                for k, v in out.items():
                    print("%s=%s" % (k, v))
                return 0
    print("no_reply")
    return 1


class Stream:
    """STUN messages off a TCP stream, each as long as its header says."""

    def __init__(self, c):
        self.c, self.buf = c, b""

    def next(self, deadline):
        while True:
            if len(self.buf) >= 20:
                n = 20 + struct.unpack("!H", self.buf[2:4])[0]
                if len(self.buf) >= n:
                    msg, self.buf = self.buf[:n], self.buf[n:]
                    return msg
            self.c.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.c.recv(4096)
            if not chunk:
                raise EOFError("closed by the server")
            self.buf += chunk


def tcp(ip, port, args):
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    c.bind(("0.0.0.0", int(args.get("lport", 0))))
    listener = None
    if args.get("listen"):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind(c.getsockname())
        listener.listen(4)
    c.settimeout(3)
    try:
        c.connect((ip, port))
    except OSError as e:
        print("connect_error=%s" % e.__class__.__name__)
        return 1
    count = int(args.get("count", 1))
    tids = [struct.pack("!I", COOKIE) + os.urandom(12) for _ in range(count)]
    c.sendall(b"".join(build(args, t) for t in tids))
    stream, out, accepted = Stream(c), {}, 0
    deadline = time.monotonic() + 12
    try:
        for tid in tids:
            msg = stream.next(deadline)
            if msg[4:20] != tid:
                print("wrong_transaction=yes")
                return 1
            out = parse(msg, tid)
    except (OSError, EOFError) as e:
        print("stream_error=%s" % e)
        return 1
    if listener is not None:
        listener.setblocking(False)
        try:
            while True:
                listener.accept()[0].close()
                accepted += 1
        except BlockingIOError:
            pass
    out["answers"] = count
    out["local"] = "%s:%d" % c.getsockname()
    out["accepted"] = accepted
    for k, v in out.items():
        print("%s=%s" % (k, v))
    return 0


def tcpjunk(ip, port, kind):
    c = socket.create_connection((ip, port), timeout=3)
    tid = struct.pack("!I", COOKIE) + os.urandom(12)
    if kind == "split":
        msg = build({}, tid)
        for b in msg:
            c.send(bytes([b]))
            time.sleep(0.001)  # pacing the bytes apart is the point here
        c.settimeout(3)
        data = c.recv(4096)
        return 0 if data[8:20] == tid[4:] else 1
    if kind == "garbage":
        c.sendall(b"GET / HTTP/1.0\r\n\r\n")
    else:  # a STUN header announcing 60000 bytes
        c.sendall(struct.pack("!HH", 1, 60000) + tid + b"\0" * 100)
    c.settimeout(2)
    try:
        data = c.recv(4096)
    except ConnectionResetError:
        data = b""
    except socket.timeout:
        print("still open after 2 s")
        return 1
    if data:
        print("answered: %s" % data[:24].hex())
        return 1
    return 0


def junk(ip, port):
    s = sock(0)
    tid = struct.pack("!I", COOKIE) + b"junkjunkjunk"
    datagrams = [
        b"",                                                     # empty
        b"hello, server",                                        # not STUN
        b"\x00\x01\x00\x00" + tid[:10],                          # too short
        b"\x00\x01\x00\x04" + tid,                               # length past the end
        b"\x00\x01\x00\x08" + tid + b"\x00\x01\x00\x10abcd",     # attribute past the end
        b"\x00\x01\x00\x08" + tid + b"\x80\x28\x00\x04\x00\x00\x00\x00",  # bad FINGERPRINT
        b"\x01\x01\x00\x00" + tid,                               # a success response
        b"\x00\x11\x00\x00" + tid,                               # a Binding indication
        b"\x00\x03\x00\x00" + tid,                               # TURN Allocate
        b"\xc0" + os.urandom(99),                                # top bits set
    ]
    for d in datagrams:
        s.sendto(d, (ip, port))
    s.settimeout(1.0)
    try:
        data, frm = s.recvfrom(65536)
        print("answered from %s:%d: %s" % (frm[0], frm[1], data[:24].hex()))
        return 1
    except socket.timeout:
        print("no answer to %d malformed or non-request datagrams" % len(datagrams))
        return 0


def wait(ip, port):
    s = sock(0)
    tid = struct.pack("!I", COOKIE) + os.urandom(12)
    deadline = time.monotonic() + 5.0
    s.settimeout(0.1)
    while time.monotonic() < deadline:
        s.sendto(struct.pack("!HH", 1, 0) + tid, (ip, port))
        try:
            if s.recvfrom(65536)[0][8:20] == tid[4:]:
                return 0
        except (socket.timeout, ConnectionRefusedError):
            pass  # polling for readiness, bounded
    return 1


def main(argv):
    if len(argv) < 4:
        print(__doc__)
        return 64
    cmd, ip, port = argv[1], argv[2], int(argv[3])
    args, rest = {}, argv[4:] if argv[1] != "tcpjunk" else []
    while rest:
        key = rest.pop(0)[2:]
        if key in ("fingerprint", "classic", "from-other", "listen"):
            args[key] = True
        else:
            args[key] = rest.pop(0)
    if cmd == "probe":
        return probe(ip, port, args)
    if cmd == "junk":
        return junk(ip, port)
    if cmd == "wait":
        return wait(ip, port)
    if cmd == "tcp":
        return tcp(ip, port, args)
    if cmd == "tcpjunk":
        return tcpjunk(ip, port, argv[4])
    print(__doc__)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))
