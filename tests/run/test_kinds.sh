#!/bin/sh
# Agent kinds in the runner (docs/agents.md): the example kind in one Python
# file through the matrix, every cell as its techniques predict; peers that
# crash, hang, print garbage, report nonsense, linger after their result,
# detach a daemon holding a TUN device, or ignore SIGTERM: each attempt failed
# with its reason (or what it reported, when it reported well), nothing left
# behind; a kind that is not installed names its install command. Root.
# usage: test_kinds.sh NATLAB SOURCE_DIR
set -u
NATLAB=$(realpath "$1")
SRC=$(realpath "$2")
# shellcheck source=tests/lib.sh
. "$SRC/tests/lib.sh"
need_root "agent kinds in natlab run and matrix"
need_or_exit python3 pgrep ip

scratch kinds
owns_prefix kmis-
owns_prefix mx-udp-punch-

# rows FILE PYTHON: the rows of FILE as `rows` (a list of dicts) satisfy PYTHON.
rows() {
    python3 -c "import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = lambda s: [r for r in rows if r['scenario'] == s]
$2" "$1" 2>"$tmp/py"
}

# ---- the example kind: the matrix predicts from `techniques = punch`
"$NATLAB" matrix --agent-kind "$SRC/docs/examples/udp-punch.kind" \
    --nats full-cone,port-restricted-cone,symmetric --repeat 1 --seed 5 -j 3 \
    --out "$tmp/mx" >"$tmp/mx.out" 2>&1
check "example kind: matrix exit 0, every cell as predicted" test $? -eq 0
check "example kind: rows carry the kind and its version, direct where punching works, failed (no relay) elsewhere" rows "$tmp/mx/results.jsonl" "
assert len(rows) == 6, len(rows)
for r in rows:
    assert r['kind'] == 'udp-punch' and r['kind_version'] == 'udp-punch 1.0', r
    pair = r['pair']
    if pair in ('port-restricted-cone/symmetric', 'symmetric/symmetric'):
        assert r['outcome'] == 'failed' and r['expected'] == 'failed', r
        assert r['error'] == 'the stack failed: no probe came back in 5 s', r['error']
    else:
        assert r['outcome'] == 'direct' and r['technique'] == 'punch', r
        assert r['delivered'] == r['sent'] == 10, r
        assert r['time_to_direct_ms'] >= 0, r
"
[ -s "$tmp/py" ] && cat "$tmp/py"

# ---- peers that misbehave (tests/run/kind_misbehave.py MODE)
modes="crash hang garbage malformed linger detach deaf"
for mode in $modes; do
    cat >"$tmp/$mode.kind" <<KIND
[kind]
name = mis-$mode
techniques = relay
listen = exec python3 $SRC/tests/run/kind_misbehave.py $mode
connect = exec python3 $SRC/tests/run/kind_misbehave.py $mode
version = echo 0.$mode
KIND
    cat >"$tmp/kmis-$mode.scn" <<SCN
[scenario]
name = kmis-$mode
repeat = 2
deadline = 4s
[nat a]
preset = full-cone
[nat b]
preset = full-cone
[host alice]
nat = a
[host bob]
nat = b
[agent]
kind = $mode.kind
[expect]
outcome = relayed
SCN
done
# shellcheck disable=SC2046
"$NATLAB" run -j 2 --out "$tmp/mis" $(for m in $modes; do echo "$tmp/kmis-$m.scn"; done) \
    >"$tmp/mis.out" 2>&1
check "misbehaving peers: the run fails their expectations (exit 1), it does not hang" test $? -eq 1
check "misbehaving peers: a row per attempt, each failed with its reason or as it reported" \
    rows "$tmp/mis/results.jsonl" "
want = {
    'kmis-crash': 'no result: the connecting peer was killed by signal 11 (Segmentation fault)',
    'kmis-hang': 'no result: deadline 4 s passed: stopped the peers',
    'kmis-garbage': 'no result: the connecting peer exited with status 0 without one',
    'kmis-malformed': 'malformed result from the connecting peer: \"outcome\" is \"sideways\"; '
                      'allowed: direct, relayed, failed: {\"outcome\": \"sideways\"}',
}
for s, err in want.items():
    got = by(s)
    assert len(got) == 2 and all(r['outcome'] == 'failed' and r['error'] == err for r in got), (s, [r['error'] for r in got])
