#!/usr/bin/env python3
"""Writes the seed corpora of fuzz_agentmsg, fuzz_rendezvous, fuzz_punch and fuzz_agentframe
from a second,
independent implementation of the wire format in common/agentmsg.h, so the
seeds also check the C codec (the harnesses and a unit run must accept them).

usage: tests/fuzz/gen_agentmsg_corpus.py   (rewrites corpus/agentmsg, corpus/rendezvous, corpus/punch,
       corpus/agentframe)
"""
import hashlib
import hmac
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
FUZZ_KEY = b"fuzz key"  # fuzz_agentmsg.c reads with this key (and the empty one)

REGISTER, REGISTERED, CONNECT, PEER, ERROR, RELAY = 1, 2, 3, 4, 5, 6
PROBE, PROBE_ACK, DATA, DATA_ACK, ANNOUNCE, BYE = 16, 17, 18, 19, 20, 21


def msg(typ, body=b"", counter=1, session=0, flags=0, key=FUZZ_KEY):
    head = struct.pack("!BBBBQQ", 0xE4, 1, typ, flags, counter, session) + body
    return head + hmac.new(key, head, hashlib.sha256).digest()[:16]


def name(n):
    return bytes([len(n)]) + n.encode()


def nat(mapping=2, step=1, last_port=40000):
    return struct.pack("!BhH", mapping, step, last_port)


def endpoint(ip, port):
    return struct.pack("!IH", ip, port)


def candidates(*cands):
    return bytes([len(cands)]) + b"".join(bytes([t]) + endpoint(ip, p) for t, ip, p in cands)


def payload(data):
    return struct.pack("!H", len(data)) + data


IP_A = 0xC6120001  # 198.18.0.1
LAN = 0x0A000002  # 10.0.0.2

AGENTMSG_SEEDS = {
    "register": msg(REGISTER, name("alice") + nat() + candidates((1, LAN, 5000), (2, IP_A, 6000))),
    "register-max": msg(REGISTER, name("n" * 32) + nat(3, -1, 65535)
                        + candidates(*[(3, IP_A, 7000 + i) for i in range(8)])),
    "registered": msg(REGISTERED, endpoint(IP_A, 6001) + struct.pack("!H", 90)),
    "connect": msg(CONNECT, name("bob")),
    "peer": msg(PEER, name("bob") + b"\x01" + nat() + endpoint(IP_A, 6001)
                + candidates((2, IP_A, 6001)) + bytes(range(32)), session=7, flags=4),
    "error": msg(ERROR, b"\x01" + payload(b"no agent 'carol'")),
    "relay-data": msg(RELAY, payload(msg(DATA, struct.pack("!I", 5) + payload(b"hi"), key=b"k")),
                      session=7),
    "relay-max": msg(RELAY, payload(bytes(1362)), session=7),
    "probe": msg(PROBE, b"\x02" + struct.pack("!H", 3) + endpoint(IP_A, 6002) + struct.pack("!Q", 99)),
    "probe-ack": msg(PROBE_ACK, b"\x01" + struct.pack("!QQ", 4, 99) + endpoint(IP_A, 6003)),
    "data": msg(DATA, struct.pack("!I", 1) + payload(b"x" * 100), flags=2),
    "data-ack": msg(DATA_ACK, struct.pack("!I", 1)),
    "announce": msg(ANNOUNCE, endpoint(LAN, 5000)),
    "bye": msg(BYE, session=7),
    "empty-key": msg(CONNECT, name("bob"), key=b""),
}

# fuzz_rendezvous records: op, dt, length (16 bits), datagram. op bits 0-1:
# sender, 2-3: socket, 4: patch in the next counter, 5: patch in the
# session of the last PEER it got, 6: run rendezvous_expire first, 7: re-tag
# with the server's secret. Tags here are zeros: bit 7 fixes them.
PATCH_COUNTER, PATCH_SESSION, EXPIRE, RETAG = 0x10, 0x20, 0x40, 0x80


def rec(sender, datagram, op=PATCH_COUNTER | RETAG, dt=0, socket=0):
    return struct.pack("!BBH", op | sender | socket << 2, dt, len(datagram)) + datagram


def raw(typ, body=b"", session=0):
    return struct.pack("!BBBBQQ", 0xE4, 1, typ, 0, 0, session) + body + bytes(16)


