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
if [ ! -d "$build" ]; then
    echo "FAIL: no build directory '$build'"
    exit 1
fi
out=$build/fuzz-out
mkdir -p "$out"

status=0
for corpus in "$here"/corpus/*/; do
    name=$(basename "$corpus")
    fuzzer=$(find "$build" -type f -name "fuzz_$name" -perm -u+x | head -n 1)
    if [ -z "$fuzzer" ]; then
        echo "FAIL: fuzz_$name: no binary under $build (configure with -DNATLAB_FUZZ=ON)"
        status=1
        continue
    fi
    work=$(mktemp -d "${TMPDIR:-/tmp}/natlab-fuzz-$name.XXXXXX")
    cp "$corpus"* "$work"/ 2>/dev/null
    log=$out/fuzz_$name.log
    dict=
    [ -f "$here/fuzz_$name.dict" ] && dict=-dict=$here/fuzz_$name.dict
    if "$fuzzer" -max_total_time="$seconds" -print_final_stats=1 ${dict:+"$dict"} \
        -artifact_prefix="$out/fuzz_$name-" "$work" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        echo "PASS: fuzz_$name: ${runs:-?} runs in ${seconds}s, $(find "$work" -type f | wc -l) corpus entries"
    else
        echo "FAIL: fuzz_$name crashed; log $log, reproducer $out/fuzz_$name-*"
        tail -n 40 "$log"
        status=1
    fi
    rm -rf "$work"
done
exit $status
