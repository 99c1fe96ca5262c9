#!/bin/sh
# Clients nobody here wrote must agree with natsim: for every preset, coturn's
# turnutils_natdiscovery (-m -f -H, -t -T) and the classic stun client,
# run from a host behind the NAT against coturn's turnserver on a public host
# with two addresses, report what the preset configures. Also: two hosts share
# a sequential NAT's counter, a double NAT shows its outer mapping, and the
# pcap files show both sides of the translation.
# usage: test_interop.sh NATLAB   (root; exit 77 = skipped)
set -u
NATLAB=$1
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_root "the interop tests"
need_or_exit turnserver turnutils_natdiscovery stun python3 tshark

scratch interop
up_scenario=

: >"$tmp/empty.conf"
# The public server host: coturn with two addresses (RFC 5780), started and
# stopped with the topology. -c with an empty file: Debian's default config
# disables RFC 5780 and classic STUN.
server_host() {
    cat <<EOF
[host stun]
addresses = 2
run = exec turnserver -c $tmp/empty.conf -L \$NATLAB_ADDRESS_1 -L \$NATLAB_ADDRESS_2 --no-cli --no-tls --no-dtls --log-file stdout --simple-log --pidfile $tmp/turn-\$NATLAB_SCENARIO.pid
EOF
}

