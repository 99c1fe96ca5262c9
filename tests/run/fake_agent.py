#!/usr/bin/python3
"""A stand-in for `natlab agent` (docs/agent.md) that prints the documented
JSON events without sending a packet, so the runner's own tests are fast and
deterministic. Run as NATLAB_AGENT_EXE=tests/run/fake_agent.py.

Behaviour, from the environment the runner gives each agent (NATLAB_SCENARIO,
NATLAB_ATTEMPT) and FAKE_AGENT_MODE:
  FAKE_AGENT_MODE="MODES" or "SCENARIO=MODES,SCENARIO=MODES,*=MODES"
  MODES: one mode, or one per attempt separated by '/' (cycled), among
    direct    registered, session, first-byte over the relay, direct, done
    relayed   the same without the direct event; the relay carries the data
    failed    a failed event, then done with nothing delivered; exit status 1
    hang      registered, then nothing: only the runner's deadline ends it
    crash     registered, session, then killed by SIGSEGV before done
    noregister  the listener never registers
  FAKE_AGENT_TECHNIQUE  technique of the direct event (default punch)
  FAKE_AGENT_TTD_MS     time to direct (default 120)
  FAKE_AGENT_DIR        a directory both agents share: the connector leaves
                        SCENARIO-ATTEMPT.done there, the listener exits on it
The command line goes to stderr, so the runner's log shows what it was given.
"""
import json
import os
import signal
import sys
import time

START = time.monotonic()


def emit(event, **fields):
    fields = {"t_ms": round((time.monotonic() - START) * 1000, 1), "event": event, **fields}
    print(json.dumps(fields), flush=True)


def mode():
    scenario = os.environ.get("NATLAB_SCENARIO", "")
    attempt = int(os.environ.get("NATLAB_ATTEMPT", "1"))
    chosen = None
    for part in os.environ.get("FAKE_AGENT_MODE", "direct").split(","):
        key, _, value = part.rpartition("=")
        if key in ("", "*") and chosen is None or key == scenario:
            chosen = value
            if key == scenario:
                break
    modes = (chosen or "direct").split("/")
    return modes[(attempt - 1) % len(modes)]


def option(args, name, default=None):
    return args[args.index(name) + 1] if name in args else default


def duration_s(text):
    for unit, scale in (("ms", 0.001), ("us", 1e-6), ("min", 60), ("h", 3600), ("s", 1)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    return float(text)


def marker():
    d = os.environ.get("FAKE_AGENT_DIR")
    if not d:
        return None
    return os.path.join(d, "%s-%s.done" % (os.environ.get("NATLAB_SCENARIO", ""),
                                           os.environ.get("NATLAB_ATTEMPT", "1")))


def main():
    args = sys.argv[1:]
    print("fake agent: " + " ".join(args), file=sys.stderr, flush=True)
    if not args or args[0] != "agent" or "--server" not in args or "--name" not in args:
        print("usage: agent --server HOST:PORT --name NAME ... listen|connect", file=sys.stderr)
        return 64
    m = mode()
    name = option(args, "--name")
    if "listen" in args:
        if m == "noregister":
            time.sleep(3600)
        emit("registered", name=name, mapped="198.18.2.1:4000", mapping="endpoint-independent",
             allocation="preserve", step=0)
        done = marker()
        while not (done and os.path.exists(done)):
            time.sleep(0.01)
        emit("done", sent=0, delivered=0, echoed=0, probes_sent=0, path_changes=0, path="direct",
             technique="punch", time_to_first_byte_ms=None, time_to_direct_ms=None, dropped=0)
        return 0
    peer = args[args.index("connect") + 1]
    send = int(option(args, "--send", "10"))
    hold = duration_s(option(args, "--hold", "0"))
    emit("registered", name=name, mapped="198.18.1.1:4000", mapping="endpoint-independent",
         allocation="preserve", step=0)
    if m == "hang":
        time.sleep(3600)
    emit("session", peer=peer, role="controlling", candidates=[])
    if m == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    ttd = float(os.environ.get("FAKE_AGENT_TTD_MS", "120"))
    technique = os.environ.get("FAKE_AGENT_TECHNIQUE", "punch")
    result = 0
    if m == "failed":
        emit("failed", reason="no UDP path: the server does not answer")
        fields = dict(sent=send, delivered=0, echoed=0, probes_sent=3, path_changes=0, path="none",
                      technique="none", time_to_first_byte_ms=None, time_to_direct_ms=None)
        result = 1
    else:
        emit("first-byte", path="relay", rtt_ms=2.0)
        if m == "direct":
            time.sleep(ttd / 1000)
            emit("direct", path="direct", technique=technique, local="10.1.0.2:4000",
                 remote="198.18.2.1:4000", rtt_ms=1.0)
            emit("path-changed", **{"from": "relay", "to": "direct", "reason": "punched"})
        time.sleep(max(0.0, hold - (time.monotonic() - START)))
        direct = m == "direct"
        fields = dict(sent=send, delivered=send, echoed=send, probes_sent=14 if direct else 40,
                      path_changes=1 if direct else 0, path="direct" if direct else "relay",
                      technique=technique if direct else "none", time_to_first_byte_ms=2.1,
                      time_to_direct_ms=ttd if direct else None)
    done = marker()
    if done:
        open(done, "w").close()
    emit("done", dropped=0, **fields)
    return result


if __name__ == "__main__":
    sys.exit(main())
