#!/bin/sh
# natlab run / natlab matrix with the fake agent (tests/run/fake_agent.py):
# expectations met and failed, results rows, JUnit, events through the NAT's
# control socket (change-ip included), deadline kills, crashes, shards,
# Ctrl-C, the matrix, and nothing left behind. Root; skipped (77) without it.
# usage: test_run.sh NATLAB SOURCE_DIR
set -u
NATLAB=$(realpath "$1")
SRC=$(realpath "$2")
# shellcheck source=tests/lib.sh
. "$SRC/tests/lib.sh"
need_root "natlab run and matrix"
need_or_exit python3 pgrep ip
ip netns add natlab-rt-probe-$$ 2>/dev/null || { echo "SKIP: cannot create namespaces"; exit 77; }
ip netns del natlab-rt-probe-$$

scratch run
owns_prefix rt-
owns_prefix mx-
export NATLAB_AGENT_EXE="$SRC/tests/run/fake_agent.py" FAKE_AGENT_DIR="$tmp/fake"
mkdir -p "$FAKE_AGENT_DIR"
leftovers() { ip netns list | grep -c '^natlab-rt' ; }

# ---- a scenario that holds: events, agent flags, expectations, rows, JUnit
cat >"$tmp/rt-good.scn" <<'SCN'
[scenario]
repeat = 3
seed = 11
deadline = 10s
[nat home]
preset = port-restricted-cone
[nat far]
preset = symmetric
[host alice]
nat = home
[host bob]
nat = far
[agent]
keepalive = 5s
hold = 600ms
[expect]
outcome = direct
success-rate >= 0.9
time-to-direct-p95 <= 1s
technique = punch
[event move]
at = 300ms
nat = far
action = change-ip
SCN
interruptible "$NATLAB" run "$tmp/rt-good.scn" --out "$tmp/good" --junit "$tmp/good.xml" -j 2 >"$tmp/good.out" 2>&1
check "a scenario whose expectations hold exits 0" test $? -eq 0
check "three results rows" test "$(wc -l <"$tmp/good/results.jsonl")" -eq 3
check "rows carry scenario, seed, both profiles, outcome, technique" \
    grep -q '"scenario":"rt-good","attempt":1,"seed":[0-9]*,"pair":"port-restricted-cone/symmetric".*"profile_b":{"type":"nat","mapping":"address-and-port-dependent".*"outcome":"direct","path":"direct","technique":"punch"' "$tmp/good/results.jsonl"
check "the same seed gives the same attempt seeds" sh -c \
    "\"$NATLAB\" run '$tmp/rt-good.scn' --out '$tmp/good2' --repeat 1 >/dev/null 2>&1 && \
     test \"\$(grep -o '\"seed\":[0-9]*' '$tmp/good2/results.jsonl')\" = \"\$(head -1 '$tmp/good/results.jsonl' | grep -o '\"seed\":[0-9]*')\""
check "JUnit: one testcase, no failure" grep -q 'tests="1" failures="0" errors="0"' "$tmp/good.xml"
check "[agent] keys reach both agents as flags" \
    grep -q 'fake agent: agent --server 198.19.[0-9.]*:3478 --name bob-1 --seed [0-9]* --json --keepalive 5s listen --once' "$tmp/good/logs/rt-good/attempt-1.log"
check "the connector holds the session for the events" grep -q 'connect bob-1 --hold 600ms' "$tmp/good/logs/rt-good/attempt-1.log"
check "change-ip moved the NAT to its spare address" \
    grep -q 'event move: nat far: change-ip -> {"from":"198.18.2.1","to":"198.18.2.2"}' "$tmp/good/logs/rt-good/attempt-3.log"
check "a summary table" grep -q '^rt-good *direct *3 *3 *0 *0 .*punch *PASS' "$tmp/good.out"
check "plain lines when not a terminal" grep -q '^rt-good #2/3  direct (punch)' "$tmp/good.out"
check "nothing left behind" test "$(leftovers)" -eq 0

# ---- scenarios that fail, in parallel: each failed expectation in one line
base() { # base NAME: a two-NAT scenario with a short deadline
    printf '[scenario]\nname = %s\nrepeat = 2\ndeadline = 2s\n[nat a]\npreset = full-cone\n[nat b]\npreset = cgnat\n[host alice]\nnat = a\n[host bob]\nnat = b\n' "$1"
}
{ base rt-relayed; printf '[expect]\noutcome = direct\n'; } >"$tmp/relayed.scn"
{ base rt-hang; printf '[expect]\noutcome = any\n'; } >"$tmp/hang.scn"
{ base rt-crash; } >"$tmp/crash.scn"
{ base rt-slow; printf '[expect]\ntime-to-direct-max <= 50ms\n'; } >"$tmp/slow.scn"
start=$(date +%s)
interruptible env FAKE_AGENT_MODE="rt-relayed=direct/relayed,rt-hang=hang,rt-crash=crash/noregister,rt-slow=direct" \
    "$NATLAB" run "$tmp/relayed.scn" "$tmp/hang.scn" "$tmp/crash.scn" "$tmp/slow.scn" \
    --out "$tmp/bad" --junit "$tmp/bad.xml" -j 4 >"$tmp/bad.out" 2>&1
