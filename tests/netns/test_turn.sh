#!/bin/sh
# natlab's TURN client (agent/turn) against coturn, RFC 8656: an allocation
# from behind every translating preset, udp-blocked and corporate, over UDP
# and over TCP (port 3478, and 443 where only 80/443 may leave), data through
# the relay to an echoing peer; wrong credentials and a wrong realm give
# their reasons. Then natlab's agent with --turn: two agents behind
# symmetric NATs (no direct path) relay through their coturn allocations, over
# UDP and over TCP, a cone pair starts on TURN and punches beside it, a wrong
# password falls back to natlab's relay; coturn's per-allocation peer
# counters and the agents' events both show the relayed data; behind
# udp-blocked and corporate the agent reaches natlab server over TCP and
# relays through TURN. Root.
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
: >"$tmp/empty-password"
usage_errors agent "--server 198.19.1.1 --name a --turn 198.19.1.1 --turn-user u --turn-password-file $tmp/password listen" \
    "--server 198.19.1.1 --name a --turn turns:198.19.1.1 --turn-user u --turn-password-file $tmp/password listen" \
    "--server 198.19.1.1 --name a --turn turn:198.19.1.1:3478?transport=sctp --turn-user u --turn-password-file $tmp/password listen" \
    "--server 198.19.1.1 --name a --turn turn:198.19.1.1:0 --turn-user u --turn-password-file $tmp/password listen" \
    "--server 198.19.1.1 --name a --turn turn:198.19.1.1 listen" \
    "--server 198.19.1.1 --name a --turn turn:198.19.1.1 --turn-user u --turn-password-file $tmp/nonexistent listen" \
    "--server 198.19.1.1 --name a --turn turn:198.19.1.1 --turn-user u --turn-password-file $tmp/empty-password listen"
"$NATLAB" agent --server 198.19.1.1 --name a --turn "turn:198.19.1.1:3478?transport=sctp" --turn-user u \
    --turn-password-file "$tmp/password" listen 2>"$tmp/err"
check "a bad --turn names the flag, the value and the form" \
    grep -q "^natlab agent: --turn 'turn:198.19.1.1:3478?transport=sctp': .*; expected turn:HOST:PORT\[?transport=udp|tcp\]" "$tmp/err"
"$NATLAB" agent --server 198.19.1.1 --name a --turn turn:198.19.1.1 --turn-user u \
    --turn-password-file "$tmp/empty-password" listen 2>"$tmp/err"