def reg(n, sender, **kw):
    return rec(sender, raw(REGISTER, name(n) + nat() + candidates((1, LAN, 5000))), **kw)


def conn(n, sender, **kw):
    return rec(sender, raw(CONNECT, name(n)), **kw)


def relay(sender, data=b"\xe4payload", **kw):
    kw.setdefault("op", PATCH_COUNTER | PATCH_SESSION | RETAG)
    return rec(sender, raw(RELAY, payload(data)), **kw)


RENDEZVOUS_SEEDS = {
    "register-connect-relay": reg("a", 0) + reg("b", 2) + conn("b", 0) + relay(0) + relay(2),
    "reboot-moves-a": reg("a", 0) + reg("b", 2) + conn("b", 0) + reg("a", 1, socket=1) + relay(2)
                      + relay(1),
    "endpoint-taken": reg("a", 0) + reg("b", 2) + conn("b", 0) + reg("c", 0) + relay(2) + reg("a", 1)
                      + relay(2),
    "rate-limit": reg("a", 0) + reg("b", 2) + conn("b", 0) + b"".join(relay(0) for _ in range(30)),
    # dt^2 * 10 ms: 80 -> 64 s, 100 -> 100 s. Registration lifetime 90 s, session idle 120 s.
    "expiry": reg("a", 0) + reg("b", 2) + conn("b", 0) + reg("a", 0, dt=80) + reg("b", 2)
              + relay(0, dt=80) + reg("a", 0, op=PATCH_COUNTER | RETAG | EXPIRE, dt=100),
    "stranger-and-junk": reg("a", 0) + conn("a", 3) + relay(3) + rec(1, b"\xe4\x01\x06")
                         + rec(2, raw(PROBE, bytes(19)), op=RETAG) + rec(0, raw(REGISTER, name("a")), op=0),
    "replay": reg("a", 0) + rec(0, raw(REGISTER, name("a") + nat() + candidates()), op=RETAG)
              + rec(0, raw(REGISTER, name("a") + nat() + candidates()), op=RETAG),
    "full": reg("a", 0) + reg("b", 1) + reg("c", 2) + reg("d", 3) + reg("e", 0),
}


# fuzz_punch records: op, dt, length (16 bits), datagram. op bits 0-1:
# sender (0 server, 1 peer X, 2 gateway, 3 peer Y), 2: discovery socket,
# 3: patch counter, 4: patch session, 5: re-tag, 6: bookkeeping first,
# 7: the application sends. STUN answers get the agent's transaction id.
P_DISCOVERY, P_COUNTER, P_SESSION, P_RETAG, P_BOOK, P_SEND = 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
PEER_X = (0xC6120201, 5000)  # 198.18.2.1:5000, sender 1 of fuzz_punch.c


def prec(sender, datagram, op=P_COUNTER | P_RETAG, dt=0):
    return struct.pack("!BBH", op | sender, dt, len(datagram)) + datagram


def stun_success(ip=0xC6120101, port=40000):
    """A Binding success with XOR-MAPPED-ADDRESS (RFC 8489 section 14.2); the id is patched."""
    cookie = 0x2112A442
    attr = struct.pack("!HHBBHI", 0x0020, 8, 0, 1, port ^ (cookie >> 16), ip ^ cookie)
    return struct.pack("!HHI", 0x0101, len(attr), cookie) + bytes(12) + attr


def pmsg(typ, body=b""):
    return raw(typ, body)


def session_start():
    return (prec(0, stun_success(), op=P_BOOK)
            + prec(0, pmsg(REGISTERED, endpoint(0xC6120101, 40000) + struct.pack("!H", 90)))
            + prec(0, pmsg(PEER, name("bob") + b"\x01" + nat(1, 0, 5000) + endpoint(*PEER_X)
                           + candidates((1, 0x0A000003, 40001)) + bytes(range(32))), op=P_COUNTER | P_RETAG | P_BOOK))


