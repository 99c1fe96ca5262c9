#!/bin/sh
# The natlab front door as users and their CI scripts call it: exit codes,
# what goes to stdout and stderr, and the JSON that scripts parse.
# usage: tests/cli/test_cli.sh NATLAB SRCDIR
set -u

if [ $# -ne 2 ]; then
    echo "usage: $0 NATLAB SRCDIR" >&2
    exit 64
fi
natlab=$1
data=$2/cli/data
[ -d "$data" ] || data=$2/tests/cli/data # SRCDIR may be tests/ or the tree
if [ ! -x "$natlab" ] || [ ! -d "$data" ]; then
    echo "FAIL: no natlab at '$natlab' or no data under '$2'"
    exit 1
fi

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
scratch cli

# On a FAIL: what the last command said, so a CI log shows the failure.
on_fail() {
    for f in "$tmp/out" "$tmp/err"; do
        [ -s "$f" ] && sed "s|^|    $(basename "$f"): |" "$f" | head -n 20
    done
    return 0
}

# run ARGS...: runs natlab, stdout in $tmp/out, stderr in $tmp/err, status in $rc.
run() {
    "$natlab" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
    rc=$?
}

# failed: the last run failed, and not as a usage error (that is exit 64).
failed() { [ "$rc" -ne 0 ] && [ "$rc" -ne 64 ]; }

# expect_rc WANT WHAT
expect_rc() {
    if [ "$rc" -eq "$1" ]; then pass "$2 (exit $rc)"; else fail "$2: exit $rc, want $1"; fi
}

# expect_in FILE TEXT WHAT: FILE contains TEXT literally.
expect_in() {
    if grep -qF -- "$2" "$1"; then pass "$3"; else fail "$3: no '$2' in $(basename "$1")"; fi
}

# json_check WHAT PYTHON-EXPR...: the JSON on stdout satisfies the script
# (which sees it as `d` and must exit 0). Without python3 it fails.
json_check() {
    what=$1
    script=$2
    need python3 || return 0
    if python3 -c "import json, sys
d = json.load(open(sys.argv[1]))
$script" "$tmp/out" 2>"$tmp/py"; then
        pass "$what"
    else
        fail "$what: $(tail -n 1 "$tmp/py")"
    fi
}

presets="full-cone restricted-cone port-restricted-cone symmetric symmetric-sequential
home-router openwrt cgnat no-nat firewall udp-blocked corporate"

# ---- help, version, usage errors ----------------------------------------

run --help
expect_rc 0 "natlab --help"
for cmd in presets profile bench; do
    expect_in "$tmp/out" "  $cmd " "natlab --help lists $cmd"
done
check "natlab --help: stderr empty" test ! -s "$tmp/err"

run --version
expect_rc 0 "natlab --version"
expect_in "$tmp/out" "natlab " "natlab --version prints the version"

for cmd in presets profile bench; do
    run "$cmd" --help
    expect_rc 0 "natlab $cmd --help"
    expect_in "$tmp/out" "usage: natlab $cmd" "natlab $cmd --help prints usage"
done

run
expect_rc 64 "natlab without a command"
expect_in "$tmp/err" "usage: natlab" "natlab without a command prints usage on stderr"

run frobnicate
expect_rc 64 "natlab frobnicate (unknown command)"
expect_in "$tmp/err" "frobnicate" "unknown command is named"

# Bad arguments: each is a usage error, exit 64 (EX_USAGE).
while IFS='|' read -r args; do
    [ -n "$args" ] || continue
    # shellcheck disable=SC2086 # the words are the arguments
    run $args
    expect_rc 64 "natlab $args"
    check "natlab $args: says why on stderr" test -s "$tmp/err"
done <<'EOF'
presets --bogus
presets extra
profile
profile check
profile frobnicate good.ini
profile check a.ini b.ini
bench
bench nope
bench engine --mappings
bench engine --mappings 0
bench engine --mappings many
bench engine --lookups -5
bench engine --frob 1
EOF

# ---- presets ------------------------------------------------------------

run presets
expect_rc 0 "natlab presets"
for p in $presets; do
    if grep -q "^$p " "$tmp/out"; then pass "presets lists $p"; else fail "presets lists $p"; fi
done

run presets --json
expect_rc 0 "natlab presets --json"
json_check "presets --json: 12 entries with name, description, profile" "
names = '''$presets'''.split()
assert isinstance(d, list), 'not a list'
assert len(d) == 12, '%d entries' % len(d)
assert [e['name'] for e in d] == names, [e['name'] for e in d]
for e in d:
    assert set(e) >= {'name', 'description', 'profile'}, e.keys()
    assert isinstance(e['description'], str) and e['description'], e['name']
    assert isinstance(e['profile'], dict) and 'type' in e['profile'], e['name']
types = {e['name']: e['profile']['type'] for e in d}
assert types['no-nat'] == 'open' and types['firewall'] == 'firewall', types
assert types['udp-blocked'] == 'blocked' and types['cgnat'] == 'nat', types
sym = [e['profile'] for e in d if e['name'] == 'symmetric'][0]
assert sym['mapping'] == 'address-and-port-dependent', sym
assert sym['allocation'] == 'random', sym
"

# ---- profile check: good files ------------------------------------------

run profile check "$data/good.ini"
expect_rc 0 "profile check good.ini"
expect_in "$tmp/out" "[nat]" "good.ini: normalised output has [nat]"
expect_in "$tmp/out" "type = nat" "good.ini: type printed"
expect_in "$tmp/out" "timeout = 2min" "good.ini: 120s # comment normalised to 2min"
expect_in "$tmp/out" "timeout-unreplied = 30s" "good.ini: preset's value kept"
expect_in "$tmp/out" "loss = 0.01" "good.ini: 1% printed as 0.01"
check "good.ini: stderr empty" test ! -s "$tmp/err"

# The normalised output is itself a profile that normalises to itself.
cp "$tmp/out" "$tmp/normalised.ini"
run profile check "$tmp/normalised.ini"
expect_rc 0 "profile check of the normalised output"
if cmp -s "$tmp/out" "$tmp/normalised.ini"; then pass "normalised output is a fixed point"
else fail "normalised output changes when checked again"; fi

run profile check "$data/every-key.ini"
expect_rc 0 "profile check every-key.ini"
missing=
for key in mapping filtering allocation preserve-fallback sequential-step port-range \
    port-parity timeout timeout-unreplied hold-down refresh hairpin public-ips pooling \
    port-block port-blocks-max port-quota port-mapping port-mapping-lifetime-max \
    latency-inbound latency-outbound jitter-inbound jitter-outbound loss-inbound \
    loss-outbound reorder-inbound reorder-outbound; do
    grep -q "^$key = " "$tmp/out" || missing="$missing $key"
done
check "every-key.ini: every key printed (missing:${missing:- none})" test -z "$missing"

run profile check "$data/good.ini" --json
expect_rc 0 "profile check --json good.ini"
json_check "profile check --json: same profile as JSON" "
assert d['type'] == 'nat' and d['timeout'] == '2min', d
assert d['mapping'] == 'endpoint-independent', d
assert abs(d['loss'] - 0.01) < 1e-12, d['loss']
assert d['public-ips'] == 1 and d['port-block'] == 0, d
"

for p in $presets; do
    printf '[nat]\npreset = %s\n' "$p" >"$tmp/preset.ini"
    run profile check "$tmp/preset.ini"
    expect_rc 0 "profile check 'preset = $p'"
done

# ---- profile check: bad files --------------------------------------------

# bad FILE LINE KEY VALUE WHAT: exits 1 and stderr names FILE:LINE, key, value, allowed.
bad() {
    run profile check "$data/$1"
    check "$5: exit $rc (a failure, not a usage error)" failed
    expect_in "$tmp/err" "$data/$1:$2:" "$5: names $1:$2"
    expect_in "$tmp/err" "$3" "$5: names the key"
    expect_in "$tmp/err" "$4" "$5: names the value"
    expect_in "$tmp/err" "allowed" "$5: says what is allowed"
    check "$5: nothing on stdout" test ! -s "$tmp/out"
}

bad bad-value.ini 3 "mapping" "sideways" "bad value"
expect_in "$tmp/err" "address-and-port-dependent" "bad value: lists the allowed values"
bad unknown-key.ini 4 "colour" "blue" "unknown key"
expect_in "$tmp/err" "port-range" "unknown key: lists the allowed keys"
bad unknown-preset.ini 3 "preset" "linksys" "unknown preset"
expect_in "$tmp/err" "port-restricted-cone" "unknown preset: lists the presets"

run profile check "$data/syntax-error.ini"
check "syntax error: exit $rc" failed
expect_in "$tmp/err" "$data/syntax-error.ini:3:" "syntax error: names syntax-error.ini:3"
expect_in "$tmp/err" "this line has no equals sign" "syntax error: quotes the line"

run profile check "$data/wrong-type.ini"
check "key without meaning for the type: exit $rc" failed
expect_in "$tmp/err" "$data/wrong-type.ini:3:" "wrong type: names wrong-type.ini:3"
expect_in "$tmp/err" "type = firewall" "wrong type: says why"

run profile check "$data/cross-key.ini"
check "cross-key check: exit $rc" failed
expect_in "$tmp/err" "timeout-unreplied" "cross-key check: names the key"

run profile check "$data/duplicate-key.ini"
check "duplicate key: exit $rc" failed
expect_in "$tmp/err" "$data/duplicate-key.ini:3:" "duplicate key: names the second line"

run profile check "$tmp/no-such-profile.ini"
check "missing file: exit $rc" failed
expect_in "$tmp/err" "no-such-profile.ini" "missing file: names the file"

# ---- bench --------------------------------------------------------------

run bench engine --mappings 20000 --lookups 100000
expect_rc 0 "bench engine --mappings 20000 --lookups 100000"
json_check "bench engine: JSON with positive rates and memory" "
for k in ('lookups_per_s', 'inserts_per_s', 'bytes_per_mapping', 'tcp_lookups_per_s', 'tcp_connections_per_s', 'tcp_bytes_per_connection'):
    assert isinstance(d.get(k), (int, float)) and d[k] > 0, (k, d.get(k))
assert d['mappings'] == 20000 and d['lookups'] == 100000, d
"

# ---- server: --secret, start-up and shutdown --------------------------------

run server --help
expect_rc 0 "natlab server --help"
expect_in "$tmp/out" "--secret FILE" "server --help lists --secret"

run server --address 127.0.0.1 --secret "$tmp/no-such-secret"
expect_rc 64 "server --secret of a missing file"
expect_in "$tmp/err" "no-such-secret" "missing secret: names the file"
: >"$tmp/empty-secret"
run server --address 127.0.0.1 --secret "$tmp/empty-secret"
expect_rc 64 "server --secret of an empty file"
expect_in "$tmp/err" "is empty" "empty secret: says so"
printf '\n' >"$tmp/newline-secret"
run server --address 127.0.0.1 --secret "$tmp/newline-secret"
expect_rc 64 "server --secret of a file with only a newline"
run server --address 127.0.0.1 --secret ""
expect_rc 64 "server --secret ''"

# Start on loopback (no root needed), wait for the ready file, stop with
# SIGTERM: exit 0, counters on stderr and as JSON, the ready file gone.
printf 'lab secret\n' >"$tmp/secret"
port=$((20000 + $$ % 20000))
# --tcp-ports: not 443 in the host's namespace (another run may hold it).
"$natlab" server --address 127.0.0.1 --port "$port" --alt-port $((port + 1)) --secret "$tmp/secret" \
    --tcp-ports $((port + 2)) --ready-file "$tmp/ready" --stats-out "$tmp/stats.json" </dev/null >"$tmp/out" 2>"$tmp/err" &
server_pid=$!
i=0
while [ ! -s "$tmp/ready" ] && [ $i -lt 200 ] && kill -0 "$server_pid" 2>/dev/null; do
    sleep 0.05
    i=$((i + 1))
done
check "server: ready file holds its pid" test "$(cat "$tmp/ready" 2>/dev/null)" = "$server_pid"
kill -TERM "$server_pid" 2>/dev/null
wait "$server_pid"
rc=$?
expect_rc 0 "server stops on SIGTERM"
expect_in "$tmp/err" "rendezvous and relay (with a secret)" "server: says it serves rendezvous with a secret"
expect_in "$tmp/err" "rendezvous: 0 registrations" "server: rendezvous counters on stderr"
check "server: ready file removed" test ! -e "$tmp/ready"
cp "$tmp/stats.json" "$tmp/out" 2>/dev/null
json_check "server --stats-out: rendezvous and stun counters" "
r = d['rendezvous']
for k in ('registrations', 'sessions', 'relayed_packets', 'relayed_bytes', 'errors_sent', 'dropped'):
    assert k in r, k
assert set(r['dropped']) >= {'malformed', 'auth', 'replay', 'rate', 'no_session'}, r['dropped']
assert 'stun' in d and d['datagrams_received'] == 0, d
assert d['tcp']['listeners'][-1] == '127.0.0.1:%d' % ($port + 2), d['tcp']
assert r['active_tcp_clients'] == 0 and r['tcp_registrations'] == 0, r
"

# ---- sim mode: the matrix and scenarios in memory, no root -----------------
run matrix --sim --repeat 3 --seed 42 --out "$tmp/sim1"
expect_rc 0 "matrix --sim --repeat 3: every pair as predicted"
expect_in "$tmp/out" "SCENARIO" "matrix --sim: the summary table"
check "matrix --sim: 28 * 3 rows" test "$(wc -l <"$tmp/sim1/results.jsonl" 2>/dev/null)" -eq 84
if need python3; then
    if python3 - "$tmp/sim1/results.jsonl" >"$tmp/py" 2>&1 <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for r in rows:
    pair = (r["nat_a"], r["nat_b"])
    if "full-cone" in pair:
        assert r["outcome"] == "direct", r
    if pair == ("symmetric", "symmetric"):
        assert r["outcome"] == "relayed", r
    if r["expected"] in ("direct", "relayed", "failed"):
        assert r["outcome"] == r["expected"], r
    else:
        assert r["outcome"] in ("direct", "relayed"), r
    assert r["scenario"].startswith("mx-") and r["sent"] == r["delivered"] == 10, r
    assert r["started"].startswith("2000-01-01T"), r
PY
    then pass "matrix --sim: outcomes match the prediction"; else fail "matrix --sim: outcomes: $(tail -n 1 "$tmp/py")"; fi
fi
run matrix --sim --repeat 3 --seed 42 --out "$tmp/sim2"
check "matrix --sim: the same --seed gives the same results.jsonl" \
    cmp -s "$tmp/sim1/results.jsonl" "$tmp/sim2/results.jsonl"
run matrix --sim --repeat 3 --seed 43 --out "$tmp/sim3" -j 1
check "matrix --sim: another --seed gives other seeds" \
    test "$(head -n 1 "$tmp/sim1/results.jsonl" | cut -c1-80)" != "$(head -n 1 "$tmp/sim3/results.jsonl" | cut -c1-80)"
run report "$tmp/sim1"
need gnuplot && expect_rc 0 "report of --sim rows"
cat >"$tmp/sim-reboot.scn" <<'EOF2'
[scenario]
name = sim-reboot
repeat = 2
[nat home]
preset = home-router
[nat far]
preset = full-cone
[host alice]
nat = home
[host bob]
nat = far
[agent]
keepalive = 1s
hold = 8s
[expect]
outcome = direct
path-changes >= 1
[event reboot]
at = 3s
nat = home
action = reboot
EOF2
run run --sim --out "$tmp/sim4" "$tmp/sim-reboot.scn"
expect_rc 0 "run --sim: a reboot mid-session, direct again"
cat >"$tmp/sim-double.scn" <<'EOF2'
[scenario]
name = sim-double
[nat cgn]
preset = cgnat
[nat home]
preset = home-router
behind = cgn
[host alice]
nat = home
[host bob]
EOF2
run run --sim --out "$tmp/sim5" "$tmp/sim-double.scn"
expect_rc 64 "run --sim: a NAT behind a NAT is refused"
expect_in "$tmp/err" "sim-double.scn:5: [nat home] behind = cgn: sim mode cannot express" \
    "run --sim: the refusal names FILE:LINE and why"


# One scenario reader: up, exec, down and control check the runner's groups
# as natlab run does, before anything is built (no root needed to refuse).
cat >"$tmp/bad-repeat.scn" <<'EOF2'
[scenario]
name = bad-repeat
repeat = -3
[nat home]
preset = full-cone
[host alice]
nat = home
[host bob]
EOF2
run up "$tmp/bad-repeat.scn"
check "up: repeat = -3 refused (exit $rc)" test "$rc" -eq 1
expect_in "$tmp/err" "bad-repeat.scn:3: [scenario] repeat = -3: allowed: 1 to" \
    "up: repeat = -3 named as FILE:LINE, as natlab run names it"
run run --sim --out "$tmp/sim6" "$tmp/bad-repeat.scn"
check "run: repeat = -3 refused too (exit $rc)" failed
expect_in "$tmp/err" "bad-repeat.scn:3: [scenario] repeat = -3: allowed: 1 to" \
    "run: the same FILE:LINE message"
for cmd in "exec" "down" "control"; do
    case $cmd in
    exec) run exec "$tmp/bad-repeat.scn" alice -- true ;;
    down) run down "$tmp/bad-repeat.scn" ;;
    control) run control "$tmp/bad-repeat.scn" home stats ;;
    esac
    check "$cmd FILE: repeat = -3 refused (exit $rc)" failed
    expect_in "$tmp/err" "bad-repeat.scn:3: [scenario] repeat = -3" "$cmd FILE: names FILE:LINE"
