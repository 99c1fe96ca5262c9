#!/usr/bin/env python3
"""A client of natlab server's rendezvous and relay for the server tests,
over UDP or TCP, written apart from natlab's codec (common/agentmsg.h,
common/agentframe.h) so the two check each other. Run inside namespaces by
natlab exec. SERVER is IP:PORT; --tcp frames each message (0xE4 0x00 LEN).

  listen SERVER --name N [--tcp] [--secret FILE] [--expect K]
        register, then answer K relayed pings (a RELAY "ping from X") with
        "pong from N" in the same session; prints registered=, one
        peer=NAME session=ID per PEER, pinged_by=X per ping, then done=K
  connect SERVER --name N --peer P [--tcp] [--secret FILE]
        register, CONNECT P (again each second until a PEER), relay
        "ping from N" until "pong from P" comes back; prints registered=,
        peer=, pong=P, role=
  register SERVER --name N [--tcp|--udp] [--timeout S]
        one REGISTER; exit 0 if REGISTERED comes back within S seconds
  badtag SERVER --name N --tcp [--secret FILE]
        a REGISTER with a wrong tag, then a right one on the same
        connection: exit 0 if only the second is answered
  garbage SERVER
        HTTP on the agent port: exit 0 if the server closes the connection
        within 2 s without a byte

Each prints key=value lines; exit 1 on a timeout (12 s unless --timeout).
"""
import hashlib
import hmac
import select
import socket
import struct
import sys
import time

REGISTER, REGISTERED, CONNECT, PEER, ERROR, RELAY = 1, 2, 3, 4, 5, 6
FLAG_KEY_DERIVED = 4


class Client:
    def __init__(self, server, tcp, secret):
        ip, port = server.rsplit(":", 1)
        self.server = (ip, int(port))
        self.tcp = tcp
        self.key = secret
        self.counter = int(time.time() * 1e6)  # rising across restarts, as agents do
        if tcp:
            self.sock = socket.create_connection(self.server, timeout=5)
            self.sock.setblocking(False)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.buf = b""

    def message(self, typ, body=b"", session=0, flags=0, key=None):
        self.counter += 1
        head = struct.pack("!BBBBQQ", 0xE4, 1, typ, flags, self.counter, session) + body
        tag = hmac.new(self.key if key is None else key, head, hashlib.sha256).digest()[:16]
        return head + tag

    def send(self, msg):
        if self.tcp:
            self.sock.sendall(struct.pack("!BBH", 0xE4, 0, len(msg)) + msg)
        else:
            self.sock.sendto(msg, self.server)

    def receive(self, deadline):
        """The next message from the server (parsed), or None at the deadline."""
        while True:
            if self.tcp and len(self.buf) >= 4:
                if self.buf[0] != 0xE4 or self.buf[1] != 0:
                    raise SystemExit("bad frame header from the server: %r" % self.buf[:4])
                n = struct.unpack("!H", self.buf[2:4])[0]
                if len(self.buf) >= 4 + n:
                    msg, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    return parse(msg, self.key)
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                return None
            if self.tcp:
                data = self.sock.recv(4096)
                if not data:
                    raise SystemExit("the server closed the connection")
                self.buf += data
            else:
                data, _ = self.sock.recvfrom(2048)
                return parse(data, self.key)

    def register(self, name, deadline):
        body = bytes([len(name)]) + name.encode() + struct.pack("!BhH", 0, 0, 0) + b"\0"
        while time.monotonic() < deadline:
            self.send(self.message(REGISTER, body))
            m = self.receive(min(deadline, time.monotonic() + 1))
            while m is not None and m["type"] != REGISTERED:
                m = self.receive(min(deadline, time.monotonic() + 1))
            if m is not None:
                print("registered=%s" % m["endpoint"], flush=True)
                return m
        return None


def endpoint(b):
    ip, port = struct.unpack("!IH", b)
    return "%s:%d" % (socket.inet_ntoa(struct.pack("!I", ip)), port)