PEER_OPS = P_COUNTER | P_SESSION | P_RETAG
PUNCH_SEEDS = {
    "session-probe-data": session_start()
    + prec(1, pmsg(PROBE, b"\x01" + struct.pack("!H", 0) + endpoint(0xC6120101, 40000)
                   + struct.pack("!Q", 1)), op=PEER_OPS | P_SEND)
    + prec(1, pmsg(PROBE_ACK, b"\x01" + struct.pack("!QQ", 9, 1) + endpoint(0xC6120101, 40000)),
           op=PEER_OPS)
    + prec(1, pmsg(DATA, struct.pack("!I", 1) + payload(b"hello")), op=PEER_OPS | P_BOOK)
    + prec(1, pmsg(DATA_ACK, struct.pack("!I", 1)), op=PEER_OPS),
    "relayed": session_start()
    + prec(0, pmsg(RELAY, payload(b"\xe4\x01\x12" + bytes(40))), op=PEER_OPS | P_SEND)
    + prec(0, pmsg(RELAY, payload(b"junk")), op=P_COUNTER | P_RETAG, dt=40),
    "announce-lan": session_start()
    + prec(3, pmsg(ANNOUNCE, endpoint(0x0A000003, 40001)), op=PEER_OPS | P_DISCOVERY)
    + prec(3, pmsg(PROBE, b"\x05" + struct.pack("!H", 0) + endpoint(0x0A000002, 40000)
                   + struct.pack("!Q", 2)), op=PEER_OPS),
    "portmap": prec(2, bytes([2, 0x81, 0, 0]) + struct.pack("!II", 120, 5) + bytes(12) + bytes(12)
                    + bytes([17, 0, 0, 0]) + struct.pack("!HH", 40000, 40000) + bytes(10) + b"\xff\xff"
                    + struct.pack("!I", 0xC6120101), op=P_BOOK)
    + prec(2, struct.pack("!BBHII", 0, 128, 0, 7, 0xC6120101), op=0)
    + prec(2, struct.pack("!BBHIHHI", 0, 129, 0, 7, 40000, 40000, 120), op=0),
    "time-passes": session_start() + prec(1, b"", op=P_BOOK, dt=255) + prec(1, b"", op=P_BOOK, dt=255),
    "replay": session_start()
    + prec(1, pmsg(DATA, struct.pack("!I", 2) + payload(b"x")), op=PEER_OPS)
    + prec(1, pmsg(DATA, struct.pack("!I", 2) + payload(b"x")), op=P_SESSION | P_RETAG),
}


# fuzz_agentframe: one byte seeding the chunk sizes, then a TCP stream of
# framed agentmsgs (0xE4 0x00 LEN, common/agentframe.h) and STUN messages.
def frame(m):
    return struct.pack("!BBH", 0xE4, 0, len(m)) + m


def stun_request(attr_bytes=0):
    return struct.pack("!HHI", 0x0001, attr_bytes, 0x2112A442) + bytes(range(12)) + bytes(attr_bytes)


AGENTFRAME_SEEDS = {
    "stun-and-frames": b"\x01" + stun_request() + frame(AGENTMSG_SEEDS["register"])
    + frame(AGENTMSG_SEEDS["relay-max"]) + stun_request(8) + frame(AGENTMSG_SEEDS["connect"]),
    "byte-chunks": b"\x00" + frame(AGENTMSG_SEEDS["relay-data"]) + frame(AGENTMSG_SEEDS["peer"]),
    "stun-max": b"\x05" + frame(AGENTMSG_SEEDS["bye"]) + stun_request(2028) + stun_request(),
    "garbage-after": b"\x02" + frame(AGENTMSG_SEEDS["data"]) + b"GET / HTTP/1.1\r\n\r\n",
    "no-frame-header": b"\x03" + AGENTMSG_SEEDS["connect"],
    "oversized": b"\x04" + stun_request() + struct.pack("!BBH", 0xE4, 0, 1401) + bytes(8),
    "partial": b"\x06" + stun_request(4)[:13],
}


def write(directory, seeds):
    path = os.path.join(HERE, "corpus", directory)
    os.makedirs(path, exist_ok=True)
    for old in os.listdir(path):
        if not old.startswith("regress-"):  # inputs that once crashed a harness stay
            os.remove(os.path.join(path, old))
    for seed, data in seeds.items():
        with open(os.path.join(path, seed), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write("agentmsg", AGENTMSG_SEEDS)
    write("rendezvous", RENDEZVOUS_SEEDS)
    write("punch", PUNCH_SEEDS)
    write("agentframe", AGENTFRAME_SEEDS)