done
cat >"$tmp/bad-agent.scn" <<'EOF2'
[nat home]
preset = full-cone
[host alice]
nat = home
[host bob]
[agent]
connect = carol
[event late]
at = 1s
nat = home
action = reboot
EOF2
run up "$tmp/bad-agent.scn"
check "up: [agent] connect = carol (no such host) refused (exit $rc)" test "$rc" -eq 1
expect_in "$tmp/err" "bad-agent.scn:7: [agent] connect = carol: no such host; allowed: alice, bob" \
    "up: the runner's [agent] error, FILE:LINE"

# ---- agent kinds (docs/agents.md): listing, choosing, and every mistake named
src=$(cd "$data/../../.." && pwd)
example="$src/docs/examples/udp-punch.kind"
run kinds
expect_rc 0 "kinds: the table"
expect_in "$tmp/out" "natlab " "kinds: natlab is always there"
run kinds --json "$example"
expect_rc 0 "kinds --json FILE"
json_check "kinds --json: the example kind, installed, its version and techniques" "
k = d[0]
assert k['name'] == 'udp-punch' and k['installed'] and k['version'] == 'udp-punch 1.0', k
assert k['techniques'] == 'punch' and k['servers'] == 'natlab server', k"
run matrix --agent-kind "natlab,$example" --nats full-cone,symmetric --repeat 2 --seed 3 --list
expect_rc 0 "matrix --agent-kind natlab,FILE --list"
check "matrix --agent-kind: each kind's pairs, named by kind" \
    test "$(grep -c '^name = mx-' "$tmp/out")" -eq 6
