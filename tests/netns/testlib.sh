# Sourced by the namespace tests: PASS:/FAIL: lines and their counts.
# shellcheck shell=sh
passes=0
failures=0
pass() { passes=$((passes + 1)); echo "PASS: $*"; }
fail() { failures=$((failures + 1)); echo "FAIL: $*"; }
# need_root WHAT: after the tests that need no root, skip (77) the rest without it.
need_root() {
    [ "$(id -u)" -eq 0 ] && return 0
    echo "$passes passed, $failures failed"
    [ "$failures" -eq 0 ] || exit 1
    echo "SKIP: $1 need root (network namespaces)"
    exit 77
}
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
check() { # check DESCRIPTION COMMAND...
    what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

# What third-party clients report behind each preset (against coturn):
# preset | natdiscovery mapping | filtering | hairpin (yes/no) | stun exit status
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

# Takes down the scenario in $up_scenario (set by the test's own `up`).
down() {
    "$NATLAB" down "$up_scenario" >/dev/null 2>&1 || fail "$up_scenario: natlab down"
    up_scenario=
}
