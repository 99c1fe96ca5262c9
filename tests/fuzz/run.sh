#!/bin/sh
# Runs every libFuzzer harness in BUILD_DIR for SECONDS each, over a scratch
# copy of its seed corpus (the checked-in seeds stay as they are). Exits
# non-zero when a harness crashes; the reproducer is left in BUILD_DIR/fuzz-out.
# usage: tests/fuzz/run.sh BUILD_DIR SECONDS
set -u
if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 64
fi
build=$1
seconds=$2
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib.sh
. "$here/../lib.sh"
if [ ! -d "$build" ]; then
    fail "no build directory '$build'"
    finish
fi
out=$build/fuzz-out
mkdir -p "$out"

# fuzz_one NAME FUZZER WORK: one harness; its verdict in WORK.verdict.
fuzz_one() {
    log=$out/fuzz_$1.log
    dict=
    [ -f "$here/fuzz_$1.dict" ] && dict=-dict=$here/fuzz_$1.dict
    if "$2" -max_total_time="$seconds" -print_final_stats=1 ${dict:+"$dict"} \
        -artifact_prefix="$out/fuzz_$1-" "$3" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        echo "pass fuzz_$1: ${runs:-?} runs in ${seconds}s, $(find "$3" -type f | wc -l) corpus entries" >"$3.verdict"
    else
        echo "fail fuzz_$1 crashed; log $log, reproducer $out/fuzz_$1-*" >"$3.verdict"
    fi
}

# Harnesses run side by side, one per CPU (FUZZ_JOBS to change), each for
# SECONDS: the same fuzzing per harness in less wall time.
jobs=${FUZZ_JOBS:-$(nproc)}
batch=
report() {
    for w in $batch; do
        read -r verdict text <"$w.verdict"
        if [ "$verdict" = pass ]; then pass "$text"; else
            fail "$text"
            tail -n 40 "$out/${text%% *}.log"
        fi
        rm -rf "$w" "$w.verdict"
    done
    batch=
}
for corpus in "$here"/corpus/*/; do
    name=$(basename "$corpus")
    fuzzer=$(find "$build" -type f -name "fuzz_$name" -perm -u+x | head -n 1)
    if [ -z "$fuzzer" ]; then
        fail "fuzz_$name: no binary under $build (configure with -DNATLAB_FUZZ=ON)"
        continue
    fi
    scratch "fuzz-$name"
    cp "$corpus"* "$tmp"/ 2>/dev/null
    fuzz_one "$name" "$fuzzer" "$tmp" &
    batch="$batch $tmp"
    if [ "$(echo $batch | wc -w)" -ge "$jobs" ]; then
        wait
        report
    fi
done
wait
report
finish
