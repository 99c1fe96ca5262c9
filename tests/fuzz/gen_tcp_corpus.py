#!/usr/bin/env python3
"""Writes the TCP seeds of fuzz_packet and fuzz_router from a second,
independent implementation of IPv4, TCP, UDP and ICMP (RFC 791, 793, 768,
792; RFC 1071 checksums), so the seeds also check the C code (the unit run
and the harnesses must parse them with valid checksums).

usage: tests/fuzz/gen_tcp_corpus.py   (rewrites corpus/packet, and corpus/router/tcp_*)
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def ip(text):
    return bytes(int(x) for x in text.split("."))


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src, dst, proto, body, ttl=64, frag=0x4000, ident=0):
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), ident, frag, ttl, proto, 0,
                       ip(src), ip(dst))
    return head[:10] + struct.pack("!H", csum(head)) + head[12:] + body


def tcp(src, sport, dst, dport, seq, ack, flags, data=b"", options=b"", window=64240, **kw):
    assert len(options) % 4 == 0
    head = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (20 + len(options)) // 4 << 4, flags,
                       window, 0, 0) + options
    seg = head + data
    pseudo = ip(src) + ip(dst) + struct.pack("!BBH", 0, 6, len(seg))
    c = csum(pseudo + seg)
    seg = seg[:16] + struct.pack("!H", c) + seg[18:]
    return ipv4(src, dst, 6, seg, **kw)


def udp(src, sport, dst, dport, data):
    body = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    pseudo = ip(src) + ip(dst) + struct.pack("!BBH", 0, 17, len(body))
    c = csum(pseudo + body) or 0xFFFF
    return ipv4(src, dst, 17, body[:6] + struct.pack("!H", c) + body[8:])


def icmp_error(src, orig, quote, typ=3, code=1):
    q = orig[:20 + quote]
    body = struct.pack("!BBHI", typ, code, 0, 0) + q
    body = body[:2] + struct.pack("!H", csum(body)) + body[4:]
    return ipv4(src, ".".join(str(b) for b in orig[12:16]), 1, body)  # back to the sender


SYN_OPTS = bytes.fromhex("020405b40402080a269a6c56000000000103030a")  # MSS, SACK, TS, NOP, WS


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def packet_seeds():
    out = os.path.join(HERE, "corpus", "packet")
    os.makedirs(out, exist_ok=True)
    params = ip("198.18.0.1") + struct.pack("!H", 62000) + ip("10.0.0.7") + struct.pack("!H", 8080)
    syn = tcp("192.0.2.10", 41378, "192.0.2.80", 80, 0xC49DEB3D, 0, SYN, options=SYN_OPTS)
    get = tcp("192.0.2.10", 41378, "192.0.2.80", 80, 0xC49DEB3E, 0x7CB9385D, ACK | PSH,
              b"GET / HTTP/1.1\r\nHost: 192.0.2.80\r\n\r\n", bytes.fromhex("0101080a269a6c57e12e8e11"))
    seeds = {
        "tcp_syn": (0x07, syn),
        "tcp_get": (0x03, get),
        "tcp_synack": (0x01, tcp("192.0.2.80", 80, "192.0.2.10", 41378, 0x7CB9385C, 0xC49DEB3E,
                                 SYN | ACK, options=SYN_OPTS)),
        "tcp_fin": (0x02, tcp("192.0.2.10", 41378, "192.0.2.80", 80, 7, 9, FIN | ACK)),
        "tcp_fin_noack": (0x03, tcp("192.0.2.10", 41378, "192.0.2.80", 80, 7, 0, FIN, b"bye")),
        "tcp_rst": (0x03, tcp("192.0.2.80", 80, "192.0.2.10", 41378, 0, 0xC49DEB3E, RST | ACK)),
        "tcp_odd_payload": (0x01, tcp("10.0.0.2", 1, "10.0.0.3", 2, 1, 2, ACK, b"odd")),
        "tcp_fragment": (0x03, tcp("10.0.0.2", 1, "10.0.0.3", 2, 1, 2, SYN, frag=0x2000)),
        "udp": (0x03, udp("192.0.2.1", 5000, "198.51.100.7", 3478, b"hi!")),
    }
    for quote in (4, 8, 17, 18, 28, 40):
        for side, op in (("src", 0x18 | 0x80), ("dst", 0x08)):
            seeds["icmp_tcp_q%d_%s" % (quote, side)] = (op, icmp_error("203.0.113.9", syn, quote))
    bad = bytearray(syn)
    bad[50] ^= 1
    seeds["tcp_bad_checksum"] = (0x03, bytes(bad))
    bad = bytearray(syn)
    bad[32] = 0x40
    seeds["tcp_bad_offset"] = (0x03, bytes(bad))
    seeds["tcp_truncated"] = (0x03, ipv4("10.0.0.2", "10.0.0.3", 6, syn[20:30]))
    for name, (op, pkt) in seeds.items():
        write(os.path.join(out, name), params + bytes([op]) + pkt)


def router_seeds():
    # fuzz_router input: [preset][path:1 len:2 bytes:len]...; paths 0 out, 1 in, 2 hairpin.
    def frames(preset, *pkts):
        return bytes([preset]) + b"".join(bytes([path]) + struct.pack("!H", len(p)) + p
                                          for path, p in pkts)

    inside, remote, public = "10.1.0.2", "198.19.0.7", "198.18.0.1"
    syn = tcp(inside, 5000, remote, 80, 1000, 0, SYN, options=SYN_OPTS)
    synack = tcp(remote, 80, public, 5000, 7000, 1001, SYN | ACK)
    ack = tcp(inside, 5000, remote, 80, 1001, 7001, ACK, b"hello")
    fin = tcp(remote, 80, public, 5000, 7001, 1006, FIN | ACK)
    rst = tcp(inside, 5000, remote, 80, 1006, 0, RST)
    sent = tcp(public, 5000, remote, 80, 1000, 0, SYN, options=SYN_OPTS)  # as translated
    out = os.path.join(HERE, "corpus", "router")
    write(os.path.join(out, "tcp_out_in"), frames(0, (0, syn), (1, synack), (0, ack), (1, fin), (0, rst)))
    write(os.path.join(out, "tcp_icmp"),
          frames(3, (0, syn), (1, icmp_error("198.19.0.9", sent, 8)),
                 (1, icmp_error("198.19.0.9", sent, 18)), (1, icmp_error("198.19.0.9", sent, 40)),
                 (0, icmp_error(inside, synack, 28, 3, 3))))
    bad = bytearray(synack)
    bad[30] ^= 0x40
    write(os.path.join(out, "tcp_malformed"),
          frames(2, (0, syn), (1, bytes(bad)), (1, ipv4(remote, public, 6, synack[20:35])),
                 (2, tcp(inside, 5001, public, 5000, 1, 0, SYN))))


packet_seeds()
router_seeds()
