#!/usr/bin/env python3
"""TCP helpers for tests/netns/test_tcp.sh; each prints one result line.

serve ADDR PORT               echo server: greets each connection with
                              "you IP:PORT" (the address it sees), echoes
                              lines, logs "got LINE from IP:PORT"
session HOST PORT LPORT GAP UTO_MS
                              connect from LPORT, one line echoed, GAP
                              seconds idle, a second line: "ok", "reset",
                              "timeout" or "closed", the seconds the second
                              line took (TCP_USER_TIMEOUT UTO_MS), and the
                              endpoint the server saw
hold HOST PORT LPORT SECONDS  connect, print the greeting (the mapped
                              endpoint), keep the connection SECONDS
syn HOST PORT TIMEOUT         one connect: "connected", "refused", "reset",
                              "unreachable" or "timeout", and its seconds
simopen LPORT PEER PPORT DEADLINE NAME [once]
                              connect from LPORT to PEER:PPORT (again on
                              failure until DEADLINE seconds, unless once),
                              send NAME, read the peer's: "connected PEERNAME
                              SECONDS" or "refused|timeout|... SECONDS"
"""
import errno
import socket
import sys
import threading
import time


def serve(addr, port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(64)

    def client(c, peer):
        name = "%s:%d" % peer
        f = c.makefile("rwb", buffering=0)
        try:
            f.write(b"you %s\n" % name.encode())
            for line in f:
                print("got %s from %s" % (line.decode().strip(), name), flush=True)
                f.write(line)
        except OSError as e:
            print("error %s from %s" % (errno.errorcode.get(e.errno, e), name), flush=True)
        c.close()

    while True:
        c, peer = ls.accept()
        threading.Thread(target=client, args=(c, peer), daemon=True).start()


def outcome(e):
    return {errno.ECONNREFUSED: "refused", errno.ECONNRESET: "reset", errno.ETIMEDOUT: "timeout",
            errno.EHOSTUNREACH: "unreachable", errno.ENETUNREACH: "unreachable"}.get(
                e.errno, errno.errorcode.get(e.errno, str(e)))


def connect(host, port, lport, timeout):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if lport:
        s.bind(("0.0.0.0", lport))
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def readline(s):
    buf = b""
    while not buf.endswith(b"\n"):
        b = s.recv(1)
        if not b:
            raise EOFError
        buf += b
    return buf.decode().strip()


def session(host, port, lport, gap, uto_ms):
    s = connect(host, port, lport, 5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, uto_ms)
    mapped = readline(s).split()[1]
    s.sendall(b"one\n")
    assert readline(s) == "one"
    time.sleep(gap)  # the idle gap is what is tested
    t0 = time.monotonic()
    s.settimeout(uto_ms / 1000 + 5)
    try:
        s.sendall(b"two\n")
        line = readline(s)
        result = "ok" if line == "two" else "wrong " + line
    except EOFError:
        result = "closed"
    except OSError as e:  # socket.timeout (no errno) is the socket's own deadline
        result = outcome(e) if e.errno else "no-answer"
    print("%s %.2f %s" % (result, time.monotonic() - t0, mapped), flush=True)


def hold(host, port, lport, seconds):
    s = connect(host, port, lport, 5)
    print(readline(s).split()[1], flush=True)
    sys.stdout.close()
    time.sleep(seconds)  # keeps the mapping for the prober
    s.close()


def syn(host, port, timeout):
    t0 = time.monotonic()
    try:
        connect(host, port, 0, timeout).close()
        result = "connected"
    except OSError as e:
        result = outcome(e) if e.errno else "timeout"
    print("%s %.2f" % (result, time.monotonic() - t0), flush=True)


def simopen(lport, peer, pport, deadline, name, once):
    t0 = time.monotonic()
    while True:
        left = deadline - (time.monotonic() - t0)
        try:
            s = connect(peer, pport, lport, max(left, 0.1))
            break
        except OSError as e:
            result = outcome(e) if e.errno else "timeout"
        if once or time.monotonic() - t0 >= deadline:
            print("%s %.2f" % (result, time.monotonic() - t0), flush=True)
            return
        time.sleep(0.05)  # a refused connect comes back at once: not a busy loop
    took = time.monotonic() - t0
    s.settimeout(5)
    s.sendall(name.encode() + b"\n")
    try:
        print("connected %s %.2f" % (readline(s), took), flush=True)
    except (OSError, EOFError) as e:
        print("no-data %s %.2f" % (e, took), flush=True)
    s.close()


def main(a):
    cmd = a[0]
    if cmd == "serve":
        serve(a[1], int(a[2]))
    elif cmd == "session":
        session(a[1], int(a[2]), int(a[3]), float(a[4]), int(a[5]))
    elif cmd == "hold":
        hold(a[1], int(a[2]), int(a[3]), float(a[4]))
    elif cmd == "syn":
        syn(a[1], int(a[2]), float(a[3]))
    elif cmd == "simopen":
        simopen(int(a[1]), a[2], int(a[3]), float(a[4]), a[5], len(a) > 6 and a[6] == "once")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