expect_in "$tmp/out" "name = mx-udp-punch-sym-sym" "matrix --agent-kind: mx-KIND-A-B"
expect_in "$tmp/out" "kind = $example" "matrix --agent-kind: [agent] kind = the file, absolute"
check "matrix --agent-kind: the kind's prediction follows its techniques (no relay: failed)" \
    sh -c "grep -A40 'name = mx-udp-punch-sym-sym' '$tmp/out' | grep -m1 '^outcome' | grep -q failed"
check "matrix --agent-kind: natlab's pairs unchanged (relayed for sym-sym)" \
    sh -c "grep -A40 'name = mx-sym-sym' '$tmp/out' | grep -m1 '^outcome' | grep -q relayed"
run matrix --agent-kind nosuch --list
expect_rc 64 "matrix --agent-kind nosuch"
expect_in "$tmp/err" "--agent-kind nosuch: no agent kind 'nosuch'; built in: natlab" \
    "matrix --agent-kind: an unknown kind lists the built-in ones"
run matrix --agent-kind natlab,natlab --list
expect_rc 64 "matrix --agent-kind natlab,natlab"
expect_in "$tmp/err" "kind natlab is named twice" "matrix --agent-kind: a kind twice"
run matrix --agent-kind "$example" --sim
expect_rc 64 "matrix --sim --agent-kind FILE"
expect_in "$tmp/err" "--sim runs natlab's own agent's core" "matrix --sim: other kinds refused"
printf '[kind]\nname = bad\ntechniques = punch, teleport\nlisten = x\nconnect = x\n' >"$tmp/bad.kind"
run matrix --agent-kind "$tmp/bad.kind" --list
expect_rc 64 "matrix --agent-kind BAD.kind"
expect_in "$tmp/err" "bad.kind:3: [kind] techniques = punch, teleport: unknown 'teleport'; allowed: punch, predict, birthday, port-mapping, relay, relay-tcp" \
    "a bad kind file: FILE:LINE, the value and what is allowed"