# Brings a scenario up and waits until coturn listens on both addresses.
up() { # up FILE NAME
    up_scenario=$2
    if ! "$NATLAB" up "$1" --json >"$tmp/$2.json" 2>"$tmp/$2.err"; then
        fail "$2: natlab up: $(cat "$tmp/$2.err")"
        up_scenario=
        return 1
    fi
    stun_ip=$(python3 -c 'import json,sys
t=json.load(open(sys.argv[1]))
h=[h for h in t["hosts"] if h["name"]=="stun"][0]
print(h["addresses"][0])' "$tmp/$2.json")
    i=0
    while [ $i -lt 100 ]; do
        n=$("$NATLAB" exec "$2" stun -- sh -c 'cat /proc/net/udp' 2>/dev/null | awk '$2 ~ /:0D96$/' | wc -l)
        [ "$n" -ge 2 ] && return 0
        i=$((i + 1))
        sleep 0.1 # polling for readiness, bounded
    done
    fail "$2: turnserver did not listen on both addresses"
    return 1
}



n=0
while IFS='|' read -r preset mapping filtering hairpin stun_status; do
    n=$((n + 1))
    # INTEROP_PRESETS="a b" runs only those (for debugging).
    case " ${INTEROP_PRESETS:-$preset} " in *" $preset "*) ;; *) continue ;; esac
    name=iop$n
    file=$tmp/$name.scn
    {
        printf '[scenario]\nname = %s\nseed = %d\n\n[nat gw]\npreset = %s\n' "$name" "$n" "$preset"
        # A short timeout so the lifetime probe sees both sides of it.
        [ "$preset" != no-nat ] && printf 'timeout = 4s\ntimeout-unreplied = 0s\n'
        printf '\n[host alice]\nnat = gw\n\n'
        server_host
    } >"$file"
    up "$file" "$name" || continue
    alice_ip=$(python3 -c 'import json,sys
t=json.load(open(sys.argv[1]))
print([h for h in t["hosts"] if h["name"]=="alice"][0]["addresses"][0])' "$tmp/$name.json")

    check_clients "$name" "$alice_ip" "$stun_ip" "$preset" "$mapping" "$filtering" "$hairpin" "$stun_status" "$tmp"

    if [ "$preset" != no-nat ]; then
        "$NATLAB" exec "$name" alice -- turnutils_natdiscovery -t -T 2 "$stun_ip" >"$tmp/$name.t2" 2>&1
        check "$preset: natdiscovery -t -T 2 finds the mapping alive (timeout 4s)" grep -q "response 2" "$tmp/$name.t2"
        "$NATLAB" exec "$name" alice -- turnutils_natdiscovery -t -T 6 "$stun_ip" >"$tmp/$name.t6" 2>&1
        check "$preset: natdiscovery -t -T 6 finds the mapping gone (timeout 4s)" sh -c "! grep -q 'response 2' '$tmp/$name.t6'"
    fi
    down
done <<EOF
$CLIENT_EXPECTATIONS
EOF

# A UDP reflector answers every datagram with the source it saw.
cat >"$tmp/reflector.py" <<'EOF'
import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
s.bind((sys.argv[1],int(sys.argv[2])))
while True:
    d,a=s.recvfrom(2048); s.sendto(("%s:%d"%a).encode(),a)
EOF
ask='import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("0.0.0.0",int(sys.argv[3]))); s.settimeout(2)
for i in range(5):
    s.sendto(b"?",(sys.argv[1],int(sys.argv[2])))
    try: print(s.recvfrom(2048)[0].decode()); break
    except socket.timeout: pass'

# Two hosts behind one sequential NAT share its counter.
cat >"$tmp/seq.scn" <<EOF
[scenario]
name = iopseq

[nat gw]
preset = symmetric-sequential

[host alice]
nat = gw

[host bob]
nat = gw

[host refl]
addresses = 1
run = exec python3 $tmp/reflector.py \$NATLAB_ADDRESS_1 4000
EOF
if "$NATLAB" up "$tmp/seq.scn" --json >"$tmp/seq.json" 2>"$tmp/seq.err"; then
    up_scenario=iopseq
    refl=$(python3 -c 'import json,sys
print([h for h in json.load(open(sys.argv[1]))["hosts"] if h["name"]=="refl"][0]["addresses"][0])' "$tmp/seq.json")
    a1=$("$NATLAB" exec iopseq alice -- python3 -c "$ask" "$refl" 4000 7001 | cut -d: -f2)
    b1=$("$NATLAB" exec iopseq bob -- python3 -c "$ask" "$refl" 4000 7002 | cut -d: -f2)
    a2=$("$NATLAB" exec iopseq alice -- python3 -c "$ask" "$refl" 4000 7003 | cut -d: -f2)
    if [ -n "$a1" ] && [ -n "$b1" ] && [ -n "$a2" ] && [ "$b1" -eq $((a1 + 1)) ] && [ "$a2" -eq $((b1 + 1)) ]; then
        pass "sequential NAT: alice $a1, bob $b1, alice $a2 (one shared counter)"
    else
        fail "sequential NAT: alice '$a1', bob '$b1', alice '$a2' are not consecutive"
    fi
    down
else
    fail "iopseq: natlab up: $(cat "$tmp/seq.err")"
fi

# A double NAT: a full cone behind a symmetric NAT maps like its outer layer
# (RFC 5780 sees the composition: the outer APDM decides).
{
    printf '[scenario]\nname = iopdbl\n\n[nat outer]\npreset = symmetric\n\n[nat inner]\npreset = full-cone\nbehind = outer\n\n[host alice]\nnat = inner\n\n'
    server_host
} >"$tmp/dbl.scn"
if up "$tmp/dbl.scn" iopdbl; then
    "$NATLAB" exec iopdbl alice -- turnutils_natdiscovery -m -f "$stun_ip" >"$tmp/dbl.out" 2>&1
    check "double NAT (full-cone behind symmetric): mapping is the outer APDM" \
        grep -q "NAT with Address and Port Dependent Mapping!" "$tmp/dbl.out"
    check "double NAT (full-cone behind symmetric): filtering is the outer APDF" \
        grep -q "NAT with Address and Port Dependent Filtering!" "$tmp/dbl.out"
    down
fi

# pcap: both sides of the translation of one exchange.
cat >"$tmp/cap.scn" <<EOF
[scenario]
name = iopcap

[nat gw]
preset = home-router

[host alice]
nat = gw

[host refl]
addresses = 1
run = exec python3 $tmp/reflector.py \$NATLAB_ADDRESS_1 4000
EOF
if "$NATLAB" up "$tmp/cap.scn" --pcap-dir "$tmp/pcap" --json >"$tmp/cap.json" 2>"$tmp/cap.err"; then
    up_scenario=iopcap
    refl=$(python3 -c 'import json,sys
print([h for h in json.load(open(sys.argv[1]))["hosts"] if h["name"]=="refl"][0]["addresses"][0])' "$tmp/cap.json")
    seen=$("$NATLAB" exec iopcap alice -- python3 -c "$ask" "$refl" 4000 7100)
    down # natsim closes its pcap files on the way out; --pcap-dir keeps them
    inside=$(tshark -r "$tmp/pcap/gw/inside.pcap" -Y 'udp.port == 4000' -T fields -e ip.src -e udp.srcport 2>/dev/null | head -1 | tr '\t' ' ')
    outside=$(tshark -r "$tmp/pcap/gw/outside.pcap" -Y 'udp.port == 4000' -T fields -e ip.src -e udp.srcport 2>/dev/null | head -1)
    case "$inside" in "10."*" 7100") pass "pcap inside shows the private source ($inside)" ;; *) fail "pcap inside: '$inside'" ;; esac
    outside_ep=$(echo "$outside" | tr '\t' ':')
    if [ -n "$outside" ] && [ "$outside_ep" = "$seen" ]; then
        pass "pcap outside shows the translated source the reflector saw ($seen)"
    else
        fail "pcap outside: '$outside_ep', reflector saw '$seen'"
    fi
else
    fail "iopcap: natlab up --pcap: $(cat "$tmp/cap.err")"
fi

echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
