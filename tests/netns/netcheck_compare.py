#!/usr/bin/env python3
"""Helpers of test_netcheck.sh.

  random SEED OUT.ini            a seeded random NAT profile (small timeouts)
  check CONFIG.json RESULT.json [--lifetime] [--no-tcp]
                                 netcheck's JSON against the configured profile
                                 (`natlab profile check --json`): every dimension
                                 one host can observe must match, timeout within 10%;
                                 the TCP keys against the profile's TCP view (unset
                                 tcp-* follow the protocol-wide keys)
  same-profile A.ini B.ini       two netcheck profiles say the same (timeout within 10%)
  verdicts A.json B.json         the same mapping, filtering, hairpin, tcp-mapping
                                 and allow-out-tcp verdicts
  syn-evidence RESULT.json ANSWER
                                 the unsolicited connect-back's evidence shows
                                 ANSWER (hold: ICMP 5-8 s after the SYN)
  corporate RESULT.json PROFILE.ini
                                 UDP blocked, TCP answered through a NAT (the
                                 server on the allowed TCP ports)
Prints what differs; exit 0 when all agree.
"""
import json
import random
import re
import sys

UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0}


def seconds(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|min|h)", text)
    if not m:
        raise ValueError("not a duration: %r" % text)
    return float(m.group(1)) * UNITS[m.group(2)]


# The server's ports (natlab server's defaults): P1 and P2.
SERVER_PORTS = (3478, 3479)


def allows(allow, port):
    """Does an allow-out-* value (all|none|PORTS) let `port` out?"""
    if allow in ("all", None):
        return True
    if allow == "none":
        return False
    for part in allow.split(","):
        lo, _, hi = part.strip().partition("-")
        if int(lo) <= port <= int(hi or lo):
            return True
    return False




def tcp_view(conf):
    """The TCP keys netcheck measures, as natsim applies them
    (nat_profile_tcp_view: an unset tcp-* key follows the protocol-wide one)."""
    return {
        "tcp-mapping": conf.get("tcp-mapping", conf.get("mapping")),
        "tcp-filtering": conf.get("tcp-filtering", conf.get("filtering")),
        "tcp-allocation": conf.get("tcp-allocation", conf.get("allocation")),
        "tcp-unsolicited-syn": conf.get("tcp-unsolicited-syn", "hold"),
    }


def check_tcp(conf, res, same):
    """netcheck sees TCP only through the server's ports: an allow-list
    without them reads as `none` (nothing else was tried)."""
    ok = all(allows(conf.get("allow-out-tcp"), p) for p in SERVER_PORTS)
    same("allow-out-tcp", "all" if ok else "none")
    if not ok:
        for k in tcp_view(conf):
            same(k, None)
        return
    view = tcp_view(conf)
    filtering = view["tcp-filtering"]
    same("tcp-filtering", filtering)
    same("tcp-unsolicited-syn", view["tcp-unsolicited-syn"])
    if conf["type"] == "nat":
        same("tcp-mapping", view["tcp-mapping"])
        same("tcp-allocation", view["tcp-allocation"])


def random_profile(seed, path):
    rng = random.Random(seed)
    dep = ["endpoint-independent", "address-dependent", "address-and-port-dependent"]
    keys = {
        "mapping": rng.choice(dep),
        "filtering": rng.choice(dep),
        "allocation": rng.choice(["preserve", "sequential", "random"]),
        "preserve-fallback": rng.choice(["sequential", "random"]),
        "sequential-step": rng.choice([1, 1, 2, 3, 5, 10, 100]),
        "port-parity": rng.choice(["ignore", "preserve"]),
        "hairpin": rng.choice(["off", "on", "internal-source"]),
        "timeout": "%ds" % rng.randint(3, 8),
        "refresh": rng.choice(["outbound", "both"]),
        "public-ips": rng.choice([1, 1, 2]),
        "pooling": rng.choice(["paired", "arbitrary"]),
        "port-mapping": rng.choice(["none", "nat-pmp", "pcp", "nat-pmp,pcp"]),
    }
    if seed % 3 == 0:
        keys["loss"] = "5%"
    with open(path, "w") as f:
        f.write("# random profile %d\n[nat]\ntype = nat\n" % seed)
        for k, v in keys.items():
            f.write("%s = %s\n" % (k, v))