cat >"$tmp/kind-flag.scn" <<EOF2
[scenario]
name = kind-flag
[nat a]
preset = full-cone
[host alice]
nat = a
[host bob]
[agent]
kind = $example
keepalive = 5s
EOF2
run run --check "$tmp/kind-flag.scn"
check "run --check: natlab's agent flags refused for another kind (exit $rc)" test "$rc" -ne 0
expect_in "$tmp/err" "kind-flag.scn:10: [agent] keepalive = 5s: a flag of natlab's own agent; kind $example takes send, interval and hold" \
    "run --check: the refusal names FILE:LINE"
sed -e 's/^keepalive = 5s$/send = 3/' -e "s|^kind = .*|kind = nosuch|" "$tmp/kind-flag.scn" >"$tmp/kind-none.scn"
run run --check "$tmp/kind-none.scn"
expect_in "$tmp/err" "kind-none.scn:9: [agent] kind = nosuch: no agent kind 'nosuch'" \
    "run --check: an unknown kind, FILE:LINE"
sed -e 's/^keepalive = 5s$/send = 3/' "$tmp/kind-flag.scn" >"$tmp/kind-sim.scn"
run run --sim --out "$tmp/ksim" "$tmp/kind-sim.scn"
expect_rc 64 "run --sim: another kind refused"
expect_in "$tmp/err" "kind-sim.scn:9: [agent] kind = $example: sim mode runs natlab's own agent's core" \
    "run --sim: the refusal names FILE:LINE"

