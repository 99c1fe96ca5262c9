#!/bin/sh
# The agent kind `nebula` (kinds/nebula.kind, Debian's nebula 1.6): three
# pairs through natlab matrix, direct where nebula's handshake gets through
# the punched filter and relayed through the lighthouse where it cannot,
# every message echoed over the overlay, rows carrying the kind and its
# version; two hosts on one LAN, direct over it; then one peer by hand behind
# a NAT, killed by SIGKILL and stopped by SIGTERM with its tunnel up: no
# nebula process and no TUN device outlive it. About 10 s (30 on a busy
# machine). Root.
# usage: test_kind_nebula.sh NATLAB SOURCE_DIR
set -u
NATLAB=$(realpath "$1")
SRC=$(realpath "$2")
# shellcheck source=tests/lib.sh
. "$SRC/tests/lib.sh"
need_root "the nebula agent kind"
need_or_exit python3 nebula nebula-cert ssh ssh-keygen ip setsid

scratch kind-nebula
owns_prefix mx-nebula-
owns_prefix knebula-lan
owns_scenario knebula

# rows FILE PYTHON: the rows of FILE as `rows` (a list of dicts) satisfy PYTHON.
rows() {
    python3 -c "import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {r['pair']: r for r in rows}
$2" "$1" 2>"$tmp/py"
}

# ---- the matrix: port-restricted cones punch, a symmetric NAT takes the relay
interruptible "$NATLAB" matrix --agent-kind nebula --nats port-restricted-cone,symmetric \
    --repeat 1 --seed 3 -j 3 --out "$tmp/mx" >"$tmp/mx.out" 2>&1
check "matrix: exit 0, every cell as predicted" test $? -eq 0
check "matrix: prc/prc direct by nebula's punch, prc/sym and sym/sym relayed, all 10 messages echoed" \
    rows "$tmp/mx/results.jsonl" "
assert len(rows) == 3, len(rows)
for r in rows:
    assert r['kind'] == 'nebula' and r['kind_version'].startswith('nebula 1.'), r
    assert r['sent'] == r['delivered'] == 10 and r['error'] is None, r
    assert r['time_to_first_byte_ms'] > 0, r
d = by['port-restricted-cone/port-restricted-cone']
assert d['outcome'] == 'direct' and d['technique'] == 'punch' and d['time_to_direct_ms'] > 0, d
for p in ('port-restricted-cone/symmetric', 'symmetric/symmetric'):
    assert by[p]['outcome'] == 'relayed' and by[p]['path'] == 'relay', by[p]
    assert by[p]['time_to_direct_ms'] is None, by[p]
"
[ -s "$tmp/py" ] && sed 's/^/    /' "$tmp/py"
check "attempt log: nebula's host map read over its sshd (currentRemote for the direct pair)" \
    grep -q 'hostmap: .*"currentRemote": {"ip": "198.18.2.1"' "$tmp/mx/logs/mx-nebula-prc-prc/attempt-1.log"
check "attempt log: the relayed pair's handshake came through the lighthouse" \
    grep -q 'Send handshake via relay' "$tmp/mx/logs/mx-nebula-sym-sym/attempt-1.log"

# ---- two hosts on one LAN: nebula's handshake to the listener's reported LAN
# address makes the tunnel. nebula handshakes to the public mapping and the
# LAN address at once and keeps whichever answers first; with hairpinning on,
# the hairpinned one wins about one run in three on a busy machine, so the
# NAT here does not hairpin and the LAN address is the one path.
cat >"$tmp/knebula-lan.scn" <<EOF
[scenario]
name = knebula-lan
[nat home]
preset = port-restricted-cone
hairpin = off
[host alice]
nat = home
[host bob]
nat = home
[agent]
kind = nebula
[expect]
outcome = direct
technique = lan
EOF
interruptible "$NATLAB" run --out "$tmp/lan" "$tmp/knebula-lan.scn" >"$tmp/lan.out" 2>&1
check "one LAN: direct over the LAN (nebula's remote is the listener's own address)" test $? -eq 0
check "one LAN: the row says path lan, every message echoed" rows "$tmp/lan/results.jsonl" "
assert len(rows) == 1 and rows[0]['path'] == 'lan' and rows[0]['delivered'] == 10, rows
"

