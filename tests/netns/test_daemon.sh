#!/bin/sh
# natsim as a real NAT: hairpinning between two hosts behind one NAT, ICMP
# errors translated back to the sender, the control socket (stats, set,
# reboot), impairments done by natsim itself, malformed packets dropped and
# counted, NAT-PMP answered on the inside address, stats written and rules
# removed when the daemon exits; ping (ICMP echo) through one NAT and a
# double NAT.
# usage: test_daemon.sh NATLAB   (root; exit 77 = skipped)
set -u
NATLAB=$1
here=$(cd "$(dirname "$0")" && pwd)
tool=$here/udp_tool.py
# shellcheck source=tests/lib.sh
. "$here/../lib.sh"
need_root "the daemon tests"
need_or_exit python3
scratch daemon
sc=nsdaemon
owns_scenario "$sc"
x() { "$NATLAB" exec "$sc" "$@"; }
ctl() { "$NATLAB" control "$sc" gw "$@"; }
stat_of() { # stat_of PYTHON-EXPRESSION-ON-s
    ctl stats | python3 -c "import json,sys; s=json.load(sys.stdin); print($1)"
}

cat >"$tmp/$sc.scn" <<EOF
[scenario]
name = $sc
seed = 11

[nat gw]
preset = port-restricted-cone
port-mapping = nat-pmp,pcp

[host alice]
nat = gw

[host bob]
nat = gw

[host refl]
addresses = 1
run = exec python3 $tool reflect \$NATLAB_ADDRESS_1 4000
EOF
if ! "$NATLAB" up "$tmp/$sc.scn" --json >"$tmp/topo.json" 2>"$tmp/err"; then
    echo "FAIL: natlab up: $(cat "$tmp/err")"
    exit 1
fi
field() { python3 -c "import json,sys; t=json.load(open('$tmp/topo.json')); print($1)"; }
# scenario_up NAME: natlab up $tmp/NAME.scn into $tmp/topo.json, or a FAIL line.
scenario_up() {
    "$NATLAB" up "$tmp/$1.scn" --json >"$tmp/topo.json" 2>"$tmp/err" && return 0
    fail "natlab up $1: $(cat "$tmp/err")"
    return 1
}
refl=$(field '[h for h in t["hosts"] if h["name"]=="refl"][0]["addresses"][0]')
public=$(field 't["nats"][0]["public_addresses"][0]')
gw_lan=$(field '[h for h in t["hosts"] if h["name"]=="alice"][0]["gateway"]' 2>/dev/null || echo 10.1.0.1)
# The reflector is up once it answers (bounded wait, no fixed sleep).
x alice -- python3 "$tool" ask "$refl" 4000 6999 >/dev/null || fail "the reflector never answered"

# Hairpinning for real: bob's mapping is known from the reflector; alice
# reaches bob through the NAT's public address and sees bob's reply from it.
bob_ext=$(x bob -- python3 "$tool" ask "$refl" 4000 5000)
bob_port=${bob_ext#*:}
x bob -- timeout 10 python3 "$tool" reflect 0.0.0.0 5000 &
bob_reflector=$!
seen=$(x alice -- python3 "$tool" ask "$public" "$bob_port" 7000)
alice_ext=$(x alice -- python3 "$tool" ask "$refl" 4000 7000)
if [ -n "$seen" ] && [ "$seen" = "$alice_ext" ]; then
    pass "hairpin: bob saw alice as $seen, her external endpoint (RFC 4787 REQ-9a)"
else
    fail "hairpin: bob saw '$seen', alice's external endpoint is '$alice_ext'"
fi
kill "$bob_reflector" 2>/dev/null
[ "$(stat_of 's["engine"]["hairpinned"] > 0')" = True ] && pass "hairpinned packets counted" ||
    fail "hairpinned packets not counted"

# An ICMP port unreachable about a mapped flow comes back translated.
if x alice -- python3 "$tool" refused "$refl" 4999 7100; then
    pass "ICMP port unreachable reaches the sender through the NAT"
else
    fail "no ICMP error reached the sender"
fi
[ "$(stat_of 's["icmp_translated"]')" -ge 1 ] && pass "ICMP errors counted as translated" ||
    fail "icmp_translated is $(stat_of 's["icmp_translated"]')"

# Malformed and foreign packets are dropped and counted, and natsim lives on.
x alice -- python3 "$tool" raw-bad "$refl"
bad=$(stat_of 's["malformed"]["bad-udp-length"]')
other=$(stat_of 's["drops"]["not-udp"]')
if [ "$bad" -ge 1 ] && [ "$other" -ge 1 ]; then
    pass "malformed UDP ($bad) and a foreign protocol ($other) dropped and counted"
else
    fail "malformed: bad-udp-length $bad, not-udp $other"
fi
x alice -- python3 "$tool" ask "$refl" 4000 7200 >/dev/null && pass "natsim still forwards after junk" ||
    fail "natsim stopped forwarding after junk"

# Fragmented UDP (RFC 4787 REQ-13/14): 3000 bytes each way over 1500-byte links.
big=$(x alice -- python3 "$tool" ask "$refl" 4000 7250 3000)
case "$big" in
*" 3000") pass "a 3000-byte datagram crosses both ways in fragments ($big)" ;;
*) fail "fragmented datagram: '$big'" ;;
esac

