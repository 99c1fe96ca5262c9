#!/bin/sh
# The libnice agent kind (kinds/libnice.kind, kinds/libnice/nice_peer.c):
# natlab-nice's bad input without root; then six pairs of the matrix behind
# natsim with coturn on the public host: direct where plain punching works
# (restricted cones included, where the relay can validate first: a
# libnice with a late SDP nominated it), relayed (TURN) where punching
# cannot, every message echoed, rows that carry the kind and its version.
# About 10 s.
# usage: test_kind_libnice.sh NATLAB   (root; exit 77 = skipped)
set -u
NATLAB=$(readlink -f "$1")
here=$(cd "$(dirname "$0")" && pwd)
NICE=$(dirname "$NATLAB")/natlab-nice
# shellcheck source=tests/lib.sh
. "$here/../lib.sh"

if [ ! -x "$NICE" ]; then
    fail "$NICE is missing: libnice-dev was not there at cmake time (scripts/install-deps, then cmake again)"
    finish
fi
need_or_exit python3 turnserver
scratch kind-libnice
owns_prefix mx-libnice-

"$NICE" --version >"$tmp/version" 2>&1
check "natlab-nice --version: exit 0, names libnice" grep -q "^natlab-nice (libnice [0-9.]*)$" "$tmp/version"
"$NICE" --frob >/dev/null 2>&1
check "natlab-nice --frob: usage error (64)" test $? -eq 64
env -i NATLAB_ROLE=sideways "$NICE" >/dev/null 2>"$tmp/role"
rc=$?
check "NATLAB_ROLE = sideways: exit 1, the variable, value and allowed values named" \
    sh -c "test $rc -eq 1 && grep -q 'NATLAB_ROLE = sideways: expected listen or connect' '$tmp/role'"
# A connecting peer that cannot start still gives the runner its one result line.
env -i NATLAB_ROLE=connect NATLAB_SIGNAL_DIR="$tmp" NATLAB_STUN=198.19.1.1 "$NICE" \
    >"$tmp/bad.out" 2>/dev/null
rc=$?
check "NATLAB_STUN without a port: exit 0 and a failed result naming it" sh -c "test $rc -eq 0 &&
    grep -qx '{\"outcome\":\"failed\",\"path\":\"none\",\"technique\":\"none\",\"time_to_first_byte_ms\":null,\"time_to_direct_ms\":null,\"sent\":0,\"delivered\":0,\"reason\":\"NATLAB_STUN = 198.19.1.1: expected IP:PORT (an IP address, a port from 1 to 65535)\"}' '$tmp/bad.out'"

need_root "the libnice kind's pairs"
"$NATLAB" kinds >"$tmp/kinds" 2>&1
check "natlab kinds: libnice installed, punch and relay, coturn" \
    grep -Eq "^libnice +yes +[0-9.]+ +punch, relay +coturn$" "$tmp/kinds"

"$NATLAB" matrix --agent-kind libnice --nats restricted-cone,port-restricted-cone,symmetric \
    --repeat 1 --seed 3 -j 3 --out "$tmp/mx" >"$tmp/mx.out" 2>&1
rc=$?
check "matrix: exit 0, every cell as predicted" test $rc -eq 0
[ $rc -eq 0 ] || sed 's/^/    /' "$tmp/mx.out"
python3 - "$tmp/mx/results.jsonl" >"$tmp/py" 2>&1 <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 6, len(rows)
relayed = {'port-restricted-cone/symmetric', 'symmetric/symmetric'}
for r in rows:
    assert r['kind'] == 'libnice' and r['kind_version'], r
    assert r['error'] is None and r['sent'] == r['delivered'] == 10, r
    assert r['time_to_first_byte_ms'] >= 0, r
    if r['pair'] in relayed:
        assert (r['outcome'], r['path'], r['expected']) == ('relayed', 'relay', 'relayed'), r
        assert r['time_to_direct_ms'] is None, r
    else:
        assert (r['outcome'], r['path'], r['expected']) == ('direct', 'direct', 'direct'), r
        assert r['technique'] in ('srflx', 'prflx'), r
        assert r['time_to_direct_ms'] >= 0, r
# behind the symmetric NAT the connecting peer's check comes from a mapping
# STUN never saw: the listener behind it answers from a peer-reflexive one
sym = [r for r in rows if r['pair'] == 'restricted-cone/symmetric']
assert sym and sym[0]['technique'] == 'prflx', sym
EOF
check "rows: kind libnice with its version; direct (srflx/prflx) where punching works, relayed elsewhere, 10 of 10 echoed" \
    test ! -s "$tmp/py"
[ -s "$tmp/py" ] && sed 's/^/    /' "$tmp/py"
check "attempt logs: libnice's own account (aggressive nomination, the selected pair)" \
    sh -c "grep -q 'aggressive nomination' '$tmp'/mx/logs/mx-libnice-rc-prc/attempt-1.log &&
           grep -q 'selected pair: relay ' '$tmp'/mx/logs/mx-libnice-sym-sym/attempt-1.log"
check "no namespace left" sh -c "! ip netns list | grep -q '^natlab-mx-libnice-'"
finish
