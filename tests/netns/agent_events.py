#!/usr/bin/env python3
"""Reads the JSON event lines of `natlab agent --json` for the namespace tests.

  agent_events.py FILE done FIELD        the FIELD of the last `done` event
  agent_events.py FILE has EVENT         exit 0 when an EVENT line exists
  agent_events.py FILE first EVENT FIELD the FIELD of the first EVENT line
  agent_events.py FILE count EVENT       how many EVENT lines
Every line must be one JSON object with t_ms and event; anything else fails.
"""
import json
import sys


def main():
    path, verb = sys.argv[1], sys.argv[2]
    events = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                e = json.loads(line)
            except ValueError as err:
                sys.exit(f"{path}:{number}: not JSON ({err}): {line[:80]}")
            if not isinstance(e, dict) or "event" not in e or "t_ms" not in e:
                sys.exit(f"{path}:{number}: not an event: {line[:80]}")
            events.append(e)
    if verb == "done":
        done = [e for e in events if e["event"] == "done"]
        if not done:
            sys.exit(f"{path}: no done event")
        print(json.dumps(done[-1].get(sys.argv[3])).strip('"'))
    elif verb == "has":
        sys.exit(0 if any(e["event"] == sys.argv[3] for e in events) else 1)
    elif verb == "first":
        for e in events:
            if e["event"] == sys.argv[3]:
                print(json.dumps(e.get(sys.argv[4])).strip('"'))
                return
        sys.exit(f"{path}: no {sys.argv[3]} event")
    elif verb == "count":
        print(sum(1 for e in events if e["event"] == sys.argv[3]))
    else:
        sys.exit(f"unknown verb {verb}")


if __name__ == "__main__":
    main()
