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

for corpus in "$here"/corpus/*/; do
    name=$(basename "$corpus")
    fuzzer=$(find "$build" -type f -name "fuzz_$name" -perm -u+x | head -n 1)
    if [ -z "$fuzzer" ]; then
        fail "fuzz_$name: no binary under $build (configure with -DNATLAB_FUZZ=ON)"
        continue
    fi
    scratch "fuzz-$name"
    work=$tmp
    cp "$corpus"* "$work"/ 2>/dev/null
    log=$out/fuzz_$name.log
    dict=
    [ -f "$here/fuzz_$name.dict" ] && dict=-dict=$here/fuzz_$name.dict
    if "$fuzzer" -max_total_time="$seconds" -print_final_stats=1 ${dict:+"$dict"} \
        -artifact_prefix="$out/fuzz_$name-" "$work" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        pass "fuzz_$name: ${runs:-?} runs in ${seconds}s, $(find "$work" -type f | wc -l) corpus entries"
    else
        fail "fuzz_$name crashed; log $log, reproducer $out/fuzz_$name-*"
        tail -n 40 "$log"
    fi
    rm -rf "$work"
done
finish
