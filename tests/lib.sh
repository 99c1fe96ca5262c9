# The one helper library of the shell tests, sourced by every tests/**/*.sh:
# PASS:/FAIL: lines and their counts, the tools a test needs, and one trap
# discipline. On EXIT, INT and TERM alike the test's leftovers go: its
# children, the scenarios it registered, the namespaces and /run/natlab
# state under its prefixes, its scratch directory. INT exits 130, TERM 143.
# KEEP=1 keeps the topologies and scratch directories (for debugging; says where).
# shellcheck shell=sh

passes=0
failures=0
pass() { passes=$((passes + 1)); echo "PASS: $*"; }
# on_fail, when a test defines it, runs after each FAIL line (to dump state).
fail() {
    failures=$((failures + 1))
    echo "FAIL: $*"
    if command -v on_fail >/dev/null 2>&1; then on_fail; fi
    return 0
}
# check DESCRIPTION COMMAND...: PASS when COMMAND succeeds. With check_log set
# to a file, COMMAND's output goes there and is shown only on failure.
check() {
    lib_what=$1
    shift
    if [ -n "${check_log:-}" ]; then
        if "$@" >"$check_log" 2>&1; then pass "$lib_what"; else
            sed 's/^/    /' "$check_log"
            fail "$lib_what"
        fi
    elif "$@"; then pass "$lib_what"; else fail "$lib_what"; fi
}
# finish: the counts, and the exit status (0 only without failures).
finish() {
    echo "$passes passed, $failures failed"
    [ "$failures" -eq 0 ] && exit 0
    exit 1
}

# ---- what a test needs -------------------------------------------------------

# need_root WHAT: after the tests that need no root, skip (77) the rest without it.
need_root() {
    [ "$(id -u)" -eq 0 ] && return 0
    echo "$passes passed, $failures failed"
    [ "$failures" -eq 0 ] || exit 1
    echo "SKIP: $1 need root (network namespaces)"
    exit 77
}
# The Debian package behind a command (scripts/install-deps installs them all).
package_of() {
    case $1 in
    turnserver | turnutils_*) echo coturn ;;
    stun) echo stun-client ;;
    gnuplot) echo gnuplot-nox ;;
    ip | ss) echo iproute2 ;;
    pgrep | pkill) echo procps ;;
    ping) echo iputils-ping ;;
    tracepath) echo iputils-tracepath ;;
    *) echo "$1" ;;
    esac
}
# need TOOL...: a FAIL line (naming the package) for each one missing; false
# if any is. A missing tool fails a test: it never passes or skips silently.
need() {
    lib_ok=0
    for lib_tool in "$@"; do
        command -v "$lib_tool" >/dev/null 2>&1 && continue
        fail "$lib_tool is missing: apt-get install $(package_of "$lib_tool") (scripts/install-deps installs it)"
        lib_ok=1
    done
    return $lib_ok
}
# need_or_exit TOOL...: as need, then exit 1 with the counts if any is missing.
need_or_exit() { need "$@" || finish; }

# ---- the natlab tests ---------------------------------------------------------

# usage_errors SUBCOMMAND "ARGS"...: each argument list is a usage error (exit 64).
usage_errors() {
    ue_cmd=$1
    shift
    for ue_args in "$@"; do
        # shellcheck disable=SC2086 # the words are the arguments
        "$NATLAB" "$ue_cmd" $ue_args >/dev/null 2>&1
        check "natlab $ue_cmd $ue_args: usage error (64)" test $? -eq 64
    done
}

# down: takes down the scenario in $up_scenario (set by the test's own `up`).
down() {
    "$NATLAB" down "$up_scenario" >/dev/null 2>&1 || fail "$up_scenario: natlab down"
    up_scenario=
}

# What third-party clients report behind each preset (against coturn):
# preset | natdiscovery mapping | filtering | hairpin (yes/no) | stun exit status
# shellcheck disable=SC2034 # read by test_interop.sh and test_server.sh
CLIENT_EXPECTATIONS='full-cone|Endpoint Independent Mapping|Endpoint Independent Filtering|yes|3
restricted-cone|Endpoint Independent Mapping|Address Dependent Filtering|yes|5
port-restricted-cone|Endpoint Independent Mapping|Address and Port Dependent Filtering|yes|7
symmetric|Address and Port Dependent Mapping|Address and Port Dependent Filtering|no|24
symmetric-sequential|Address and Port Dependent Mapping|Address and Port Dependent Filtering|no|24
home-router|Endpoint Independent Mapping|Address and Port Dependent Filtering|yes|7
no-nat|No NAT|Endpoint Independent Filtering|yes|1'