status=$?
took=$(($(date +%s) - start))
check "failed expectations: exit status 1" test "$status" -eq 1
check "outcome = direct explained" grep -q '^  FAIL rt-relayed: outcome = direct: 1 of 2 attempts went direct: #2 relayed$' "$tmp/bad.out"
check "a hung agent is killed at the deadline" grep -q 'FAIL rt-hang: outcome = any: 0 of 2 attempts .*deadline 2 s passed: stopped the agents (last event: registered)' "$tmp/bad.out"
check "a crashed agent is explained" grep -q 'FAIL rt-crash: .*#1 failed (the connecting agent was killed by signal 11 (Segmentation fault); last event: session), #2 failed (deadline 2 s passed before the listening agent registered)' "$tmp/bad.out"
check "a metric expectation explained" grep -q 'FAIL rt-slow: time-to-direct-max <= 50ms: max 120 ms over 2 attempts' "$tmp/bad.out"
check "JUnit: four testcases, four failures" grep -q 'tests="4" failures="4" errors="0"' "$tmp/bad.xml"
check "failed rows say why" grep -q '"outcome":"failed",.*"error":"deadline 2 s passed' "$tmp/bad/results.jsonl"
check "in parallel: 8 attempts with 2 s deadlines in ${took}s" test "$took" -lt 12
check "nothing left behind after kills" test "$(leftovers)" -eq 0
check "no agent left running" sh -c "! pgrep -f '[f]ake_agent.py' >/dev/null"

# ---- validation: errors name the line, nothing is created
printf '[scenario]\nname = rt-invalid\n[host a]\n[host b]\n[expect]\nsuccess-rate >= lots\n' >"$tmp/invalid.scn"
"$NATLAB" run "$tmp/rt-good.scn" "$tmp/invalid.scn" --out "$tmp/invalid" >"$tmp/invalid.out" 2>&1
check "an invalid scenario: exit status 1" test $? -eq 1
check "...with FILE:LINE: [group] key = value: what is allowed" \
    grep -q "invalid.scn:6: \[expect\] success-rate >= lots: allowed: success-rate >= RATE" "$tmp/invalid.out"
check "...and nothing created" test ! -e "$tmp/invalid"

# ---- shards: whole scenarios, each in exactly one shard
for k in 1 2; do
    FAKE_AGENT_MODE="rt-hang=direct,rt-crash=direct" "$NATLAB" run "$tmp/relayed.scn" "$tmp/hang.scn" \
        "$tmp/crash.scn" --shard $k/2 --repeat 1 --out "$tmp/shard$k" -j 3 >/dev/null 2>&1
done
check "shard 1/2 takes the first and third scenarios" \
    test "$(grep -o '"scenario":"[a-z-]*"' "$tmp/shard1/results.jsonl" | sort | tr '\n' ' ')" = '"scenario":"rt-crash" "scenario":"rt-relayed" '
check "shard 2/2 takes the second" \
    test "$(grep -o '"scenario":"[a-z-]*"' "$tmp/shard2/results.jsonl" | tr '\n' ' ')" = '"scenario":"rt-hang" '

# ---- Ctrl-C: the workers remove their topologies
{ base rt-sigint; } | sed 's/deadline = 2s/deadline = 60s/' >"$tmp/sigint.scn"
FAKE_AGENT_MODE=hang "$NATLAB" run "$tmp/sigint.scn" --out "$tmp/sigint" >"$tmp/sigint.out" 2>&1 &
pid=$!
i=0
until grep -q '"event": "registered"' "$tmp/sigint/logs/rt-sigint/attempt-1.log" 2>/dev/null || [ $i -ge 200 ]; do
    i=$((i + 1)); sleep 0.05 # waits for the agents to be up (a readiness poll)
done
check "the run is up with its agents" test "$(leftovers)" -gt 0
kill -INT $pid
wait $pid
check "SIGINT: exit status 130" test $? -eq 130
check "SIGINT: no namespace left" test "$(leftovers)" -eq 0
check "SIGINT: no agent left" sh -c "! pgrep -f '[f]ake_agent.py' >/dev/null"
check "SIGINT: said so" grep -q 'interrupted by Interrupt' "$tmp/sigint.out"

# ---- the matrix: every pair, predictions as expectations, then the report
interruptible env FAKE_AGENT_MODE="mx-sym-sym=relayed,*=direct" "$NATLAB" matrix --nats full-cone,symmetric --repeat 2 \
    --out "$tmp/matrix" -j 3 >"$tmp/matrix.out" 2>&1
check "matrix: predictions met, exit 0" test $? -eq 0
check "matrix: three pairs, two attempts each" test "$(wc -l <"$tmp/matrix/results.jsonl")" -eq 6
check "matrix: symmetric x symmetric expected relayed" grep -q '"scenario":"mx-sym-sym".*"expected":"relayed"' "$tmp/matrix/results.jsonl"
check "matrix: the report ran, or its absence was said" \
    sh -c "test -e '$tmp/matrix/report.html' || grep -q \"no 'natlab report' in this build\" '$tmp/matrix.out'"
interruptible env FAKE_AGENT_MODE="*=direct" "$NATLAB" matrix --nats full-cone,symmetric --repeat 1 --out "$tmp/matrix2" -j 3 >"$tmp/matrix2.out" 2>&1
check "matrix: a relayed prediction missed, exit 1" test $? -eq 1
check "matrix: ...explained" grep -q 'FAIL mx-sym-sym: outcome = relayed: 0 of 1 attempts were relayed: #1 direct' "$tmp/matrix2.out"
check "nothing left behind at the end" test "$(leftovers)" -eq 0

finish
