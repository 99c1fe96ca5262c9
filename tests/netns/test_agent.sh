#!/bin/sh
# The punching agent in real namespaces behind natsim, against `natlab
# server` on a public host: the path each pair of NATs allows (punching,
# prediction, birthday probing, port mapping by PCP and by UPnP IGD, LAN
# discovery, hairpin, the relay), UDP blocked and a corporate firewall (natlab
# server over TCP, relayed; UDP coming back mid-session), a NAT reboot mid-session with
# and without a port mapping (PCP, UPnP), a mapping timeout shorter than the keepalive, 5% loss, a shared
# secret, and forged datagrams. Every attempt must deliver all its data.
# usage: test_agent.sh NATLAB   (root; exit 77 = skipped)
# NATLAB_TEST_QUICK=1: one attempt of each technique, UDP blocked, corporate, one reboot and the
# forged datagrams (the sanitizer pass of scripts/test). AGENT_LAN_REPEAT=N: the
# lan-shared attempt N times (default 1; a LAN path must never lose to the hairpin).
set -u
quick=${NATLAB_TEST_QUICK:-0}
full() { [ "$quick" != 1 ]; }
NATLAB=$(readlink -f "$1")
here=$(cd "$(dirname "$0")" && pwd)
events="$here/agent_events.py"

# shellcheck source=tests/lib.sh
. "$here/../lib.sh"

"$NATLAB" agent --help >/dev/null 2>&1
check "natlab agent --help: exit 0" test $? -eq 0
usage_errors agent "" "--server 198.19.1.1 listen" "--name a listen" "--server 198.19.1.1 --name a" \
    "--server 198.19.1.1 --name a connect" "--server 198.19.1.1:0 --name a listen" \
    "--server 198.19.1.1 --name a --keepalive 0s listen" "--server 198.19.1.1 --name a --frob listen" \
    "--server 198.19.1.1 --name a listen --send 3" "--server 198.19.1.1 --name a connect b --send 0" \
    "--server 198.19.1.1 --name a --secret /nonexistent listen"

need_root "the agent tests"
need_or_exit python3
scratch agent-test
up_scenario=