# check_clients SCENARIO HOST_IP STUN_IP PRESET MAPPING FILTERING HAIRPIN STUN_STATUS OUTDIR
# Runs natdiscovery -m -f -H and the classic stun client from host alice and
# checks their verdicts against one row of CLIENT_EXPECTATIONS.
check_clients() {
    cc_out=$9/$1.natdiscovery
    "$NATLAB" exec "$1" alice -- turnutils_natdiscovery -m -f -H -L "$2" "$3" >"$cc_out" 2>&1
    case "$5" in
    "No NAT") check "$4: natdiscovery -m says no NAT" grep -q "No NAT!" "$cc_out" ;;
    *) check "$4: natdiscovery -m says $5" grep -q "NAT with $5!" "$cc_out" ;;
    esac
    if [ "$4" = no-nat ]; then
        check "$4: natdiscovery -f says open (no filtering)" grep -q "Endpoint Independent Filtering" "$cc_out"
    else
        check "$4: natdiscovery -f says $6" grep -q "NAT with $6!" "$cc_out"
    fi
    if [ "$7" = yes ]; then
        check "$4: natdiscovery -H sees hairpinning" grep -q "successful hairpinning" "$cc_out"
    else
        check "$4: natdiscovery -H sees no hairpinning" sh -c "! grep -q 'successful hairpinning' '$cc_out'"
    fi
    "$NATLAB" exec "$1" alice -- stun "$3" >"$9/$1.stun" 2>&1
    cc_status=$?
    if [ "$cc_status" -eq "$8" ]; then
        pass "$4: classic stun client exit status $cc_status ($(grep -m1 'Primary' "$9/$1.stun" | tr -d '\t'))"
    else
        fail "$4: classic stun client exit status $cc_status, expected $8: $(grep -m1 'Primary' "$9/$1.stun")"
    fi
}

# ---- waiting -----------------------------------------------------------------

# wait_for SECONDS COMMAND...: polls (busy, with a deadline) until COMMAND
# succeeds; false at the deadline. No sleeping on a guess.
wait_for() {
    lib_deadline=$(($(date +%s%N) + $1 * 1000000000))
    shift
    until "$@"; do
        [ "$(date +%s%N)" -lt "$lib_deadline" ] || return 1
        sleep 0.02
    done
}

# interruptible COMMAND...: runs COMMAND as a child the signal traps can reach
# at once (a foreground child would delay them until it exits); its status.
# On INT/TERM the signal is passed on and the child given 30 s to clean up.
lib_child=
interruptible() {
    "$@" &
    lib_child=$!
    wait "$lib_child"
    lib_status=$?
    lib_child=
    return $lib_status
}

# ---- what the test made, and the one cleanup ---------------------------------

# fd 9: the test's own stdout, for the word from a signal trap (which may run
# inside a function whose output is redirected, such as interruptible's).
exec 9>&1
lib_tmp=
lib_scenarios=
lib_prefixes=
# scratch NAME: a new scratch directory (removed at exit), in $tmp.
# results_rows DIR PYTHON: the rows of DIR/results.jsonl as `rows` (a dict by
# scenario, the last row of each) satisfy PYTHON.
results_rows() {
    python3 - "$1/results.jsonl" "$2" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    rows[r["scenario"]] = r
exec(sys.argv[2])
PY
}
scratch() { tmp=$(mktemp -d "${TMPDIR:-/tmp}/natlab-$1.XXXXXX") && lib_tmp="$lib_tmp $tmp"; }
# owns_scenario NAME: take the topology NAME down at exit (natlab down).
owns_scenario() { lib_scenarios="$lib_scenarios $1"; }
# owns_prefix PREFIX: at exit, every topology and namespace named
# natlab-PREFIX* is this test's (natlab run's workers, say) and goes.
owns_prefix() { lib_prefixes="$lib_prefixes $1"; }
# at_cleanup FUNCTION: the test's own leftovers; runs first.
lib_hooks=
at_cleanup() { lib_hooks="$lib_hooks $1"; }

lib_cleanup() {
    lib_rc=$?
    trap - EXIT
    trap '' INT TERM # the cleanup runs to its end (it is bounded)
    # Children first: a background agent or `natlab exec` of ours.
    pkill -TERM -P $$ 2>/dev/null
    if [ -n "${KEEP:-}" ]; then
        echo "KEEP: left $lib_tmp${lib_scenarios:+, scenarios$lib_scenarios}${lib_prefixes:+, prefixes$lib_prefixes}"
        return $lib_rc
    fi
    for lib_f in $lib_hooks; do "$lib_f"; done
    if [ -n "${NATLAB:-}" ] && [ "$(id -u)" -eq 0 ]; then
        for lib_s in $lib_scenarios ${up_scenario:-}; do "$NATLAB" down "$lib_s" >/dev/null 2>&1; done
        for lib_p in $lib_prefixes; do
            for lib_d in /run/natlab/natlab-"$lib_p"*; do
                [ -d "$lib_d" ] && "$NATLAB" down "${lib_d#/run/natlab/natlab-}" >/dev/null 2>&1
            done
            for lib_ns in $(ip netns list 2>/dev/null | awk -v p="natlab-$lib_p" 'index($1, p) == 1 {print $1}'); do
                for lib_pid in $(ip netns pids "$lib_ns" 2>/dev/null); do kill -9 "$lib_pid" 2>/dev/null; done
                ip netns del "$lib_ns" 2>/dev/null
            done
        done
    fi
    for lib_d in $lib_tmp; do rm -rf "$lib_d"; done
    return $lib_rc
}
lib_signal() { # lib_signal NAME STATUS
    trap '' INT TERM
    echo "FAIL: interrupted by SIG$1; cleaning up" >&9
    if [ -n "$lib_child" ]; then
        kill "-$1" "$lib_child" 2>/dev/null
        lib_i=0
        while kill -0 "$lib_child" 2>/dev/null && [ $lib_i -lt 300 ]; do
            sleep 0.1 # its own cleanup (bounded)
            lib_i=$((lib_i + 1))
        done
        kill -9 "$lib_child" 2>/dev/null
    fi
    exit "$2"
}
trap lib_cleanup EXIT
trap 'lib_signal INT 130' INT
trap 'lib_signal TERM 143' TERM
