#!/bin/sh
# The scenario library (scenarios/library/) and the default matrix with the
# real agent: every expectation must hold. CI runs one attempt each, in
# parallel. Then the presets that carry UDP without translating (no-nat,
# firewall) against a cone and a symmetric NAT. Skipped (77) without root.
# usage: test_library.sh NATLAB SOURCE_DIR
set -u
NATLAB=$(realpath "$1")
SRC=$(realpath "$2")
# shellcheck source=tests/lib.sh
. "$SRC/tests/lib.sh"
unset NATLAB_AGENT_EXE
need_root "the scenario library"
scratch library
owns_prefix lib-
owns_prefix mx-
lib="$SRC/scenarios/library"

check "every library scenario is valid" "$NATLAB" run --check "$lib"/*.scn

start=$(date +%s)
interruptible "$NATLAB" run "$lib"/*.scn --repeat "${LIB_REPEAT:-1}" -j 4 --out "$tmp/lib" --junit "$tmp/lib.xml" >"$tmp/lib.out" 2>&1
status=$?
cat "$tmp/lib.out"
check "the library holds ($(($(date +%s) - start)) s)" test "$status" -eq 0
start=$(date +%s)
# Birthday probing at 4x the default budget (p = 1 - exp(-16)): with one attempt per pair,
# the default's 98.3% would fail a CI run now and then by chance alone. The default budget's
# rate is measured by test_punch (sim) and test_agent.sh (namespaces).
interruptible "$NATLAB" matrix --repeat "${LIB_REPEAT:-1}" -j 4 --agent punch-timeout=3s --agent birthday-probes=4096 \
    --out "$tmp/matrix" >"$tmp/matrix.out" 2>&1
status=$?
cat "$tmp/matrix.out"
check "the default matrix holds ($(($(date +%s) - start)) s)" test "$status" -eq 0
start=$(date +%s)
interruptible "$NATLAB" matrix --nats no-nat,firewall,port-restricted-cone,symmetric --repeat 1 -j 4 \
    --agent punch-timeout=3s --agent birthday-probes=4096 --out "$tmp/open" >"$tmp/open.out" 2>&1
status=$?
cat "$tmp/open.out"
check "no-nat and firewall against cones and symmetric NATs hold ($(($(date +%s) - start)) s)" test "$status" -eq 0
check "nothing left behind" test "$(ip netns list | grep -c '^natlab-\(lib\|mx\)-')" -eq 0
finish