def check(config_path, result_path, lifetime, tcp=True):
    conf = json.load(open(config_path))
    res = json.load(open(result_path))
    wrong = []

    def same(key, want, got=None):
        got = res.get(key) if got is None else got
        if got != want:
            wrong.append("%s: measured %s, configured %s" % (key, got, want))

    # UDP refused to the server's port: netcheck cannot tell it from a
    # blocked path (or a server that is down).
    udp_ok = allows(conf.get("allow-out-udp"), SERVER_PORTS[0])
    same("type", conf["type"] if udp_ok else "blocked")
    if conf["type"] in ("blocked", "open") or not udp_ok:
        for k in ["allow-out-tcp"] + list(tcp_view(conf)):
            same(k, None)
        return wrong
    if tcp:
        check_tcp(conf, res, same)
    else:
        for k in ["allow-out-tcp"] + list(tcp_view(conf)):
            same(k, None)
    same("filtering", conf["filtering"])
    if lifetime:
        want = seconds(conf["timeout"])
        got = seconds(res["timeout"]) if "timeout" in res else None
        if got is None or abs(got - want) > 0.1 * want:
            wrong.append("timeout: measured %s, configured %s" % (res.get("timeout"), conf["timeout"]))
        same("refresh", conf["refresh"])
    if conf["type"] == "firewall":
        return wrong
    same("mapping", conf["mapping"])
    same("hairpin", conf["hairpin"])
    same("allocation", conf["allocation"])
    multi = conf["public-ips"] > 1 and conf["pooling"] == "arbitrary"
    collisions = conf["mapping"] != "endpoint-independent" and not multi
    seen = conf["allocation"] != "preserve" or collisions
    pattern = conf["preserve-fallback"] if conf["allocation"] == "preserve" else conf["allocation"]
    if conf["allocation"] == "preserve" and seen:
        same("preserve-fallback", pattern)
    if seen and pattern == "sequential":
        same("sequential-step", conf.get("sequential-step", 1))
    if seen:
        same("port-parity", conf["port-parity"])
    same("pooling", "arbitrary" if multi else "paired")
    if multi:
        same("public-ips", conf["public-ips"])
    same("port-mapping", conf["port-mapping"])
    if res.get("alg"):
        wrong.append("alg: measured yes")
    if res.get("double-nat-hint"):
        wrong.append("double-nat-hint: measured yes behind one NAT")
    return wrong


def profile_keys(path):
    keys = {}
    for line in open(path):
        line = line.strip()
        if not line or line.startswith("#") or line.startswith("["):
            continue
        k, v = [x.strip() for x in line.split("=", 1)]
        keys[k] = v
    return keys


def same_profile(a, b):
    ka, kb = profile_keys(a), profile_keys(b)
    wrong = []
    for k in sorted(set(ka) | set(kb)):
        va, vb = ka.get(k), kb.get(k)
        if k == "timeout" and va and vb:
            if abs(seconds(va) - seconds(vb)) <= 0.1 * seconds(va):
                continue
        if va != vb:
            wrong.append("%s: %s, then %s" % (k, va, vb))
    return wrong


def verdicts(a, b):
    ja, jb = json.load(open(a)), json.load(open(b))
    return ["%s: %s against one, %s against the other" % (k, ja.get(k), jb.get(k))
            for k in ("type", "mapping", "filtering", "hairpin", "tcp-mapping", "allow-out-tcp")
            if ja.get(k) != jb.get(k)]


def syn_evidence(path, answer):
    cb = json.load(open(path))["evidence"]["tcp"]["connect-backs"]["unsolicited"]
    outcome, ms = cb.get("outcome"), cb.get("elapsed-ms") or 0
    ok = {"hold": outcome == "icmp" and 5000 <= ms <= 8000,
          "icmp": outcome == "icmp" and ms < 1000,
          "rst": outcome == "reset" and ms < 1000,
          "drop": outcome == "timeout"}[answer]
    text = "%s after %d ms" % (outcome, ms)
    return ([], text) if ok else (["unsolicited SYN: " + text], text)


def corporate(path, profile):
    res = json.load(open(path))
    tcp = res["evidence"]["tcp"]
    wrong = []
    if res.get("type") != "blocked":
        wrong.append("type: %s, not blocked" % res.get("type"))
    if tcp.get("first-connection") != "answered":
        wrong.append("TCP to 443: %s, not answered" % tcp.get("first-connection"))
    maps = tcp.get("mapping-tests") or []
    if len(maps) != 3 or len(set(maps)) != 3:
        wrong.append("TCP mapping tests: %s, not three mappings (address-and-port-dependent)" % maps)
    if tcp["connect-backs"]["unsolicited"].get("outcome") != "timeout":
        wrong.append("unsolicited SYN: %s, not dropped" % tcp["connect-backs"]["unsolicited"])
    keys = profile_keys(profile)
    if keys != {"type": "blocked"}:
        wrong.append("profile keys: %s, not just type = blocked" % keys)
    return wrong, "type blocked, TCP through 443: %s" % " ".join(maps)


def main(argv):
    if len(argv) >= 3 and argv[0] == "random":
        random_profile(int(argv[1]), argv[2])
        return 0
    if len(argv) >= 3 and argv[0] == "check":
        wrong = check(argv[1], argv[2], "--lifetime" in argv[3:], "--no-tcp" not in argv[3:])
    elif len(argv) == 3 and argv[0] == "same-profile":
        wrong = same_profile(argv[1], argv[2])
    elif len(argv) == 3 and argv[0] in ("syn-evidence", "corporate"):
        wrong, text = (syn_evidence if argv[0] == "syn-evidence" else corporate)(argv[1], argv[2])
        if not wrong:
            print(text)
            return 0
    elif len(argv) == 3 and argv[0] == "verdicts":
        wrong = verdicts(argv[1], argv[2])
    else:
        print(__doc__, file=sys.stderr)
        return 64
    for w in wrong:
        print("  " + w)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
