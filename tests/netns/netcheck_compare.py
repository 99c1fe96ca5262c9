#!/usr/bin/env python3
"""Helpers of test_netcheck.sh.

  random SEED OUT.ini            a seeded random NAT profile (small timeouts)
  check CONFIG.json RESULT.json [--lifetime]
                                 netcheck's JSON against the configured profile
                                 (`natlab profile check --json`): every dimension
                                 one host can observe must match, timeout within 10%
  same-profile A.ini B.ini       two netcheck profiles say the same (timeout within 10%)
  verdicts A.json B.json         the same mapping, filtering and hairpin verdicts
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


def check(config_path, result_path, lifetime):
    conf = json.load(open(config_path))
    res = json.load(open(result_path))
    wrong = []

    def same(key, want, got=None):
        got = res.get(key) if got is None else got
        if got != want:
            wrong.append("%s: measured %s, configured %s" % (key, got, want))

    same("type", conf["type"])
    if conf["type"] in ("blocked", "open"):
        return wrong
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
            for k in ("type", "mapping", "filtering", "hairpin") if ja.get(k) != jb.get(k)]


def main(argv):
    if len(argv) >= 3 and argv[0] == "random":
        random_profile(int(argv[1]), argv[2])
        return 0
    if len(argv) >= 3 and argv[0] == "check":
        wrong = check(argv[1], argv[2], "--lifetime" in argv[3:])
    elif len(argv) == 3 and argv[0] == "same-profile":
        wrong = same_profile(argv[1], argv[2])
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