def parse(data, key):
    if len(data) < 36 or data[0] != 0xE4 or data[1] != 1:
        raise SystemExit("not an agentmsg from the server: %r" % data[:8])
    want = hmac.new(key, data[:-16], hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(want, data[-16:]):
        raise SystemExit("bad tag on a message from the server")
    typ, flags = data[2], data[3]
    counter, session = struct.unpack("!QQ", data[4:20])
    body = data[20:-16]
    m = {"type": typ, "flags": flags, "counter": counter, "session": session}
    if typ == REGISTERED:
        m["endpoint"] = endpoint(body[:6])
    elif typ == PEER:
        n = body[0]
        m["name"] = body[1:1 + n].decode()
        m["role"] = body[1 + n]
        m["endpoint"] = endpoint(body[2 + n + 5:2 + n + 11])
    elif typ == RELAY:
        n = struct.unpack("!H", body[:2])[0]
        m["payload"] = body[2:2 + n]
    elif typ == ERROR:
        n = struct.unpack("!H", body[1:3])[0]
        m["code"], m["text"] = body[0], body[3:3 + n].decode(errors="replace")
    return m


def relay(payload):
    return struct.pack("!H", len(payload)) + payload


def main():
    cmd, server = sys.argv[1], sys.argv[2]
    args, i = {}, 3
    while i < len(sys.argv):
        a = sys.argv[i][2:]
        if a in ("tcp", "udp"):
            args[a] = True
            i += 1
        else:
            args[a] = sys.argv[i + 1]
            i += 2
    secret = b""
    if "secret" in args:
        secret = open(args["secret"], "rb").read()
        if secret.endswith(b"\n"):
            secret = secret[:-1]
    deadline = time.monotonic() + float(args.get("timeout", 12))
    name = args.get("name", "probe")

    if cmd == "garbage":
        ip, port = server.rsplit(":", 1)
        c = socket.create_connection((ip, int(port)), timeout=2)
        c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = c.recv(4096)
        except ConnectionResetError:
            data = b""
        except socket.timeout:
            print("still_open=1")
            return 1
        print("closed=1 bytes=%d" % len(data))
        return 0 if data == b"" else 1

    c = Client(server, bool(args.get("tcp")), secret)
    if cmd == "register":
        return 0 if c.register(name, deadline) else 1

    if cmd == "badtag":
        body = bytes([len(name)]) + name.encode() + struct.pack("!BhH", 0, 0, 0) + b"\0"
        c.send(c.message(REGISTER, body, key=b"not the secret"))
        if c.receive(time.monotonic() + 1) is not None:
            print("answered_bad_tag=1")
            return 1
        print("bad_tag_ignored=1")
        return 0 if c.register(name, deadline) else 1

    if not c.register(name, deadline):
        print("no_registered")
        return 1

    if cmd == "listen":
        expect, done = int(args.get("expect", 1)), 0
        while done < expect:
            m = c.receive(deadline)
            if m is None:
                print("timeout done=%d" % done)
                return 1
            if m["type"] == PEER:
                print("peer=%s session=%d role=%d" % (m["name"], m["session"], m["role"]), flush=True)
            elif m["type"] == RELAY and m["payload"].startswith(b"ping from "):
                who = m["payload"][10:].decode()
                print("pinged_by=%s" % who, flush=True)
                c.send(c.message(RELAY, relay(b"pong from " + name.encode()), session=m["session"]))
                done += 1
        print("done=%d" % done)
        return 0

    if cmd == "connect":
        peer, session, next_connect = args["peer"], None, 0
        next_ping = 0
        while time.monotonic() < deadline:
            now = time.monotonic()
            if session is None and now >= next_connect:
                c.send(c.message(CONNECT, bytes([len(peer)]) + peer.encode()))
                next_connect = now + 1
            if session is not None and now >= next_ping:
                c.send(c.message(RELAY, relay(b"ping from " + name.encode()), session=session))
                next_ping = now + 1
            m = c.receive(min(deadline, now + 0.2))
            if m is None:
                continue
            if m["type"] == PEER and m["name"] == peer:
                session = m["session"]
                print("peer=%s role=%d peer_endpoint=%s" % (m["name"], m["role"], m["endpoint"]), flush=True)
            elif m["type"] == RELAY and m["session"] == session and m["payload"].startswith(b"pong from "):
                print("pong=%s" % m["payload"][10:].decode())
                return 0
        print("timeout session=%s" % session)
        return 1
    print("unknown command " + cmd, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
