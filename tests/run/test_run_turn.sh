#!/bin/sh
# shellcheck disable=SC2317 # its functions are called through check
# natlab matrix --turn udp|tcp with natlab's agent against coturn, which the
# runner starts on the server host's third address: a symmetric pair relayed
# through both allocations, cone pairs direct beside them, every message
# delivered, the rows saying so (turn, relay, turn_sent, turn_received); the
# agents' own events show the allocations on coturn over the transport asked
# for; behind `corporate` (TCP 80 and 443 out only) the agent's TURN over TCP
# finds coturn's 443 after 3478 and the session runs through TURN; nothing is
# left behind. Root; skipped (77) without it (about 40 s).
# usage: test_run_turn.sh NATLAB SOURCE_DIR
set -u
NATLAB=$(realpath "$1")
SRC=$(realpath "$2")
# shellcheck source=tests/lib.sh
. "$SRC/tests/lib.sh"
need_root "natlab matrix --turn"
need_or_exit turnserver python3 ip

scratch run-turn
owns_prefix mx-

# allocated DIR SCENARIO TRANSPORT IP: both agents of the attempt allocated on
# coturn at IP over TRANSPORT (their turn-allocated events in the attempt log).
allocated() {
    python3 - "$1/logs/$2/attempt-1.log" "$3" "$4" <<'PY'
import json, sys
log, transport, ip = sys.argv[1:]
seen = set()
for line in open(log):
    parts = line.split(None, 2)
    if len(parts) < 3 or not parts[2].startswith("{"):
        continue
    e = json.loads(parts[2])
    if e.get("event") == "turn-allocated":
        assert e["transport"] == transport and e["relayed"].startswith(ip + ":"), e
        seen.add(parts[1])
assert seen == {"listen", "connect"}, seen
PY
}

for transport in udp tcp; do
    out="$tmp/$transport"
    interruptible "$NATLAB" matrix --nats full-cone,symmetric --turn "$transport" --repeat 1 \
        --seed 5 --out "$out" >"$tmp/$transport.out" 2>&1
    rc=$?
    check "matrix --turn $transport: every pair as predicted (exit $rc)" test "$rc" -eq 0
    [ "$rc" -eq 0 ] || sed 's/^/    /' "$tmp/$transport.out" | tail -n 20
    check "$transport: 3 rows, each with turn $transport and every message delivered" results_rows "$out" "
assert len(rows) == 3, rows.keys()
for r in rows.values():
    assert r['turn'] == '$transport' and r['sent'] > 0 and r['delivered'] == r['sent'], r"
    check "$transport: the symmetric pair relayed through TURN both ways" results_rows "$out" "
r = rows['mx-sym-sym']
assert r['outcome'] == 'relayed' and r['relay'] == 'turn', r
assert r['turn_sent'] > 0 and r['turn_received'] > 0, r"
    check "$transport: the cone pairs direct beside TURN" results_rows "$out" "
for s in ('mx-fc-fc', 'mx-fc-sym'):
    assert rows[s]['outcome'] == 'direct' and rows[s]['relay'] == 'turn', rows[s]"
    # The server host's third address: natlab server keeps the first two.
    turn_ip=$(grep -o -m1 'turn:[0-9.]*:3478?transport=[a-z]*' "$out/logs/mx-sym-sym/attempt-1.log")
    check "$transport: the agents were given $turn_ip" test "$turn_ip" = "turn:198.19.1.3:3478?transport=$transport"
    check "$transport: both agents allocated on coturn at 198.19.1.3 over $transport" \
        allocated "$out" mx-sym-sym "$transport" 198.19.1.3
    check "$transport: the password file, not the password, on the command line" \
        grep -q -- '--turn-user natlab --turn-password-file /[^ ]*/turn-password ' "$out/logs/mx-fc-fc/attempt-1.log"
    check "$transport: coturn's output kept in the server host's log" \
        grep -q 'Listener address to use: 198.19.1.3' "$out/logs/mx-sym-sym/server.log"
    "$NATLAB" report "$out" --out "$tmp/report-$transport" >"$tmp/report.out" 2>&1
    rc=$?
    check "$transport: natlab report reads the rows (exit $rc)" test "$rc" -eq 0 -a -s "$tmp/report-$transport/summary.json"
done
# corporate lets TCP 80 and 443 out, not 3478: the agent's TCP to coturn's
# 3478 goes unanswered for 3 s, then 443 (coturn's second instance) allocates;
# natlab server is reached over TCP 443 too. The session runs through TURN.
cat >"$tmp/corp.scn" <<'EOF'
[scenario]
name = mx-corp-turn
deadline = 40s
[nat corp]
preset = corporate
[nat sym]
preset = symmetric
[host alice]
nat = corp
[host bob]
nat = sym
[agent]
connect = alice
listen = bob
turn = tcp
punch-timeout = 2s
[expect]
outcome = relayed
EOF
out="$tmp/corp"
interruptible "$NATLAB" run "$tmp/corp.scn" --out "$out" >"$tmp/corp.out" 2>&1
rc=$?
check "corporate, turn = tcp: relayed as expected (exit $rc)" test "$rc" -eq 0
[ "$rc" -eq 0 ] || sed 's/^/    /' "$tmp/corp.out" | tail -n 20
check "corporate: every message delivered, through TURN" results_rows "$out" "
r = rows['mx-corp-turn']
assert r['turn'] == 'tcp' and r['sent'] > 0 and r['delivered'] == r['sent'], r
assert r['outcome'] == 'relayed' and r['relay'] == 'turn' and r['turn_sent'] > 0 and r['turn_received'] > 0, r"
# allocated_at LOG ROLE: the TURN server (IP:PORT) of ROLE's allocation.
allocated_at() {
    python3 - "$1" "$2" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    parts = line.split(None, 2)
    if len(parts) == 3 and parts[1] == sys.argv[2] and parts[2].startswith("{"):
        e = json.loads(parts[2])
        if e.get("event") == "turn-allocated":
            print(e["server"])
            break
PY
}
log="$out/logs/mx-corp-turn/attempt-1.log"
check "corporate: the connector allocated on coturn's 443 ($(allocated_at "$log" connect))" \
    test "$(allocated_at "$log" connect)" = 198.19.1.3:443
check "corporate: its peer on 3478 ($(allocated_at "$log" listen))" \
    test "$(allocated_at "$log" listen)" = 198.19.1.3:3478

no_namespace() { ! ip netns list | grep -q '^natlab-mx-'; }
no_coturn() { ! pgrep -f 'turnserver -c /run/natlab/natlab-mx-' >/dev/null; }
check "no namespace left" no_namespace
check "no coturn left" no_coturn
finish