check "an empty --turn-password-file names its path" grep -q "$tmp/empty-password: empty" "$tmp/err"
# The peers coturn relays to: the lab's public addresses only (no open relay).
peers="--denied-peer-ip=0.0.0.0-255.255.255.255 --allowed-peer-ip=198.18.0.0-198.19.255.255"
presets="full-cone restricted-cone port-restricted-cone symmetric symmetric-sequential home-router cgnat udp-blocked corporate"
# Two coturns: 3478 (UDP and TCP) and 443 (TCP, for the corporate firewall);
# -c with an empty file: Debian's default config is not ours.
turn_cmd() { # PORT MIN MAX
    echo "turnserver -c $tmp/empty.conf -L \$NATLAB_ADDRESS_1 --relay-ip \$NATLAB_ADDRESS_1 -p $1 --min-port $2 --max-port $3 $peers -a -u natlab:$(cat "$tmp/password") -r natlab --no-cli --no-tls --no-dtls --log-file $tmp/t$1.log --simple-log -v --pidfile $tmp/t$1.pid"
}
{
    printf '[scenario]\nname = %s\n' $scn
    printf '[host turn]\nrun = %s & exec %s\n' "$(turn_cmd 3478 49152 57000)" "$(turn_cmd 443 57001 65535)"
    printf '[host echo]\nrun = exec python3 %s/tests/netns/udp_tool.py echo 0.0.0.0 7000\n' "$SRC"
    for p in $presets; do printf '[nat %s]\npreset = %s\n[host %s]\nnat = %s\n' "n-$p" "$p" "h-$p" "n-$p"; done
    printf '[nat n-sym2]\npreset = symmetric\n[host h-sym2]\nnat = n-sym2\n'
    # shellcheck disable=SC2016 # natlab up expands $NATLAB_ADDRESS_*
    printf '[host srv]\naddresses = 2\nrun = exec %s server --address $NATLAB_ADDRESS_1 --alt-address $NATLAB_ADDRESS_2 --ready-file %s/srv.ready\n' "$NATLAB" "$tmp"
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

# ---- natlab agent --turn: the relay path through coturn ----------------------
events="$SRC/tests/netns/agent_events.py"
check "natlab server ready" wait_for 10 test -s "$tmp/srv.ready"
server=$(addr srv):3478
n=0
# agent TAG LISTEN_HOST CONNECT_HOST TURN_URI [PASSWORD_FILE]: a listener and a
# connector (5 messages) with --turn; events in $tmp/TAG.l and $tmp/TAG.c,
# the connector's exit status in $rc.
agent() {
    tag=$1 lhost=$2 chost=$3 uri=$4 pwf=${5:-$tmp/password}
    n=$((n + 1))
    # shellcheck disable=SC2086 # agent_flags is words or none
    set -- --server "$server" --turn "$uri" --turn-user natlab --turn-password-file "$pwf" --json ${agent_flags:-}
    "$NATLAB" exec $scn "$lhost" -- "$NATLAB" agent "$@" --name "l$n" listen --once >"$tmp/$tag.l" 2>"$tmp/$tag.l.err" &
    lpid=$!
    wait_for 20 grep -q '"registered"' "$tmp/$tag.l" || fail "$tag: the listener never registered: $(cat "$tmp/$tag.l.err")"
    "$NATLAB" exec $scn "$chost" -- "$NATLAB" agent "$@" --name "c$n" --timeout 30s connect "l$n" --send 5 \
        >"$tmp/$tag.c" 2>"$tmp/$tag.c.err"
    rc=$?
    wait_for 5 sh -c "! kill -0 $lpid 2>/dev/null" || kill "$lpid" 2>/dev/null
    wait "$lpid" 2>/dev/null
}
field() { python3 "$events" "$tmp/$1" "done" "$2"; }
first() { python3 "$events" "$tmp/$1" first "$2" "$3"; }
# peer_usage LOG MAPPED: coturn's relay counters ("peer usage": packets to and
# from peers) of the allocation made from MAPPED, once it was deallocated.
peer_usage() {
    python3 - "$1" "$2" <<'PY'
import re, sys
log, mapped = open(sys.argv[1], errors="replace").read(), sys.argv[2]
ids = re.findall(r"session (\d+): closed .* remote " + re.escape(mapped) + r",", log)
for sid in ids:
    m = re.search(r"session " + sid + r": peer usage: .*rp=(\d+), rb=\d+, sp=(\d+)", log)
    if m and int(m.group(1)) > 0 and int(m.group(2)) > 0:
        print(f"rp={m.group(1)} sp={m.group(2)}")
        sys.exit(0)
sys.exit(1)
PY
}
has_peer_usage() { peer_usage "$@" >/dev/null; }
# relayed_by_turn TAG LOG: every message delivered over TURN, by both
# agents' events and coturn's counters for the connector's allocation.
relayed_by_turn() {
    tag=$1 log=$2
    sent=$(field "$tag.c" sent) delivered=$(field "$tag.c" delivered)
    check "$tag: exit 0, $delivered/$sent delivered" test "$rc" -eq 0 -a "$sent" = "$delivered" -a "$sent" -gt 0
    check "$tag: both allocated on coturn" test "$(first "$tag.c" turn-allocated relayed | cut -d: -f1)" = "$turn_ip" \
        -a "$(first "$tag.l" turn-allocated relayed | cut -d: -f1)" = "$turn_ip"
    check "$tag: the peer's relayed address is a relay candidate" grep -q '"type":"relay"' "$tmp/$tag.c"
    check "$tag: messages through TURN both ways ($(field "$tag.c" turn_sent) sent, $(field "$tag.c" turn_received) received)" \
        test "$(field "$tag.c" turn_sent)" -gt 0 -a "$(field "$tag.c" turn_received)" -gt 0
    mapped=$(first "$tag.c" turn-allocated mapped)
    wait_for 10 has_peer_usage "$log" "$mapped"
    check "$tag: coturn relayed for $mapped (peer usage $(peer_usage "$log" "$mapped"))" has_peer_usage "$log" "$mapped"
}

for transport in udp tcp; do
    uri="turn:$turn_ip:3478?transport=$transport"
    # Two symmetric NATs: no direct path, the session stays on TURN.
    agent "sym-$transport" h-sym2 h-symmetric "$uri"
    relayed_by_turn "sym-$transport" "$tmp/t3478.log"
    # (In the cone pair the peer may hear the first message direct: the
    # session reaches it through the server while the data takes coturn.)
    check "sym-$transport: the listener's first byte came through TURN" test "$(first "sym-$transport.l" first-byte relay)" = turn
    check "sym-$transport: relayed through TURN to the end" test "$(field "sym-$transport.c" path)" = relay \
        -a "$(field "sym-$transport.c" relay)" = turn
    check "sym-$transport: allocated over $transport" test "$(first "sym-$transport.c" turn-allocated transport)" = "$transport"
    # A cone pair: TURN carries the first bytes, punching moves them direct.
    agent "cone-$transport" h-port-restricted-cone h-full-cone "$uri"
    relayed_by_turn "cone-$transport" "$tmp/t3478.log"
    check "cone-$transport: direct beside TURN ($(field "cone-$transport.c" technique))" \
        test "$(field "cone-$transport.c" path)" = direct
done

# Behind every translating preset (the listener behind a symmetric NAT):
# both allocate, TURN carries data, every message arrives, over UDP and TCP.
# Punching is beside the point here: it gives up after 2 s, not 10.
agent_flags="--punch-timeout 2s"
i=0
for p in full-cone restricted-cone port-restricted-cone symmetric symmetric-sequential home-router cgnat; do
    i=$((i + 1))
    transport=udp
    [ $((i % 2)) -eq 0 ] && transport=tcp
    agent "every-$p" h-sym2 "h-$p" "turn:$turn_ip:3478?transport=$transport"
    sent=$(field "every-$p.c" sent) delivered=$(field "every-$p.c" delivered)
    check "$p (TURN over $transport): exit $rc, $delivered/$sent delivered, $(field "every-$p.c" path) at the end, $(field "every-$p.c" turn_sent) through TURN" \
        test "$rc" -eq 0 -a "$sent" = "$delivered" -a "$sent" -gt 0 -a "$(field "every-$p.c" turn_sent)" -gt 0 \
        -a "$(first "every-$p.c" turn-allocated transport)" = "$transport"
done

agent_flags=
# A wrong password: the reason, and natlab's relay carries the session.
agent wrong h-sym2 h-symmetric "turn:$turn_ip:3478" "$tmp/wrong"
check "wrong TURN password: delivered anyway (exit $rc)" test "$rc" -eq 0
check "wrong TURN password: the reason in turn-failed" \
    sh -c "python3 '$events' '$tmp/wrong.c' first turn-failed reason | grep -q 'wrong username or password'"
check "wrong TURN password: natlab's relay" test "$(field wrong.c relay)" = natlab -a "$(field wrong.c path)" = relay

# Behind udp-blocked and corporate (TCP 80 and 443 only) the allocation goes
# over TCP and natlab server is reached over TCP too (3478 for udp-blocked,
# 443 for corporate): the session runs through TURN from the blocked side.
for p in udp-blocked corporate; do
    port=3478
    [ $p = corporate ] && port=443
    agent "blk-$p" h-sym2 "h-$p" "turn:$turn_ip:$port?transport=tcp"
    check "$p: exit $rc, $(field "blk-$p.c" delivered)/$(field "blk-$p.c" sent) delivered" \
        test "$rc" -eq 0 -a "$(field "blk-$p.c" delivered)" = "$(field "blk-$p.c" sent)"
    check "$p: allocated over TCP $port" test "$(first "blk-$p.c" turn-allocated transport)" = tcp
    check "$p: natlab server over TCP" test "$(first "blk-$p.c" registered transport)" = tcp
    check "$p: relayed through TURN ($(field "blk-$p.c" turn_sent) sent)" \
        test "$(field "blk-$p.c" relay)" = turn -a "$(field "blk-$p.c" turn_sent)" -gt 0
done

# The connector's NAT reboots 3 s into a session relayed through TURN: its
# TURN socket's mapping is gone, coturn answers the Refresh from the new
# 5-tuple with 437, and the agent allocates again and carries on through it.
set -- --server "$server" --turn "turn:$turn_ip:3478" --turn-user natlab --turn-password-file "$tmp/password" --json
"$NATLAB" exec $scn h-sym2 -- "$NATLAB" agent "$@" --name lre listen --once >"$tmp/re.l" 2>"$tmp/re.l.err" &
lpid=$!
wait_for 20 grep -q '"registered"' "$tmp/re.l" || fail "realloc: the listener never registered: $(cat "$tmp/re.l.err")"
"$NATLAB" exec $scn h-symmetric -- "$NATLAB" agent "$@" --name cre --timeout 40s connect lre \
    --hold 14s --interval 200ms >"$tmp/re.c" 2>"$tmp/re.c.err" &
cpid=$!
check "realloc: the first echo came through TURN" wait_for 10 sh -c "grep '\"first-byte\"' '$tmp/re.c' | grep -q '\"relay\":\"turn\"'"
"$NATLAB" control $scn n-symmetric reboot >/dev/null
check "realloc: the NAT rebooted" test $? -eq 0
wait "$cpid"
rc=$?
wait_for 5 sh -c "! kill -0 $lpid 2>/dev/null" || kill "$lpid" 2>/dev/null
wait "$lpid" 2>/dev/null
check "realloc: exit $rc, $(field re.c delivered)/$(field re.c sent) delivered" \
    test "$rc" -eq 0 -a "$(field re.c delivered)" = "$(field re.c sent)" -a "$(field re.c sent)" -gt 40
check "realloc: allocated twice ($(python3 "$events" "$tmp/re.c" count turn-allocated)), the second after a 437" \
    sh -c "[ \"\$(python3 '$events' '$tmp/re.c' count turn-allocated)\" = 2 ] &&
           grep '\"turn-allocated\"' '$tmp/re.c' | tail -1 | grep -q '437'"
check "realloc: relayed through TURN to the end ($(field re.c relay))" \
    test "$(field re.c path)" = relay -a "$(field re.c relay)" = turn
finish
