#!/usr/bin/env python3
"""Small UDP probes for the daemon tests, run inside namespaces by natlab exec.

  echo IP PORT                 send every datagram back to where it came from
  reflect IP PORT              answer every datagram with "ip:port" of its source
                               (and, for datagrams over 1000 bytes, the datagram too)
  ask IP PORT LPORT [SIZE]     send SIZE bytes from LPORT, print the reply's "ip:port"
                               and, for a big reply, its size (retries 5 x 1 s)
  rtt IP PORT LPORT N          N round trips to a reflector; print the median in ms
  loss IP PORT LPORT N         N probes, one at a time; print how many were answered
  refused IP PORT LPORT        send to a closed port; exit 0 if ICMP says refused
  unreachable IP PORT LPORT    exit 0 if ICMP says the host is unreachable
  raw-bad DST                  send malformed packets (bad UDP length, protocol 253)
  pmp GW [LPORT]               NAT-PMP: print the external address, then map LPORT
                               (UDP) for 60 s and print the external port
"""
import errno
import socket
import struct
import sys
import time


def sock(lport, timeout=1.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", lport))
    s.settimeout(timeout)
    return s


def reflect(ip, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, port))
    while True:
        d, a = s.recvfrom(65536)
        s.sendto(("%s:%d" % a).encode() + (b" " + d if len(d) > 1000 else b""), a)


def echo(ip, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, int(port)))
    while True:
        data, src = s.recvfrom(65535)
        s.sendto(data, src)


def ask(ip, port, lport, size=1):
    s = sock(lport)
    for _ in range(5):
        s.sendto(b"?" * size, (ip, port))
        try:
            reply = s.recvfrom(65536)[0]
            head, _, rest = reply.partition(b" ")
            print(head.decode() + (" %d" % len(rest) if rest else ""))
            return 0
        except socket.timeout:
            pass
    return 1


def rtt(ip, port, lport, n):
    s = sock(lport)
    samples = []
    for _ in range(n):
        t0 = time.monotonic()
        s.sendto(b"?", (ip, port))
        try:
            s.recvfrom(2048)
            samples.append((time.monotonic() - t0) * 1000)
        except socket.timeout:
            pass
    samples.sort()
    print("%.3f" % samples[len(samples) // 2] if samples else "nan")
    return 0 if samples else 1


def loss(ip, port, lport, n):
    s = sock(lport, 0.15)
    got = 0
    for i in range(n):
        s.sendto(struct.pack("!I", i), (ip, port))
        try:
            s.recvfrom(2048)
            got += 1
        except socket.timeout:
            pass
    print(got)
    return 0


def refused(ip, port, lport):
    s = sock(lport, 2.0)
    s.connect((ip, port))
    for _ in range(3):
        s.send(b"anyone?")
        try:
            s.recv(2048)
        except ConnectionRefusedError:
            return 0
        except socket.timeout:
            pass
    return 1


def unreachable(ip, port, lport):
    s = sock(lport, 2.0)
    # Linux reports "host unreachable" (a soft error) on UDP only with IP_RECVERR.
    s.setsockopt(socket.IPPROTO_IP, getattr(socket, "IP_RECVERR", 11), 1)
    s.connect((ip, port))
    for _ in range(3):
        try:
            s.send(b"?")
            s.recv(2048)
        except OSError as e:
            if e.errno == errno.EHOSTUNREACH:
                return 0
        except socket.timeout:
            pass
    return 1


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ip_header(src, dst, proto, payload_len):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, 0, 0, 64, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack("!H", checksum(h)) + h[12:]


def raw_bad(dst):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    # Our own address, as the kernel would fill it: connect a UDP socket to learn it.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.connect((dst, 9))
    src = probe.getsockname()[0]
    # UDP length 200 in a datagram with 8 bytes of payload.
    udp = struct.pack("!HHHH", 5555, 9, 200, 0) + b"12345678"
    s.sendto(ip_header(src, dst, 17, len(udp)) + udp, (dst, 0))
    # An unknown protocol.
    body = b"not udp at all"
    s.sendto(ip_header(src, dst, 253, len(body)) + body, (dst, 0))
    return 0


def pmp(gw, lport):
    s = sock(0, 2.0)
    s.sendto(b"\x00\x00", (gw, 5351))
    data = s.recvfrom(64)[0]
    ver, op, result, epoch = struct.unpack("!BBHI", data[:8])
    print("external %s result %d op %d" % (socket.inet_ntoa(data[8:12]), result, op))
    if lport:
        s.sendto(struct.pack("!BBHHHI", 0, 1, 0, lport, lport, 60), (gw, 5351))
        data = s.recvfrom(64)[0]
        ver, op, result, epoch, internal, external, life = struct.unpack("!BBHIHHI", data[:16])
        print("mapped %d -> %d result %d lifetime %d" % (internal, external, result, life))
    return 0


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "reflect":
        return reflect(args[0], int(args[1]))
    if cmd == "echo":
        return echo(args[0], int(args[1]))
    if cmd == "ask":
        return ask(args[0], int(args[1]), int(args[2]), int(args[3]) if len(args) > 3 else 1)
    if cmd == "rtt":
        return rtt(args[0], int(args[1]), int(args[2]), int(args[3]))
    if cmd == "loss":
        return loss(args[0], int(args[1]), int(args[2]), int(args[3]))
    if cmd == "refused":
        return refused(args[0], int(args[1]), int(args[2]))
    if cmd == "unreachable":
        return unreachable(args[0], int(args[1]), int(args[2]))
    if cmd == "raw-bad":
        return raw_bad(args[0])
    if cmd == "pmp":
        return pmp(args[0], int(args[1]) if len(args) > 1 else 0)
    print(__doc__)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))
