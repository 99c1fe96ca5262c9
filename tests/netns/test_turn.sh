#!/bin/sh
# natlab's TURN client (agent/turn) against coturn, RFC 8656: an allocation
# from behind every translating preset, udp-blocked and corporate, over UDP
# and over TCP (port 3478, and 443 where only 80/443 may leave), data through
# the relay to an echoing peer; wrong credentials and a wrong realm give
# their reasons. Root.
# usage: test_turn.sh NATLAB SOURCE_DIR
set -u
NATLAB=$(realpath "$1")
SRC=$(realpath "$2")
# shellcheck source=tests/lib.sh
. "$SRC/tests/lib.sh"
need_root "TURN against coturn"
need_or_exit turnserver python3

scratch turn
scn=turn-presets
owns_scenario $scn
: >"$tmp/empty.conf"
echo "turn-secret-$$" >"$tmp/password"
echo "not-the-password" >"$tmp/wrong"
presets="full-cone restricted-cone port-restricted-cone symmetric symmetric-sequential home-router cgnat udp-blocked corporate"
# Two coturns: 3478 (UDP and TCP) and 443 (TCP, for the corporate firewall);
# -c with an empty file: Debian's default config is not ours.
turn_cmd() { # PORT MIN MAX
    echo "turnserver -c $tmp/empty.conf -L \$NATLAB_ADDRESS_1 --relay-ip \$NATLAB_ADDRESS_1 -p $1 --min-port $2 --max-port $3 -a -u natlab:$(cat "$tmp/password") -r natlab --no-cli --no-tls --no-dtls --log-file stdout --simple-log --pidfile $tmp/t$1.pid"
}
{
    printf '[scenario]\nname = %s\n' $scn
    printf '[host turn]\nrun = %s & exec %s\n' "$(turn_cmd 3478 49152 57000)" "$(turn_cmd 443 57001 65535)"
    printf '[host echo]\nrun = exec python3 %s/tests/netns/udp_tool.py echo 0.0.0.0 7000\n' "$SRC"
    for p in $presets; do printf '[nat %s]\npreset = %s\n[host %s]\nnat = %s\n' "n-$p" "$p" "h-$p" "n-$p"; done
} >"$tmp/$scn.scn"
if ! "$NATLAB" up "$tmp/$scn.scn" --json >"$tmp/up.json" 2>"$tmp/up.err"; then
    cat "$tmp/up.err"
    fail "natlab up"
    finish
fi
addr() { python3 -c 'import json,sys
t=json.load(open(sys.argv[1])); print([h for h in t["hosts"] if h["name"]==sys.argv[2]][0]["addresses"][0])' "$tmp/up.json" "$1"; }
turn_ip=$(addr turn)
echo_ip=$(addr echo)
listening() { # both coturns bound: UDP 3478 (0D96), TCP 443 (01BB) listening
    "$NATLAB" exec $scn turn -- cat /proc/net/udp /proc/net/tcp >"$tmp/sockets" 2>/dev/null &&
        grep -q ':0D96 ' "$tmp/sockets" && grep -q ':01BB 00000000:0000 0A' "$tmp/sockets"
}
check "coturn listens" wait_for 10 listening

# probe HOST ARGS...: natlab turn from HOST; its JSON in $tmp/out, status in $rc.
probe() {
    host=$1
    shift
    "$NATLAB" exec $scn "$host" -- "$NATLAB" turn --user natlab --password-file "$tmp/password" \
        --peer "$echo_ip:7000" --send 5 --json "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
}
# json PYTHON: the last probe's JSON, as `d`, satisfies PYTHON.
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); $1" "$tmp/out"; }

for p in $presets; do
    case $p in
    udp-blocked | corporate)
        probe h-$p --server "$turn_ip:3478" --timeout 3s
        check "$p: UDP: no allocation (exit $rc), and why" json "assert d['outcome']=='failed' and d['relayed'] is None and d['error'], d"
        ;;
    *)
        probe h-$p --server "$turn_ip:3478"
        check "$p: UDP: relayed on the server, 5 of 5 echoed" json "assert d['outcome']=='ok' and d['relayed'].startswith('$turn_ip:') and d['echoed']==5 and d['realm']=='natlab', d"
        ;;
    esac
    if [ "$p" = corporate ]; then
        probe h-$p --server "$turn_ip:3478" --tcp --timeout 3s
        check "$p: TCP 3478 kept in by the allow-list (exit $rc)" test "$rc" -eq 1
        check "$p: the dropped SYNs end at --timeout, not the kernel's 2 min" \
            grep -q "no answer to the TCP connection (SYN) within the timeout" "$tmp/err"
        probe h-$p --server "$turn_ip:443" --tcp
    else
        probe h-$p --server "$turn_ip:3478" --tcp
    fi
    check "$p: TCP: relayed on the server, 5 of 5 echoed" json "assert d['outcome']=='ok' and d['transport']=='tcp' and d['echoed']==5, d"
done

"$NATLAB" exec $scn h-full-cone -- "$NATLAB" turn --server "$turn_ip:3478" --user natlab \
    --password-file "$tmp/wrong" >"$tmp/out" 2>"$tmp/err"
check "wrong password: exit 1" test $? -eq 1
check "wrong password: the reason" grep -q "refused our credentials (401 .* after authenticating as 'natlab' in realm 'natlab'): wrong username or password" "$tmp/err"
"$NATLAB" exec $scn h-full-cone -- "$NATLAB" turn --server "$turn_ip:3478" --user natlab \
    --password-file "$tmp/password" --realm corp.example --tcp >"$tmp/out" 2>"$tmp/err"
check "wrong realm: exit 1" test $? -eq 1
check "wrong realm: the reason" grep -q "the TURN server's realm is 'natlab', not the configured 'corp.example'" "$tmp/err"
"$NATLAB" exec $scn h-full-cone -- "$NATLAB" turn --server "$echo_ip:7001" --user natlab \
    --password-file "$tmp/password" >"$tmp/out" 2>"$tmp/err"
check "no TURN server there: exit 1, the port is closed" grep -q "port is closed" "$tmp/err"
finish