# Impairments by natsim itself: latency shows in the round trip, loss in the count.
base=$(x alice -- python3 "$tool" rtt "$refl" 4000 7300 20)
ctl set latency 40ms >/dev/null || fail "set latency refused"
slow=$(x alice -- python3 "$tool" rtt "$refl" 4000 7300 20)
if python3 -c "import sys; sys.exit(0 if 75 <= $slow - $base <= 140 else 1)"; then
    pass "latency 40ms each way: round trip $base ms -> $slow ms"
else
    fail "latency 40ms each way: round trip $base ms -> $slow ms"
fi
ctl set latency 0s >/dev/null
ctl set loss-outbound 30% >/dev/null
got=$(x alice -- python3 "$tool" loss "$refl" 4000 7400 300)
if [ "$got" -ge 165 ] && [ "$got" -le 255 ]; then
    pass "loss-outbound 30%: $got of 300 answered"
else
    fail "loss-outbound 30%: $got of 300 answered (expected about 210)"
fi
ctl set loss-outbound 0 >/dev/null

# The control socket: bad input is refused with the allowed values.
if out=$(ctl set filtering sideways); then
    fail "set filtering sideways accepted: $out"
else
    case "$out" in *allowed*) pass "control refuses a bad value: $out" ;; *) fail "control said: $out" ;; esac
fi
ctl mappings | grep -q '"internal"' && pass "control lists mappings" || fail "no mappings listed"
ctl reboot >/dev/null
[ "$(ctl mappings)" = "[]" ] && pass "reboot loses every mapping" || fail "mappings after reboot: $(ctl mappings)"

# Out of ports: the packet is dropped and the sender told (ICMP 3/1, RFC 6888 REQ-11).
ctl set port-range 2000-2001 >/dev/null || fail "set port-range refused"
x alice -- python3 "$tool" ask "$refl" 4000 7801 >/dev/null
x alice -- python3 "$tool" ask "$refl" 4000 7802 >/dev/null
if x alice -- python3 "$tool" unreachable "$refl" 4000 7803; then
    pass "port exhaustion answered with ICMP host unreachable ($(stat_of 's["icmp_sent"]') sent)"
else
    fail "no ICMP host unreachable on port exhaustion"
fi
ctl set port-range 1024-65535 >/dev/null

# NAT-PMP on the inside address: external address, then an explicit mapping
# that admits anyone (the profile's APDF does not apply to it).
pmp=$(x alice -- python3 "$tool" pmp "$gw_lan" 7500)
case "$pmp" in
*"external $public result 0"*"result 0 lifetime 60"*) pass "NAT-PMP: $(echo "$pmp" | tr '\n' ';')" ;;
*) fail "NAT-PMP answered: $pmp" ;;
esac
mapped=$(echo "$pmp" | sed -n 's/^mapped [0-9]* -> \([0-9]*\).*/\1/p')
x alice -- timeout 10 python3 "$tool" reflect 0.0.0.0 7500 &
alice_reflector=$!
from_outside=$(x refl -- python3 "$tool" ask "$public" "${mapped:-1}" 7600)
kill "$alice_reflector" 2>/dev/null
case "$from_outside" in
"$refl:7600") pass "an unsolicited sender reaches the NAT-PMP mapping" ;;
*) fail "through the NAT-PMP mapping: '$from_outside'" ;;
esac

# Exit: SIGTERM writes the stats and removes natsim's rules from the router.
state=$(field 't["state_dir"]')
pid=$(field 't["nats"][0]["pid"]')
kill "$pid"
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
    i=$((i + 1))
    sleep 0.05 # waiting for the daemon to exit, bounded
done
if python3 -c "import json; s=json.load(open('$state/gw.stats.json')); assert s['engine']['outbound'] > 0"; then
    pass "stats written at exit"
else
    fail "no stats at exit"
fi
left=$(x gw -- iptables-save 2>/dev/null | grep -c NATLAB)
[ "$left" -eq 0 ] && pass "natsim removed its rules on exit" || fail "$left NATLAB rules left"
"$NATLAB" down "$sc" >/dev/null || fail "natlab down"
echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]

# nfqueue drops (RFC-free, kernel-side): what the kernel drops because
# natsim's queue is full never reaches natsim, so the stats carry nfqueue's
# own counters. With the daemon stopped, a burst bigger than the queue
# (queue-maxlen, 8192 by default) must show up as drops, live and at exit.
sc=nsdrops
cat >"$tmp/$sc.scn" <<EOF2
[scenario]
name = $sc
seed = 12