# ---- a peer killed with its tunnel up leaves nothing behind
cat >"$tmp/knebula.scn" <<EOF
[scenario]
name = knebula
[nat home]
preset = home-router
[host bob]
nat = home
[host server]
addresses = 2
EOF
"$NATLAB" up --json "$tmp/knebula.scn" >"$tmp/up.json" 2>"$tmp/up.err"
check "up: a NAT'd host and a public one" test $? -eq 0
ns=$(python3 -c "import json, sys
t = json.load(open(sys.argv[1]))
print([h['namespace'] for h in t['hosts'] if h['name'] == 'bob'][0])" "$tmp/up.json")
server_ip=$(python3 -c "import json, sys
t = json.load(open(sys.argv[1]))
print([h['addresses'][0] for h in t['hosts'] if h['name'] == 'server'][0])" "$tmp/up.json")
mkdir -p "$tmp/shared"
(cd "$SRC/kinds" && exec setsid "$NATLAB" exec knebula server -- env NATLAB_SHARED_DIR="$tmp/shared" \
    NATLAB_SERVER_IP="$server_ip" python3 nebula/peer.py lighthouse >"$tmp/lighthouse.log" 2>&1) &
lighthouse=$!
check "lighthouse: up (CA made, UDP 4242 bound)" wait_for 10 \
    sh -c "[ -f '$tmp/shared/ca.crt' ] && '$NATLAB' exec knebula server -- ss -Hlun 'sport = 4242' | grep -q 4242"

# start_listener SIGNAL_DIR: a listening peer on bob, in its own process group ($peer).
start_listener() {
    mkdir -p "$1"
    (cd "$SRC/kinds" && exec setsid "$NATLAB" exec knebula bob -- env NATLAB_ROLE=listen \
        NATLAB_NAME=bob NATLAB_PEER=alice NATLAB_SHARED_DIR="$tmp/shared" \
        NATLAB_SERVER_IP="$server_ip" NATLAB_SIGNAL_DIR="$1" NATLAB_DEADLINE_MS=30000 \
        python3 nebula/peer.py >>"$tmp/listener.log" 2>&1) &
    peer=$!
}
listener_up() { [ -f "$1/nebula-listen.ready" ] && ip -n "$ns" -o link show | grep -q ': nb-bob'; }
nothing_left() { ! ip -n "$ns" -o link show | grep -q ': nb-' && [ -z "$(ip netns pids "$ns")" ]; }

for sig in KILL TERM; do
    signum=9
    [ "$sig" = TERM ] && signum=15
    start_listener "$tmp/sig-$sig"
    check "SIG$sig: the listener's tunnel to the lighthouse is up, its TUN device nb-bob exists" \
        wait_for 15 listener_up "$tmp/sig-$sig"
    kill -"$signum" -"$peer" # dash's kill takes no --
    wait "$peer"
    status=$?
    if [ "$sig" = TERM ]; then
        check "SIGTERM: the listener exits 0" test "$status" -eq 0
    fi
    check "SIG$sig to the peer's process group: no nebula process, no TUN device left in $ns" \
        wait_for 5 nothing_left
done
check "the listener said why it stopped" grep -q "stopped by signal 15" "$tmp/listener.log"
kill -15 -"$lighthouse" 2>/dev/null
wait "$lighthouse"
check "the lighthouse stops on SIGTERM" sh -c "! '$NATLAB' exec knebula server -- ss -Hlun 'sport = 4242' | grep -q 4242"
down_status=0
"$NATLAB" down knebula >/dev/null 2>&1 || down_status=$?
check "down" test "$down_status" -eq 0
finish