for s in ('kmis-linger', 'kmis-detach', 'kmis-deaf'):
    got = by(s)
    # The second attempt checks the first left no daemon and no TUN device.
    assert len(got) == 2 and all(r['outcome'] == 'relayed' and r['error'] is None for r in got), (s, [r['error'] for r in got])
    assert all(r['kind'] == 'mis-' + s[5:] and r['kind_version'] == '0.' + s[5:] for r in got)
hang = [r['duration_ms'] for r in by('kmis-hang')]
assert all(4000 <= d < 7000 for d in hang), hang
"
[ -s "$tmp/py" ] && cat "$tmp/py"
check "detach: the runner stopped the daemon the peer left" \
    grep -q "process left in .* after the peers: stopping them" "$tmp/mis/logs/kmis-detach/attempt-1.log"
check "linger: stopped 2 s after its result" \
    grep -q "still running 2 s after its result: stopping it" "$tmp/mis/logs/kmis-linger/attempt-1.log"
check "garbage: what the peer printed is in the attempt log" \
    grep -q "connect  \[1,2\]" "$tmp/mis/logs/kmis-garbage/attempt-1.log"
check "no peer process left" sh -c "! pgrep -f 'kind_[m]isbehave.py'"
# no_kmis_namespace RUN_OUTPUT: none of the runs' namespaces is left; if one
# is, what is left and what the run said about removing it.
no_kmis_namespace() {
    left=$(ip netns list | grep '^natlab-kmis') || return 0
    echo "    left:" $left
    grep -i "remov\|cannot\|reap" "$1" | sed 's/^/    run: /'
    findmnt -rno TARGET,PROPAGATION | grep -E '^/run/netns |natlab-kmis' | sed 's/^/    mount: /'
    return 1
}
check "no namespace left" no_kmis_namespace "$tmp/mis.out"

# ---- Ctrl-C mid-attempt: the peers, what they left, the namespaces all go
sed -e 's/kmis-hang/kmis-sigint/' -e 's/deadline = 4s/deadline = 60s/' -e 's/hang.kind/detach.kind/' \
    "$tmp/kmis-hang.scn" >"$tmp/kmis-sigint.scn"
sed -i 's/^repeat = 2$/repeat = 1/' "$tmp/kmis-sigint.scn"
# The detaching peer, but one that then hangs: its daemon and TUN device are up.
sed -e 's/name = mis-detach/name = mis-sigint/' -e 's/misbehave.py detach/misbehave.py detach-hang/g' \
    "$tmp/detach.kind" >"$tmp/detach-hang.kind"
sed -i 's/detach.kind/detach-hang.kind/' "$tmp/kmis-sigint.scn"
"$NATLAB" run --out "$tmp/sigint" "$tmp/kmis-sigint.scn" >"$tmp/sigint.out" 2>&1 &
pid=$!
check "Ctrl-C: the peer's daemon is up" wait_for 20 grep -qs "daemon up" \
    "$tmp/sigint/logs/kmis-sigint/attempt-1.log"
kill -INT $pid
wait $pid
check "Ctrl-C: exit status 130" test $? -eq 130
check "Ctrl-C: no peer or daemon left" sh -c "! pgrep -f 'kind_[m]isbehave.py'"
check "Ctrl-C: no namespace left" no_kmis_namespace "$tmp/sigint.out"

# ---- a kind that is not installed: its scenario errors, naming the install command
cat >"$tmp/ghost.kind" <<'KIND'
[kind]
name = ghost
techniques = punch
listen = ghost-peer
connect = ghost-peer
check = test -x /nonexistent/ghost-peer
install = apt-get install ghost
KIND
sed -e 's/kmis-crash/kmis-ghost/' -e 's/crash.kind/ghost.kind/' "$tmp/kmis-crash.scn" >"$tmp/kmis-ghost.scn"
"$NATLAB" run --out "$tmp/ghost" "$tmp/kmis-ghost.scn" >"$tmp/ghost.out" 2>&1
check "not installed: the run fails (exit 1)" test $? -eq 1
check "not installed: the error names the kind, the check and the install command" grep -qF \
    "agent kind ghost is not installed (\`test -x /nonexistent/ghost-peer\` failed: exit status 1): install with: apt-get install ghost" \
    "$tmp/ghost.out"
check "not installed: no attempt ran" test ! -s "$tmp/ghost/results.jsonl"

finish