[nat gw]
preset = full-cone

[host alice]
nat = gw

[host refl]
addresses = 1
EOF2
if scenario_up "$sc"; then
    refl=$(field '[h for h in t["hosts"] if h["name"]=="refl"][0]["addresses"][0]')
    pid=$(field 't["nats"][0]["pid"]')
    state=$(field 't["state_dir"]')
    q=$(stat_of 's["nfqueue"]')
    if [ "$(stat_of 'all(type(s["nfqueue"].get(k)) is int for k in
            ("received", "enobufs", "queue_dropped", "user_dropped", "drops"))')" = True ]; then
        pass "stats report nfqueue's counters: $q"
    else
        fail "nfqueue counters in stats: $q"
    fi
    before=$(stat_of 's["nfqueue"]["drops"]')
    burst=10000
    kill -STOP "$pid"
    x alice -- python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', 7900))
for i in range($burst):
    s.sendto(b'x', ('$refl', 9))
"
    kill -CONT "$pid"
    after=$(stat_of 's["nfqueue"]["drops"]')
    dropped=$((after - before))
    # The queue holds 8192, the kernel drops the rest: 1808 when every packet
    # of the burst reaches the queue, fewer if some are lost on the way.
    if [ "$dropped" -ge 1 ] && [ "$dropped" -le $((burst - 8192)) ]; then
        pass "a burst of $burst at a stopped natsim: $dropped nfqueue drops counted ($(stat_of 's["nfqueue"]'))"
    else
        fail "nfqueue drops after a burst of $burst: $before -> $after ($(stat_of 's["nfqueue"]'))"
    fi
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null && sleep 0.05; done # bounded wait for the exit
    at_exit=$(python3 -c "import json; print(json.load(open('$state/gw.stats.json'))['nfqueue']['drops'])" 2>/dev/null)
    if [ -n "$at_exit" ] && [ "$at_exit" -ge "$after" ]; then
        pass "nfqueue drops in the stats written at exit ($at_exit)"
    else
        fail "nfqueue drops at exit: '$at_exit' (live: $after)"
    fi
    "$NATLAB" down "$sc" >/dev/null || fail "natlab down $sc"
fi

# ICMP echo (RFC 5508): ping from behind one NAT and from behind a double NAT
# (a home router behind a CGN) reaches a public host, each NAT counts echo
# translations rather than not-udp drops, and a ping to the NAT's own public
# address hairpins back to the sender.
need ping
sc=nsping
cat >"$tmp/$sc.scn" <<EOF3
[scenario]
name = $sc
seed = 13

[nat single]
preset = port-restricted-cone

[nat isp]
preset = cgnat

[nat home]
preset = home-router
behind = isp

[host alice]
nat = single

[host carol]
nat = home

[host pub]
addresses = 1
EOF3
if scenario_up "$sc"; then
    pub=$(field '[h for h in t["hosts"] if h["name"]=="pub"][0]["addresses"][0]')
    single_public=$(field '[n for n in t["nats"] if n["name"]=="single"][0]["public_addresses"][0]')
    nstat() { # nstat NAT PYTHON-EXPRESSION-ON-s
        "$NATLAB" control "$sc" "$1" stats | python3 -c "import json,sys; s=json.load(sys.stdin); print($2)"
    }
    for h in alice carol; do
        check "ping -c 3 from $h to the public host $pub" "$NATLAB" exec "$sc" "$h" -- ping -c 3 -W 2 -q "$pub"
    done
    for n in single isp home; do
        # The namespaces send other non-UDP packets through the NATs at their
        # own times, so not-udp says nothing about the pings: the engine's
        # ICMP counts do (3 requests out, 3 replies in).
        got=$(nstat "$n" '"echo_translated %d, engine icmp %s" % (s["echo_translated"], s["engine"]["icmp"])')
        if [ "$(nstat "$n" "s['echo_translated'] >= 6 and s['engine']['icmp']['outbound'] >= 3 and s['engine']['icmp']['inbound'] >= 3")" = True ]; then
            pass "$n counts the echoes as translations: $got"
        else
            fail "$n: $got"
        fi
    done
    # An echo larger than the MTU crosses in fragments through both NATs.
    check "ping -s 3000 (fragmented) from carol through the double NAT" \
        "$NATLAB" exec "$sc" carol -- ping -c 2 -W 2 -q -s 3000 "$pub"
    check "ping from alice to her NAT's public address $single_public hairpins" \
        "$NATLAB" exec "$sc" alice -- ping -c 1 -W 2 -q "$single_public"
    [ "$(nstat single 's["engine"]["hairpinned"]')" -ge 2 ] && pass "hairpinned echo counted" ||
        fail "hairpinned echo: $(nstat single 's["engine"]')"
    "$NATLAB" down "$sc" >/dev/null || fail "natlab down $sc"
fi
echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
