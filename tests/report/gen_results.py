#!/usr/bin/env python3
"""Synthetic results.jsonl for the report test (docs/agent.md's format).

usage: gen_results.py OUT_ROOT SHARDS REPEAT SEED [KINDS]
Writes OUT_ROOT/shard-K/results.jsonl (K = 1..SHARDS; attempt i goes to shard
i mod SHARDS, as `natlab run --shard K/N` splits work) with a pcap file for
some attempts, and OUT_ROOT/expected.json: per pair the counts and nearest-rank
p50/p95 the report must compute, made here independently of natlab.
KINDS (default natlab): agent kinds, comma-separated (docs/agents.md). natlab's
rows come first and are the same whatever follows; a kind other than natlab
punches only (never direct unless both sides are easy) and its rows carry
"kind" and "kind_version". With KINDS, OUT_ROOT/expected-kinds.json holds per
kind per pair the same numbers, and the pairs where kinds differ by
docs/report.md's definition, worked out here.
"""
import json
import math
import os
import random
import sys

EIM = "endpoint-independent"
APDM = "address-and-port-dependent"
PROFILES = {
    "full-cone": {"type": "nat", "mapping": EIM, "filtering": EIM, "allocation": "preserve"},
    "port-restricted-cone": {"type": "nat", "mapping": EIM, "filtering": APDM,
                             "allocation": "preserve"},
    "cgnat": {"type": "nat", "mapping": EIM, "filtering": EIM, "allocation": "random"},
    "symmetric": {"type": "nat", "mapping": APDM, "filtering": APDM, "allocation": "random"},
    "no-nat": {"type": "open"},
    "public": None,  # a host without a NAT: nat_a null, profile null
}
TECHNIQUES = ["punch", "predicted", "birthday", "port-mapped"]


def easy(name):
    p = PROFILES[name]
    return p is None or p.get("type") in ("open", "firewall") or p.get("mapping") == EIM


def pair_class(a, b):
    n = easy(a) + easy(b)
    return ["hard-hard", "easy-hard", "easy-easy"][n]


def nearest_rank(sorted_values, p):
    if not sorted_values:
        return None
    k = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(k, len(sorted_values)) - 1]


VERSIONS = {"libnice": "0.1.22", "libdatachannel": "0.22.5"}


def dominant(e):
    counts = [(e[o], o) for o in ("direct", "relayed", "failed")]
    most = max(c for c, _ in counts)
    top = [o for c, o in counts if c == most]
    return top[0] if most > 0 and len(top) == 1 else "mixed"


def differ(ea, eb):
    """docs/report.md: dominant outcomes differ, or direct rates beyond noise."""
    da, db = dominant(ea), dominant(eb)
    by_outcome = da != "mixed" and db != "mixed" and da != db
    na, nb = ea["attempts"], eb["attempts"]
    pool = (ea["direct"] + eb["direct"]) / (na + nb)
    se = math.sqrt(pool * (1 - pool) * (1 / na + 1 / nb))
    by_rate = se > 0 and abs(ea["direct"] / na - eb["direct"] / nb) / se > 1.96
    return by_outcome, by_rate