printf 'lab secret\n' >"$tmp/secret"
cat >"$tmp/agtest.scn" <<EOF
[scenario]
name = agtest
seed = 11
[nat fc]
preset = full-cone
[nat prc]
preset = port-restricted-cone
[nat seq]
preset = symmetric-sequential
[nat sym]
preset = symmetric
[nat sym2]
preset = symmetric
[nat pcp]
preset = symmetric
port-mapping = pcp
[nat upnp]
preset = symmetric
port-mapping = upnp
[nat owrt]
preset = openwrt
[nat cgn]
preset = cgnat
[nat blk]
preset = udp-blocked
[nat corp]
preset = corporate
[nat corp2]
preset = corporate
[nat corpr]
preset = corporate
refused = reject
[nat home]
preset = home-router
[nat stop]
preset = port-restricted-cone
[nat short]
preset = port-restricted-cone
timeout = 3s
[nat short2]
preset = home-router
timeout = 3s
timeout-unreplied = 3s
[nat lossy]
preset = port-restricted-cone
loss = 5%
[host a-fc]
nat = fc
[host a-prc]
nat = prc
[host a-seq]
nat = seq
[host a-sym]
nat = sym
[host a-sym2]
nat = sym2
[host a-pcp]
nat = pcp
[host a-upnp]
nat = upnp
[host a-owrt]
nat = owrt
[host a-cgn]
nat = cgn
[host a-blk]
nat = blk
[host a-corp]
nat = corp
[host a-corp2]
nat = corp2
[host a-corpr]
nat = corpr
[host a-stop]
nat = stop
[host h1]
nat = home
[host h2]
nat = home
[host a-short]
nat = short
[host a-short2]
nat = short2
[host a-lossy]
nat = lossy
[host srv]
addresses = 2
run = exec "$NATLAB" server --address \$NATLAB_ADDRESS_1 --alt-address \$NATLAB_ADDRESS_2 --ready-file \$NATLAB_STATE_DIR/srv.ready
[host srvs]
addresses = 2
run = exec "$NATLAB" server --address \$NATLAB_ADDRESS_1 --alt-address \$NATLAB_ADDRESS_2 --secret "$tmp/secret" --ready-file \$NATLAB_STATE_DIR/srvs.ready
EOF
up_scenario=agtest
"$NATLAB" up "$tmp/agtest.scn" --json >"$tmp/up.json" 2>"$tmp/up.err" || {
    fail "natlab up: $(cat "$tmp/up.err")"
    finish
}
state=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["state_dir"])' "$tmp/up.json")
addr() { python3 -c 'import json,sys
t = json.load(open(sys.argv[1]))
print([h for h in t["hosts"] if h["name"] == sys.argv[2]][0]["addresses"][0])' "$tmp/up.json" "$1"; }
server=$(addr srv):3478
server_s=$(addr srvs):3478
for f in srv srvs; do # readiness: each server writes its ready file once bound
    i=0
    while [ ! -s "$state/$f.ready" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
    check "server $f ready" test -s "$state/$f.ready"
done

# wait_registered FILE: the listener's registration, within 15 s (over TCP
# it follows 5 s of unanswered Bindings and maybe a 3 s connect timeout).
wait_registered() {
    i=0
    while ! grep -q '"registered"' "$1" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.05; i=$((i + 1)); done
    grep -q '"registered"' "$1"
}

n=0
# attempt TAG LISTEN_HOST CONNECT_HOST [AGENT OPTIONS...] [-- CONNECT OPTIONS...]
# Runs one listener and one connector; the connector's events land in
# $tmp/TAG.c, the listener's in $tmp/TAG.l, the connector's exit status in $rc.
attempt() {
    tag=$1 lhost=$2 chost=$3
    shift 3
    agent_opts= connect_opts= srv=$server
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        if [ "$1" = --secret-server ]; then srv=$server_s; else agent_opts="$agent_opts $1"; fi
        shift
    done
    [ $# -gt 0 ] && shift && connect_opts="$*"
    n=$((n + 1))
    # shellcheck disable=SC2086 # option words
    "$NATLAB" exec agtest "$lhost" -- "$NATLAB" agent --server "$srv" --name "l$n" --json \
        $agent_opts listen --once >"$tmp/$tag.l" 2>"$tmp/$tag.l.err" &
    lpid=$!
    late=
    wait_registered "$tmp/$tag.l" || {
        fail "$tag: the listener on $lhost never registered: $(cat "$tmp/$tag.l.err")"
        late=1
    }
    # shellcheck disable=SC2086
    "$NATLAB" exec agtest "$chost" -- "$NATLAB" agent --server "$srv" --name "c$n" --json \
        $agent_opts connect "l$n" $connect_opts >"$tmp/$tag.c" 2>"$tmp/$tag.c.err"
    rc=$?
    # State for a late listener: its first events (their times say whether
    # the agent or its start was slow) and whether it still runs.
    [ -n "$late" ] && { echo "listener events:"; head -3 "$tmp/$tag.l"; ps -o pid,stat,etime,args -p "$lpid"; }
    i=0
    while kill -0 "$lpid" 2>/dev/null && [ $i -lt 60 ]; do sleep 0.05; i=$((i + 1)); done
    kill "$lpid" 2>/dev/null
    wait "$lpid" 2>/dev/null
}

done_field() { python3 "$events" "$tmp/$1.c" done "$2"; }

# expect_path TAG PATH TECHNIQUE: all data delivered, exit 0, the final path.
expect_path() {
    sent=$(done_field "$1" sent) delivered=$(done_field "$1" delivered) path=$(done_field "$1" path)
    technique=$(done_field "$1" technique)
    if [ "$rc" -eq 0 ] && [ "$sent" = "$delivered" ] && [ "$sent" -gt 0 ] && [ "$path" = "$2" ] &&
        { [ -z "$3" ] || [ "$technique" = "$3" ]; }; then
        pass "$1: $delivered/$sent delivered, $path via $technique, direct after $(done_field "$1" time_to_direct_ms) ms"
    else
        fail "$1: exit $rc, $delivered/$sent delivered, $path via $technique (expected $2 ${3:-}): $(tail -c 600 "$tmp/$1.c")"
    fi
}

# ---- paths by first principles (rfc-digest section 4) ----------------------
attempt cone a-fc a-prc
expect_path cone direct punch
ttd=$(done_field cone time_to_direct_ms)
check "cone pair: direct within a second ($ttd ms)" python3 -c "import sys; sys.exit(not float(sys.argv[1]) < 1000)" "$ttd"
# Lazy traversal: the first message leaves through the relay at once (the
# listener receives it there); its echo may already take the direct path.
ttfb=$(done_field cone time_to_first_byte_ms)
first=$(python3 "$events" "$tmp/cone.l" first first-byte path)
check "cone pair: the first message came over the relay ($first; echoed after $ttfb ms)" test "$first" = relay

attempt predict a-seq a-prc
expect_path predict direct predicted

birthday_direct=0 birthday_runs=3
full || birthday_runs=1
for k in $(seq 1 $birthday_runs); do
    attempt "birthday$k" a-sym a-prc
    [ "$(done_field "birthday$k" path)" = direct ] && birthday_direct=$((birthday_direct + 1))
    check "birthday$k: every message delivered" test "$(done_field "birthday$k" delivered)" = "$(done_field "birthday$k" sent)"
done
p=$(python3 "$events" "$tmp/birthday1.c" first birthday expected_p)
check "symmetric vs port-restricted-cone: $birthday_direct/$birthday_runs direct by birthday probing (expected p $p)" \
    test "$birthday_direct" -ge $((birthday_runs - 1))

if full; then
attempt symsym a-sym a-sym2 --punch-timeout 3s
expect_path symsym relay none
check "symmetric vs symmetric: punching gave up, said so" python3 "$events" "$tmp/symsym.c" has punch-gave-up

attempt pcp a-pcp a-sym
expect_path pcp direct port-mapped
check "symmetric with PCP: the agent reported its mapping" python3 "$events" "$tmp/pcp.l" has port-mapping

# A symmetric NAT offering only UPnP IGD: the listener maps its port with
# AddAnyPortMapping, and deletes the mapping when it leaves.
attempt upnp a-upnp a-sym
expect_path upnp direct port-mapped
proto=$(python3 "$events" "$tmp/upnp.l" first port-mapping protocol)
ext=$(python3 "$events" "$tmp/upnp.l" first port-mapping external)
check "symmetric with UPnP only: the listener's mapping came by UPnP ($proto $ext)" test "$proto" = upnp
check "the connector reached the listener through it" grep -q "\"remote\":\"$ext\"" "$tmp/upnp.c"
check "the listener deleted its UPnP mapping when it left" sh -c \
    "! '$NATLAB' control agtest upnp mappings | grep -q '\"external\":\"$ext\"'"

# A gateway offering NAT-PMP, PCP and UPnP (openwrt): the agent asks all
# three at once and keeps the first mapping; NAT-PMP and PCP answer in one
# round trip, UPnP needs several, so no UPnP mapping is ever made.
attempt owrt a-owrt a-prc
expect_path owrt direct ""
proto=$(python3 "$events" "$tmp/owrt.l" first port-mapping protocol)
check "openwrt: one mapping, by $proto" sh -c \
    "[ '$proto' = pcp ] || [ '$proto' = nat-pmp ] && [ \"\$(python3 '$events' '$tmp/owrt.l' count port-mapping)\" = 1 ]"
upnp_stats=$("$NATLAB" control agtest owrt stats | python3 -c 'import json, sys
u = json.load(sys.stdin)["upnp"]
print(u["ssdp"]["answered"], u["soap"]["mappings-added"])')
check "openwrt: the gateway answered the agents' searches, no UPnP mapping made ($upnp_stats)" \
    sh -c "set -- $upnp_stats; [ \$1 -ge 1 ] && [ \$2 -eq 0 ]"

# ---- one NAT, two hosts ------------------------------------------------------
fi
attempt lan h1 h2
expect_path lan lan lan
if full; then
for k in $(seq 1 "${AGENT_LAN_REPEAT:-1}"); do
    attempt lan-shared h1 h2 --no-broadcast --share-local
    expect_path lan-shared lan lan
done
attempt hairpin h1 h2 --no-broadcast
expect_path hairpin direct hairpin
fi

# ---- one listener, one session after another ----------------------------------
if full; then
"$NATLAB" exec agtest a-fc -- "$NATLAB" agent --server "$server" --name serial --json listen \
    >"$tmp/serial.l" 2>&1 &
spid=$!
wait_registered "$tmp/serial.l"
for k in 1 2; do
    "$NATLAB" exec agtest a-prc -- "$NATLAB" agent --server "$server" --name "serial-c$k" --json \
        connect serial --send 5 >"$tmp/serial$k.c" 2>&1
    rc=$?
    expect_path "serial$k" direct punch
done
kill "$spid"
wait "$spid" 2>/dev/null

# A listener that goes away mid-session: the server tells the connector at once.
"$NATLAB" exec agtest a-fc -- "$NATLAB" agent --server "$server" --name leaving --json listen \
    >"$tmp/leaving.l" 2>&1 &
lpid=$!
wait_registered "$tmp/leaving.l"
"$NATLAB" exec agtest a-prc -- "$NATLAB" agent --server "$server" --name stayer --json \
    connect leaving --hold 30s >"$tmp/leaving.c" 2>&1 &
cpid=$!
i=0
while ! grep -q '"direct"' "$tmp/leaving.c" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
start=$(date +%s)
kill "$lpid"
wait "$lpid" 2>/dev/null
wait "$cpid"
rc=$?
took=$(($(date +%s) - start))
reason=$(python3 "$events" "$tmp/leaving.c" first failed reason)
check "the listener left: the connector stops after ${took}s, exit $rc, '$reason'" \
    sh -c "[ $rc -eq 1 ] && [ $took -le 3 ] && [ '$reason' = 'the peer left the session' ]"
fi

# ---- UDP blocked, a corporate firewall: natlab server over TCP -----------------
# udp-blocked passes TCP: the server's own port 3478. Without TCP punching
# the relay carries every message; nobody punches (the peer hears "no-udp"
# from the server).
attempt blk a-prc a-blk --no-tcp-punch
expect_path blk relay none
check "udp-blocked: registered over TCP 3478 (transport $(python3 "$events" "$tmp/blk.c" first registered transport))" \
    sh -c "[ \"\$(python3 '$events' '$tmp/blk.c' first registered transport)\" = tcp ] &&
           python3 '$events' '$tmp/blk.c' first transport server | grep -q ':3478\$'"
check "udp-blocked: time to first byte reported ($(done_field blk time_to_first_byte_ms) ms)" \
    python3 -c "import sys; sys.exit(not 0 < float(sys.argv[1]) < 2000)" "$(done_field blk time_to_first_byte_ms)"
check "udp-blocked: its peer did not punch ($(python3 "$events" "$tmp/blk.l" "done" probes_sent) probes)" \
    test "$(python3 "$events" "$tmp/blk.l" "done" probes_sent)" = 0
# With it (the default) the two open a TCP connection by simultaneous open:
# udp-blocked takes any SYN at the listener (docs/agent.md, TCP punching).
attempt blkt a-prc a-blk
expect_path blkt direct tcp-punch
check "udp-blocked: the direct path is TCP ($(python3 "$events" "$tmp/blkt.c" first direct transport))" \
    test "$(python3 "$events" "$tmp/blkt.c" first direct transport)" = tcp
# corporate lets only TCP 80 and 443 (and UDP 53) out, dropping the rest:
# the SYN to 3478 goes unanswered (3 s), 443 works.
attempt corp a-corp a-fc
expect_path corp relay none
corp_server=$(python3 "$events" "$tmp/corp.l" first transport server)
check "corporate: the listener reached the server over TCP 443 ($corp_server)" sh -c "echo '$corp_server' | grep -q ':443\$'"
# A firewall that rejects (ICMP for UDP, a reset for TCP): TCP at once, 443
# after 3478's reset, registered within a second instead of 8.
attempt corpr a-corpr a-fc
expect_path corpr relay none
reg_ms=$(python3 "$events" "$tmp/corpr.l" first registered t_ms)
check "corporate, rejecting: registered over TCP $(python3 "$events" "$tmp/corpr.l" first transport server) after $reg_ms ms" \
    sh -c "python3 '$events' '$tmp/corpr.l' first transport server | grep -q ':443\$' &&
           python3 -c 'import sys; sys.exit(not float(sys.argv[1]) < 2000)' '$reg_ms'"
# Neither UDP nor TCP: the server's second address listens on TCP only at
# the STUN ports (443 is the first address's), so port 3480 there refuses
# both; the reason names both transports and ports.
alt=$(python3 -c 'import json,sys
t = json.load(open(sys.argv[1]))
print([h for h in t["hosts"] if h["name"] == "srv"][0]["addresses"][1])' "$tmp/up.json")
"$NATLAB" exec agtest a-blk -- "$NATLAB" agent --server "$alt:3480" --name nowhere --json \
    connect nobody >"$tmp/nowhere.c" 2>&1
rc=$?
reason=$(python3 "$events" "$tmp/nowhere.c" first failed reason)
check "udp-blocked, no TCP listener: exit $rc, '$reason'" \
    sh -c "[ $rc -eq 1 ] && echo '$reason' | grep -q 'UDP .*:3480 does not answer, TCP 3480: Connection refused, TCP 443: Connection refused'"

if full; then
# mid_session TAG HOST NAT HOLD WHEN KEY VALUE WHAT [SEEN]: a listener on HOST
# (TAG.l), a connector from a-fc holding HOLD at 200 ms a message (TAG.c);
# once WHEN (an event's text) is in the connector's events (checked as SEEN
# when given), NAT's KEY becomes VALUE (checked as WHAT); then both end: rc,
# sent, delivered.
mid_session() {
    "$NATLAB" exec agtest "$2" -- "$NATLAB" agent --server "$server" --name "$1" --json listen --once \
        >"$tmp/$1.l" 2>"$tmp/$1.l.err" &
    lpid=$!
    wait_registered "$tmp/$1.l" || fail "$1: the listener never registered: $(cat "$tmp/$1.l.err")"
    "$NATLAB" exec agtest a-fc -- "$NATLAB" agent --server "$server" --name "$1-c" --json \
        connect "$1" --hold "$4" --interval 200ms >"$tmp/$1.c" 2>&1 &
    cpid=$!
    i=0
    while ! grep -q "$5" "$tmp/$1.c" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
    [ -z "${9:-}" ] || check "$9" grep -q "$5" "$tmp/$1.c"
    "$NATLAB" control agtest "$3" set "$6" "$7" >/dev/null
    check "$8" test $? -eq 0
    wait "$cpid"
    rc=$?
    i=0
    while kill -0 "$lpid" 2>/dev/null && [ $i -lt 60 ]; do sleep 0.05; i=$((i + 1)); done
    kill "$lpid" 2>/dev/null
    wait "$lpid" 2>/dev/null
    sent=$(done_field "$1" sent) delivered=$(done_field "$1" delivered)
}

# UDP comes back: corporate opens UDP mid-session; the listener's next
# Binding over UDP is answered, it registers over UDP and leaves the stream.
mid_session back a-corp2 corp2 14s '"first-byte"' allow-out-udp all "udp-back: the firewall let UDP out"
check "udp-back: exit $rc, $delivered/$sent delivered, $(done_field back path) at the end" \
    sh -c "[ $rc -eq 0 ] && [ '$sent' = '$delivered' ] && [ '$sent' -gt 0 ]"
check "udp-back: the listener moved from TCP to UDP ($(python3 "$events" "$tmp/back.l" count transport) transport events)" \
    sh -c "grep '\"transport\"' '$tmp/back.l' | tail -1 | grep -q '\"transport\":\"udp\"' &&
           grep -q '\"event\":\"transport\",\"transport\":\"tcp\"' '$tmp/back.l'"

# UDP stops: the opposite. A direct session, then the listener's NAT drops
# all UDP out; the direct path dies (relay-fallback), the REGISTER over UDP
# goes unanswered, and the listener moves to the TCP stream and carries on
# through the server's relay: nothing lost.
mid_session stop a-stop stop 16s '"event":"direct"' allow-out-udp none \
    "udp-stops: the NAT stopped letting UDP out" "udp-stops: direct before the change"
# At the end: the relay over TCP, or a TCP path punched from there (tcp-punch),
# never a UDP one.
end="$(done_field stop path) $(done_field stop technique)"
check "udp-stops: exit $rc, $delivered/$sent delivered, $end at the end" \
    sh -c "[ $rc -eq 0 ] && [ '$sent' = '$delivered' ] && [ '$sent' -gt 40 ] &&
           { [ '$end' = 'relay none' ] || [ '$end' = 'direct tcp-punch' ]; }"
check "udp-stops: the listener moved to TCP ($(python3 "$events" "$tmp/stop.l" first transport reason))" \
    sh -c "grep '\"event\":\"transport\"' '$tmp/stop.l' | grep '\"transport\":\"tcp\"' | grep -q 'stopped answering over UDP'"
check "udp-stops: the connector fell back to the relay" python3 "$events" "$tmp/stop.c" has relay-fallback
fi

# ---- NAT reboot mid-session ----------------------------------------------------
# reboot_during TAG LISTEN_HOST CONNECT_HOST NAT: the NAT reboots 3 s into an 8 s session.
reboot_during() {
    ( sleep 3; "$NATLAB" control agtest "$4" reboot >/dev/null ) &
    rpid=$!
    attempt "$1" "$2" "$3" --keepalive 1s -- --hold 8s
    wait "$rpid"
}
reboot_during reboot a-prc a-cgn cgn
expect_path reboot direct ""
check "reboot: the session fell back to the relay and recovered" python3 "$events" "$tmp/reboot.c" has relay-fallback
if full; then
reboot_during reboot-pcp a-pcp a-prc pcp
expect_path reboot-pcp direct port-mapped
check "reboot with PCP: the listener re-created its mapping" \
    test "$(python3 "$events" "$tmp/reboot-pcp.l" count port-mapping)" -ge 2
# UPnP has no epoch: the agent finds its mapping gone (714) when the path
# dies, and re-creates it.
reboot_during reboot-upnp a-upnp a-prc upnp
expect_path reboot-upnp direct port-mapped
check "reboot with UPnP: the listener found its mapping gone and re-created it" \
    sh -c "grep '\"port-mapping\"' '$tmp/reboot-upnp.l' | grep -q 're-created'"

# ---- a mapping timeout (3 s) shorter than the keepalive (10 s) -------------------
attempt short a-short a-short2 --keepalive 10s -- --send 4 --interval 5s
expect_path short direct ""
check "short timeout: the agent noticed and shortened its keepalive" python3 "$events" "$tmp/short.c" has keepalive

# ---- 5% loss on one NAT, both ways -----------------------------------------------
attempt loss a-lossy a-fc -- --send 100 --interval 10ms
expect_path loss direct ""

# ---- a shared secret ---------------------------------------------------------
attempt secret a-fc a-prc --secret-server --secret "$tmp/secret"
expect_path secret direct punch
"$NATLAB" exec agtest a-prc -- "$NATLAB" agent --server "$server_s" --name nosecret --json connect l1 \
    >"$tmp/nosecret.c" 2>&1
rc=$?
reason=$(python3 "$events" "$tmp/nosecret.c" first failed reason)
check "without the server's secret: exit 1, '$reason'" sh -c "[ $rc -eq 1 ] && echo '$reason' | grep -q secret"
fi

# ---- forged datagrams at a listener's mapped endpoint ----------------------------
"$NATLAB" exec agtest a-fc -- "$NATLAB" agent --server "$server" --name forged --json listen \
    >"$tmp/forged.l" 2>&1 &
fpid=$!
wait_registered "$tmp/forged.l"
mapped=$(python3 "$events" "$tmp/forged.l" first registered mapped)
"$NATLAB" exec agtest a-prc -- python3 -c '
import socket, sys
ip, port = sys.argv[1].rsplit(":", 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
hdr = bytes([0xE4, 1, 16, 0]) + (7).to_bytes(8, "big") + (1).to_bytes(8, "big")
body = bytes([1, 0, 0]) + bytes(6) + bytes(8)
for d in (hdr + body + bytes(16), b"\xe4\x01\x10", b"junk that is not ours"):
    s.sendto(d, (ip, int(port)))
' "$mapped"
# A real session after them: once it is through, so are they (same path, same queues).
"$NATLAB" exec agtest a-prc -- "$NATLAB" agent --server "$server" --name forger --json connect forged \
    --send 1 >"$tmp/forged.c" 2>&1
check "a session with the listener still works after the forged datagrams" test $? -eq 0
kill "$fpid"
wait "$fpid" 2>/dev/null
dropped=$(python3 "$events" "$tmp/forged.l" done dropped)
check "forged and malformed datagrams dropped and counted ($dropped)" python3 -c '
import json, sys
d = json.loads(sys.argv[1])
sys.exit(not (d["malformed"] + d["unexpected"] + d["auth"] >= 3))' "$dropped"

down
echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
