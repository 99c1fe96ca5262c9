#!/bin/sh
# natlab report end to end: two shards of synthetic results -> one report;
# its files, its numbers against the generator's own, merging, error
# messages, and the page rendered in headless Chromium (every figure loaded,
# nothing broken). Chromium runs with a fresh profile, its background
# networking off and, when we may, in a network namespace with no link at
# all, so it cannot reach any host.
# usage: tests/report/test_report.sh NATLAB
set -u

if [ $# -ne 1 ]; then
    echo "usage: $0 NATLAB" >&2
    exit 64
fi
natlab=$1
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib.sh
. "$here/../lib.sh"
need_or_exit gnuplot chromium python3
scratch report

# On a FAIL: what the last command said.
on_fail() {
    for f in "$tmp/out.txt" "$tmp/err.txt"; do
        [ -s "$f" ] && sed "s|^|    $(basename "$f"): |" "$f" | head -n 15
    done
    return 0
}
run() {
    "$natlab" "$@" </dev/null >"$tmp/out.txt" 2>"$tmp/err.txt"
    rc=$?
}
check_log=$tmp/check.txt # check shows its command's output only on failure
# expect_error WHAT TEXT: the last run failed (not as a usage error) and said TEXT.
expect_error() {
    if grep -q "Sanitizer" "$tmp/err.txt"; then
        fail "$1: the sanitizers complained"
    elif [ "$rc" -ne 0 ] && [ "$rc" -ne 64 ] && grep -qF -- "$2" "$tmp/err.txt"; then
        pass "$1 (exit $rc)"
    else
        fail "$1: exit $rc, want an error saying '$2'"
    fi
}
py() { python3 "$here/check_report.py" "$@"; }

python3 "$here/gen_results.py" "$tmp/runs" 2 8 7 || { fail "generator"; finish; }
s1=$tmp/runs/shard-1
s2=$tmp/runs/shard-2

# Two shards, one report.
run report "$s1" "$s2" --out "$tmp/report"
if [ "$rc" -eq 0 ] && grep -qF "$tmp/report/report.html" "$tmp/out.txt"; then
    pass "report from two shards (exit 0, names the page)"
else
    fail "report from two shards: exit $rc"
fi
check "every file there; PNGs are PNG, SVGs parse" py files "$tmp/report"
check "summary.json: counts, rates, p50/p95 as the generator made them" \
    py expected "$tmp/report" "$tmp/runs/expected.json"
check "report.html: every local link and image exists, nothing loaded from outside" \
    py links "$tmp/report"

# Shards merge to what one file of every line gives.
mkdir -p "$tmp/runs/all"
cat "$s1/results.jsonl" "$s2/results.jsonl" >"$tmp/runs/all/results.jsonl"
run report "$tmp/runs/all"
if [ "$rc" -eq 0 ] && [ -f "$tmp/runs/all/report.html" ]; then
    pass "default output directory is the first DIR"
else
    fail "report into the first DIR: exit $rc"
fi
check "two shards and their concatenation give the same numbers" \
    py same "$tmp/report" "$tmp/runs/all"
run report "$s1" "$s2" --out "$tmp/again"
check "the same input gives the same summary.json and report.html" \
    sh -c "cmp '$tmp/report/summary.json' '$tmp/again/summary.json' &&
           cmp '$tmp/report/report.html' '$tmp/again/report.html'"
check "the same input gives the same figures (no scratch path in the SVGs)" \
    sh -c "for f in heatmap ttd-cdf techniques; do
               cmp '$tmp/report/'\$f.svg '$tmp/again/'\$f.svg || exit 1
           done"

check "natlab's rows alone: summary.json has no kinds, the page no kinds section" \
    sh -c "! grep -q '\"kinds\"' '$tmp/report/summary.json' &&
           ! grep -q 'id=\"kinds\"' '$tmp/report/report.html'"

# Two agent kinds in two shards: a heatmap each, the pairs by kind, where they differ.
python3 "$here/gen_results.py" "$tmp/kinds" 2 8 7 natlab,libnice || fail "generator (kinds)"
run report "$tmp/kinds/shard-1" "$tmp/kinds/shard-2" --out "$tmp/kreport"
if [ "$rc" -eq 0 ]; then pass "report of two kinds (exit 0)"; else fail "report of two kinds: exit $rc"; fi
check "two kinds: a heatmap per kind, the other figures; PNGs are PNG, SVGs parse" \
    py files "$tmp/kreport" heatmap-natlab heatmap-libnice ttd-cdf techniques
check "two kinds: each kind's pairs, versions, heatmap titles, the differing pairs" \
    py kinds "$tmp/kreport" "$tmp/kinds/expected-kinds.json"
check "two kinds: every pair over both kinds as the generator made them" \
    py expected "$tmp/kreport" "$tmp/kinds/expected.json"
check "two kinds: every local link and image exists" py links "$tmp/kreport"
run report "$tmp/kinds/shard-2" "$tmp/kinds/shard-1" --out "$tmp/kagain"
check "two kinds: shards in the other order give the same numbers" \
    py same "$tmp/kreport" "$tmp/kagain"

# A population file of one's own.
printf '[about]\nname = all symmetric\n[weights]\nsymmetric = 1\n' >"$tmp/sym.pop"
run report "$s1" "$s2" --out "$tmp/sym" --population "$tmp/sym.pop"
check "--population FILE: the model and its estimate change" \
    python3 -c "
import json, sys
s = json.load(open('$tmp/sym/summary.json'))
p = [x for x in s['pairs'] if x['pair'] == 'symmetric/symmetric'][0]
ok = s['population']['model'] == 'all symmetric' and \
     abs(s['population']['expected_direct_rate'] - p['direct_rate']) < 1e-4 and \
     abs(s['population']['coverage'] - 1) < 1e-9
sys.exit(0 if ok else 1)"

# Bad input: FILE:LINE, what is wrong, non-zero exit; nothing half-written.
mkdir -p "$tmp/bad"
sed '5s/"outcome": "[a-z]*"/"outcome": "sideways"/' "$s1/results.jsonl" >"$tmp/bad/results.jsonl"
run report "$s2" "$tmp/bad" --out "$tmp/badout"
expect_error "malformed line: FILE:LINE and why" "$tmp/bad/results.jsonl:5: \"outcome\" is \"sideways\""
check "no report written after an error" test ! -e "$tmp/badout/report.html"
lines=$(wc -l <"$s1/results.jsonl")
head -c "$(($(wc -c <"$s1/results.jsonl") - 40))" "$s1/results.jsonl" >"$tmp/bad/results.jsonl"
run report "$tmp/bad" --out "$tmp/badout"
expect_error "cut-short last line" "$tmp/bad/results.jsonl:$lines: not valid JSON"
sed '3s/.*/["not", "an", "object"]/' "$s1/results.jsonl" >"$tmp/bad/results.jsonl"
run report "$tmp/bad" --out "$tmp/badout"
expect_error "an array instead of an object" "$tmp/bad/results.jsonl:3: an array"
run report "$s1" "$tmp/nowhere"
expect_error "a directory that is not there" "$tmp/nowhere: No such file or directory"
run report "$s1" "$s1/" --out "$tmp/badout"
expect_error "the same shard twice" "given twice"
cp -r "$s1" "$tmp/copy"
run report "$s1" "$tmp/copy" --out "$tmp/badout"
expect_error "a copy of a shard" "the same attempt as"
printf '[weights]\nfull-cone = 1\nsymmetric = much\n' >"$tmp/bad.pop"
run report "$s1" --population "$tmp/bad.pop" --out "$tmp/badout"
expect_error "bad population file: FILE:LINE" "$tmp/bad.pop:3: [weights] symmetric = much"
run report
if [ "$rc" -eq 64 ]; then pass "no DIR: usage (exit 64)"; else fail "no DIR: exit $rc, want 64"; fi
run report "$s1" --colour
if [ "$rc" -eq 64 ]; then pass "unknown option: usage (exit 64)"; else fail "unknown option: exit $rc"; fi

# The page in a browser. A new empty profile each time; no background
# networking; inside a namespace without network when unshare works (root).
browse() { # browse OUTPUT_ARGS... -- URL
    profile=$(mktemp -d "$tmp/chromium.XXXXXX")
    set -- --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-dev-shm-usage --user-data-dir="$profile" --virtual-time-budget=10000 "$@"
    if [ "$isolate" = yes ]; then
        HOME=$profile timeout 60 unshare --net chromium "$@"
    else
        HOME=$profile timeout 60 chromium "$@"
    fi
}
isolate=no
unshare --net true 2>/dev/null && isolate=yes
echo "INFO: chromium $(chromium --version 2>/dev/null | awk '{print $2}'), network namespace: $isolate"
url="file://$tmp/report/report.html"
browse --dump-dom "$url" >"$tmp/dom.html" 2>"$tmp/err.txt"
check "chromium: the page's script ran, 3 figures loaded, nothing broken" \
    py dom "$tmp/dom.html" 3
browse --screenshot="$tmp/shot.png" --window-size=1280,3000 "$url" >/dev/null 2>"$tmp/err.txt"
check "chromium: a screenshot of the page" py png "$tmp/shot.png"
browse --dump-dom "file://$tmp/kreport/report.html" >"$tmp/dom-kinds.html" 2>"$tmp/err.txt"
check "chromium: two kinds' page, 4 figures loaded (a heatmap per kind), nothing broken" \
    py dom "$tmp/dom-kinds.html" 4
# The check itself must be able to fail: a figure taken away is seen.
cp -r "$tmp/report" "$tmp/broken"
rm "$tmp/broken/ttd-cdf.svg"
browse --dump-dom "file://$tmp/broken/report.html" >"$tmp/dom-broken.html" 2>"$tmp/err.txt"
if py dom "$tmp/dom-broken.html" 3 >"$tmp/check.txt" 2>&1; then
    fail "a missing figure went unnoticed"
elif grep -q "ttd-cdf.svg" "$tmp/check.txt"; then
    pass "a missing figure is reported ($(cat "$tmp/check.txt"))"
else
    fail "a missing figure: $(cat "$tmp/check.txt")"
fi

finish