# ---- [agent] turn and matrix --turn (docs/run.md): values and refusals named
run matrix --turn sctp --list
expect_rc 64 "matrix --turn sctp"
expect_in "$tmp/err" "natlab matrix: --turn 'sctp': allowed: udp, tcp" "matrix --turn: the value and what is allowed"
run matrix --turn off --list
expect_rc 64 "matrix --turn off (the flag asks for TURN)"
run matrix --turn tcp --nats full-cone,symmetric --list
expect_rc 0 "matrix --turn tcp --list"
check "matrix --turn tcp: every pair says turn = tcp in [agent]" \
    test "$(grep -c '^turn = tcp$' "$tmp/out")" -eq 3
run matrix --sim --turn tcp --out "$tmp/simtcp"
expect_rc 64 "matrix --sim --turn tcp"
expect_in "$tmp/err" "--sim --turn tcp: sim mode's TURN server (sim/simturn) speaks UDP only" \
    "matrix --sim --turn tcp: why"
check "matrix --sim --turn tcp: nothing ran, no report" test ! -e "$tmp/simtcp"
run matrix --sim --turn udp --nats symmetric --repeat 2 --seed 4 --out "$tmp/simturn" -j 1
expect_rc 0 "matrix --sim --turn udp"
check "matrix --sim --turn udp: the rows say relayed through TURN" \
    test "$(grep -c '"outcome":"relayed",.*"turn":"udp","relay":"turn","turn_sent":[1-9]' "$tmp/simturn/results.jsonl")" -eq 2
cat >"$tmp/turn-bad.scn" <<'EOF2'
[scenario]
name = turn-bad
[nat a]
preset = symmetric
[host alice]
nat = a
[host bob]
[agent]
turn = coturn
EOF2
run run --check "$tmp/turn-bad.scn"
check "run --check: turn = coturn refused (exit $rc)" failed
expect_in "$tmp/err" "turn-bad.scn:9: [agent] turn = coturn: allowed: udp, tcp, off" \
    "run --check: turn = coturn, FILE:LINE and what is allowed"
sed 's/^turn = coturn$/turn = tcp/' "$tmp/turn-bad.scn" >"$tmp/turn-tcp.scn"
run run --check "$tmp/turn-tcp.scn"
expect_rc 0 "run --check: turn = tcp"
run run --sim --out "$tmp/simtcp2" "$tmp/turn-tcp.scn"
expect_rc 64 "run --sim: turn = tcp refused"
expect_in "$tmp/err" "turn-tcp.scn:9: [agent] turn = tcp: sim mode's TURN server (sim/simturn) speaks UDP only" \
    "run --sim: the refusal names FILE:LINE"

echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
