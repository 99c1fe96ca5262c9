#!/bin/sh
# The hyperdht agent kind (kinds/hyperdht.kind) through natlab matrix: port-
# restricted cones punch each other, a port-restricted cone and a symmetric
# NAT meet by hyperdht's birthday punching, two symmetric NATs go through the
# blind relay on the public host. Rows carry the kind and its version; the
# peers exit by themselves and leave nothing behind. About 10 s.
# usage: test_kind_hyperdht.sh NATLAB SOURCE_DIR   (root; exit 77 = skipped)
set -u
NATLAB=$(readlink -f "$1")
src=$(readlink -f "$2")
here=$(cd "$(dirname "$0")" && pwd)

# shellcheck source=tests/lib.sh
. "$here/../lib.sh"

need_root "the hyperdht kind"
need_or_exit node
if ! (cd "$src/kinds" && node hyperdht/peer.js --version >/dev/null 2>&1); then
    fail "hyperdht is not installed in kinds/hyperdht: run scripts/install-deps (npm ci there)"
    finish
fi
version=$(cd "$src/kinds" && node hyperdht/peer.js --version)
scratch kind-hyperdht
owns_prefix mx-hyperdht-

out=$tmp/mx
interruptible "$NATLAB" matrix --agent-kind hyperdht --nats port-restricted-cone,symmetric \
    --repeat 1 -j 3 --seed 7 --out "$out" >"$tmp/matrix.out" 2>&1
status=$?
rows=$out/results.jsonl
on_fail() { sed 's/^/    /' "$tmp/matrix.out"; }
check "matrix: every prediction held, exit 0 (got $status)" test "$status" -eq 0
on_fail() { :; }
check "matrix: three pairs, one row each" test "$(wc -l <"$rows" 2>/dev/null)" -eq 3
check "rows: every one is kind hyperdht, version $version" \
    test "$(grep -c "\"kind\":\"hyperdht\",\"kind_version\":\"$version\"" "$rows")" -eq 3
check "prc x prc: direct, punched (fast-open or consistent)" \
    grep -Eq '"scenario":"mx-hyperdht-prc-prc".*"outcome":"direct","path":"direct","technique":"(fast-open|consistent)"' "$rows"
check "prc x sym: direct by hyperdht's random punch (birthday sockets)" \
    grep -q '"scenario":"mx-hyperdht-prc-sym".*"outcome":"direct","path":"direct","technique":"random"' "$rows"
check "sym x sym: relayed through the blind relay" \
    grep -q '"scenario":"mx-hyperdht-sym-sym".*"outcome":"relayed","path":"relay"' "$rows"
check "every attempt delivered its 10 messages" test "$(grep -c '"sent":10,"delivered":10' "$rows")" -eq 3
logs=$out/logs
check "the connecting peer exited by itself after its result" \
    sh -c "! grep -rq 'the connecting peer is still running' '$logs'"
check "no process left in a host's namespace after the peers" \
    sh -c "! grep -rq 'left in' '$logs'"
check "sym x sym: the connector knew its NAT randomized and asked for the relay" \
    grep -q 'with relayThrough the blind relay' "$logs/mx-hyperdht-sym-sym/attempt-1.log"
finish