def main():
    root, shards, repeat, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    kinds = sys.argv[5].split(",") if len(sys.argv) > 5 else ["natlab"]
    rng = random.Random(seed)
    names = list(PROFILES)
    lines = [[] for _ in range(shards)]
    expected = {}
    by_kind = {k: {} for k in kinds}
    i = 0
    for kind, ia, a, b in [(k, ia, a, b) for k in kinds for ia, a in enumerate(names)
                           for b in names[ia:]]:
        if True:
            cls = pair_class(a, b)
            p_direct = {"easy-easy": 0.95, "easy-hard": 0.7, "hard-hard": 0.3}[cls]
            if kind != "natlab" and cls != "easy-easy":
                p_direct = 0  # punching only: no prediction, no birthday
            key = f"{a}/{b}"
            e = expected.setdefault(key, {"class": cls, "attempts": 0, "direct": 0,
                                          "relayed": 0, "failed": 0, "ttd": []})
            ek = by_kind[kind].setdefault(key, {"class": cls, "attempts": 0, "direct": 0,
                                                "relayed": 0, "failed": 0, "ttd": []})
            for n in range(repeat):
                shard = i % shards
                i += 1
                u = rng.random()
                outcome = "direct" if u < p_direct else ("relayed" if u < 0.97 else "failed")
                ttd = round(rng.lognormvariate(5 if cls == "easy-easy" else 6.5, 0.6), 3) \
                    if outcome == "direct" else None
                pcap = None
                if n == 0 and kind == "natlab":
                    pcap = f"pcaps/{a}_{b}_{n}.pcap"
                    path = os.path.join(root, f"shard-{shard + 1}", pcap)
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "wb") as f:  # a pcap header, nothing captured
                        f.write(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
                scenario = "matrix" if n % 4 else "matrix-lossy"
                rec = {
                    "scenario": scenario if kind == "natlab" else f"{scenario}-{kind}",
                    "attempt": n, "seed": seed * 1000 + n, "pair": key,
                    "nat_a": None if a == "public" else a,
                    "nat_b": None if b == "public" else b,
                    "profile_a": PROFILES[a], "profile_b": PROFILES[b],
                    "outcome": outcome, "path": "relay" if outcome == "relayed" else outcome,
                    "technique": rng.choice(TECHNIQUES) if outcome == "direct" else "none",
                    "time_to_first_byte_ms": round(rng.uniform(1, 30), 3),
                    "time_to_direct_ms": ttd,
                    "probes_sent": rng.randint(1, 50), "path_changes": 1 if ttd else 0,
                    "sent": 10, "delivered": 0 if outcome == "failed" else 10,
                    "expected": "direct", "started": f"2026-12-02T08:{n % 60:02d}:00Z",
                    "duration_ms": 1500.0, "pcap": pcap,
                    "error": "no UDP path <&>" if outcome == "failed" else None,
                }
                if kind != "natlab":
                    rec["kind"], rec["kind_version"] = kind, VERSIONS.get(kind, "1.0")
                elif n % 4 == 1:
                    # A run with [agent] turn (docs/run.md): its members count
                    # for no figure, and no random draw, so the numbers stay.
                    rec.update(turn="udp" if n % 8 == 1 else "tcp",
                               relay=None if outcome == "failed" else "turn",
                               turn_sent=0 if outcome == "failed" else 12, turn_received=11)
                lines[shard].append(json.dumps(rec))
                for x in (e, ek):
                    x["attempts"] += 1
                    x[outcome] += 1
                    if ttd is not None:
                        x["ttd"].append(ttd)
    for k in range(shards):
        d = os.path.join(root, f"shard-{k + 1}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "results.jsonl"), "w") as f:
            f.write("".join(line + "\n" for line in lines[k]))
    for e in list(expected.values()) + [e for k in kinds for e in by_kind[k].values()]:
        t = sorted(e.pop("ttd"))
        e["p50"], e["p95"] = nearest_rank(t, 50), nearest_rank(t, 95)
    with open(os.path.join(root, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    if len(sys.argv) > 5:
        differing = {}
        for key in expected:
            for x, ka in enumerate(kinds):
                for kb in kinds[x + 1:]:
                    if key in by_kind[ka] and key in by_kind[kb] and \
                            any(differ(by_kind[ka][key], by_kind[kb][key])):
                        differing.setdefault(key, []).append([ka, kb])
        with open(os.path.join(root, "expected-kinds.json"), "w") as f:
            json.dump({"kinds": by_kind, "versions": {k: VERSIONS.get(k, "1.0") for k in kinds
                                                      if k != "natlab"},
                       "differing": differing}, f, indent=1)


if __name__ == "__main__":
    main()
