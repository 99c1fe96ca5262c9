#!/bin/sh
# natlab server against clients nobody here wrote: for every preset, coturn's
# turnutils_natdiscovery (-m -f -H) and the classic stun client, run from a
# host behind natsim against `natlab server` on a public host with two
# addresses, give the verdicts they give against coturn's turnserver (the
# table of test_interop.sh). Then the RFC 5780 details from a public client
# with a STUN client of our own (stun_probe.py): CHANGE-REQUEST sources,
# RESPONSE-ORIGIN, OTHER-ADDRESS, RESPONSE-PORT, PADDING, 400, 420, RFC 3489
# framing, a one-address server, malformed datagrams dropped and counted,
# no amplification, and a clean exit on SIGTERM with the counters written
# (also when a second SIGTERM follows, as from `natlab down`). Then the
# agents' rendezvous and relay over TCP 443 from behind udp-blocked and
# corporate, with a UDP peer (agent_client.py).
# usage: test_server.sh NATLAB   (root; exit 77 = skipped)
set -u
NATLAB=$(readlink -f "$1")
here=$(cd "$(dirname "$0")" && pwd)
probe="$here/stun_probe.py"

# shellcheck source=tests/lib.sh
. "$here/../lib.sh"

# ---- the command line (no root needed) ----------------------------------
"$NATLAB" server --help >/dev/null 2>&1
check "natlab server --help: exit 0" test $? -eq 0
usage_errors server "" "--address" "--address 1.2.3" "--address 0.0.0.0" "--address 10.0.0.1 --port 0" \
    "--address 10.0.0.1 --port 70000" "--address 10.0.0.1 --alt-address 10.0.0.1" \
    "--address 10.0.0.1 --alt-port 3478" "--address 10.0.0.1 --frob 1" \
    "--address 10.0.0.1 --tcp-ports 0" "--address 10.0.0.1 --tcp-ports 70000" \
    "--address 10.0.0.1 --tcp-ports 443,443" "--address 10.0.0.1 --tcp-ports 1,2,3,4,5,6,7,8,9" \
    "--address 10.0.0.1 --tcp-ports http" "--address 10.0.0.1 --tcp-ports 443,"
"$NATLAB" server --address 10.0.0.1 --tcp-ports 70000 2>&1 | grep -q \
    "bad value for --tcp-ports: '70000' (allowed: up to 8 distinct ports 1-65535"
check "natlab server --tcp-ports 70000: the error names the flag, the value and what is allowed" test $? -eq 0
"$NATLAB" server --address 192.0.2.77 --port 39999 --alt-port 39998 >/dev/null 2>&1
check "natlab server on an address this host lacks: exit 1" test $? -eq 1

scratch server
chmod 755 "$tmp"
# `natlab down` signals twice (the group, then the pidfd); the counters below
# are written on the way out, so a second SIGTERM must not cut that short.
need python3 && check "a second SIGTERM 0.2-3 ms after the first: exit 0, counters written" \
    python3 "$here/server_exit.py" "$NATLAB" "$tmp" 10
# A TCP client that does not read: whole messages dropped, frames intact.
need python3 && check "TCP send queue full: whole messages dropped and counted, every frame intact" \
    python3 "$here/server_backlog.py" "$NATLAB" "$tmp"

need_root "the server tests"
need_or_exit turnutils_natdiscovery stun python3
up_scenario=

host_ip() { # host_ip SCENARIO HOST [N]: its Nth address from `up --json`
    python3 -c 'import json,sys
t=json.load(open(sys.argv[1]))
print([h for h in t["hosts"] if h["name"]==sys.argv[2]][0]["addresses"][int(sys.argv[3])-1])' \
        "$tmp/$1.json" "$2" "${3:-1}"
}

# Brings a scenario up; waits for the ready file of each server named, then
# for an answer (both bounded).
up() { # up FILE NAME SERVER-HOST...
    file=$1 name=$2
    shift 2
    up_scenario=$name
    if ! "$NATLAB" up "$file" --json >"$tmp/$name.json" 2>"$tmp/$name.err"; then
        fail "$name: natlab up: $(cat "$tmp/$name.err")"
        up_scenario=
        return 1
    fi
    for server in "$@"; do
        i=0
        while [ ! -s "$tmp/$name-$server.ready" ] && [ $i -lt 50 ]; do
            i=$((i + 1))
            sleep 0.1 # polling for readiness, bounded
        done
        if [ ! -s "$tmp/$name-$server.ready" ]; then
            fail "$name: natlab server on $server wrote no ready file"
            return 1
        fi
        if ! "$NATLAB" exec "$name" "$server" -- python3 "$probe" wait "$(host_ip "$name" "$server")" 3478; then
            fail "$name: natlab server on $server does not answer"
            return 1
        fi
    done
}


# A public host running natlab server; the scenario's name and the host's
# name key its ready file and counters.
server_host() { # server_host HOST ADDRESSES [EXTRA ARGS]
    alt=
    [ "$2" -ge 2 ] && alt='--alt-address $NATLAB_ADDRESS_2'
    cat <<EOF
[host $1]
addresses = $2
run = exec $NATLAB server --address \$NATLAB_ADDRESS_1 $alt ${3:-} --ready-file $tmp/\$NATLAB_SCENARIO-$1.ready --stats-out $tmp/\$NATLAB_SCENARIO-$1.stats.json

EOF
}

stat_of() { # stat_of FILE KEY: a counter from a --stats-out file
    python3 -c 'import json,sys
s=json.load(open(sys.argv[1]))
v=s["stun"].get(sys.argv[2], s.get(sys.argv[2]))
print(sum(v.values()) if isinstance(v, dict) else v)' "$1" "$2" 2>/dev/null || echo missing
}

# ---- third-party clients behind every preset ----------------------------

n=0
while IFS='|' read -r preset mapping filtering hairpin stun_status; do
    n=$((n + 1))
    # SERVER_PRESETS="a b" runs only those (for debugging).
    case " ${SERVER_PRESETS:-$preset} " in *" $preset "*) ;; *) continue ;; esac
    name=srv$n
    file=$tmp/$name.scn
    {
        printf '[scenario]\nname = %s\nseed = %d\n\n[nat gw]\npreset = %s\n\n[host alice]\nnat = gw\n\n' \
            "$name" "$n" "$preset"
        server_host stun 2 "--software natlab-test"
    } >"$file"
    if ! up "$file" "$name" stun; then
        [ -n "$up_scenario" ] && down
        continue
    fi
    stun_ip=$(host_ip "$name" stun)
    alice_ip=$(host_ip "$name" alice)

    check_clients "$name" "$alice_ip" "$stun_ip" "$preset" "$mapping" "$filtering" "$hairpin" "$stun_status" "$tmp"
    check "$preset: natdiscovery sees an RFC 5780 server" grep -q "RFC 5780 response" "$tmp/$name.natdiscovery"
    check "$preset: natdiscovery: MAPPED-ADDRESS = XOR-MAPPED-ADDRESS (no ALG)" \
        sh -c "! grep -q 'ALG detected' '$tmp/$name.natdiscovery'"
    down
    # The answers came from natlab server: its counters, written on SIGTERM.
    stats=$tmp/$name-stun.stats.json
    classic=$(stat_of "$stats" classic_requests)
    modern=$(stat_of "$stats" requests)
    if [ "$classic" != missing ] && [ "$classic" -gt 0 ] && [ "$modern" -gt "$classic" ]; then
        pass "$preset: natlab server answered $modern requests ($classic RFC 3489) and exited cleanly"
    else
        fail "$preset: natlab server counters: requests '$modern', classic '$classic' ($stats)"
    fi
done <<EOF
$CLIENT_EXPECTATIONS
EOF

# ---- RFC 5780 details, from a public client ------------------------------
# srvproto: stun (two addresses), solo (one address), client (public).
file=$tmp/srvproto.scn
{
    printf '[scenario]\nname = srvproto\n\n'
    server_host stun 2 "--software natlab-test"
    server_host solo 1
    printf '[host client]\naddresses = 1\n'
} >"$file"
if ! up "$file" srvproto stun solo; then
    [ -n "$up_scenario" ] && down
else
    A1=$(host_ip srvproto stun 1)
    A2=$(host_ip srvproto stun 2)
    S1=$(host_ip srvproto solo 1)
    C=$(host_ip srvproto client 1)
    ask() { # ask NAME IP PORT ARGS...: probe from the client into $tmp/NAME.out
        o=$1
        shift
        "$NATLAB" exec srvproto client -- python3 "$probe" probe "$@" >"$tmp/$o.out" 2>&1
    }
    has() { # has NAME KEY=VALUE
        grep -qx "$2" "$tmp/$1.out" || { echo "    $1: wanted $2, got:"; sed 's/^/      /' "$tmp/$1.out"; return 1; }
    }
    lacks() { # lacks NAME KEY
        ! grep -q "^$2=" "$tmp/$1.out" || { echo "    $1: has $2"; return 1; }
    }

    ask plain "$A1" 3478 --lport 41000
    check "plain request: answered from A1:P1" has plain "reply_from=$A1:3478"
    check "plain request: XOR-MAPPED-ADDRESS is the client" has plain "xor_mapped=$C:41000"
    check "plain request: MAPPED-ADDRESS is the client" has plain "mapped=$C:41000"
    check "plain request: RESPONSE-ORIGIN A1:P1" has plain "response_origin=$A1:3478"
    check "plain request: OTHER-ADDRESS A2:P2" has plain "other_address=$A2:3479"
    check "plain request: FINGERPRINT valid" has plain "fingerprint=ok"
    check "plain request: header length matches the datagram" has plain "length_ok=yes"
    check "plain 20-byte request: 76-byte answer (the amplification floor), no SOFTWARE" \
        sh -c "grep -qx size=76 '$tmp/plain.out' && ! grep -q ^software= '$tmp/plain.out'"

    for change in ip port both; do
        case $change in ip) want=$A2:3478 ;; port) want=$A1:3479 ;; both) want=$A2:3479 ;; esac
        ask "change-$change" "$A1" 3478 --change "$change"
        check "CHANGE-REQUEST $change: answered from $want" has "change-$change" "reply_from=$want"
        check "CHANGE-REQUEST $change: RESPONSE-ORIGIN $want" has "change-$change" "response_origin=$want"
        check "CHANGE-REQUEST $change: OTHER-ADDRESS still A2:P2" has "change-$change" "other_address=$A2:3479"
    done
    ask other "$A2" 3479
    check "request to A2:P2: OTHER-ADDRESS is A1:P1" has other "other_address=$A1:3478"
    check "request to A2:P2: answered from A2:P2" has other "reply_from=$A2:3479"

    ask rport "$A1" 3478 --lport 41010 --response-port 41011 --change both
    check "RESPONSE-PORT: the answer goes to that port" has rport "reply_to_port=41011"
    check "RESPONSE-PORT: still from the socket CHANGE-REQUEST picks" has rport "reply_from=$A2:3479"
    check "RESPONSE-PORT: XOR-MAPPED-ADDRESS is the sending port" has rport "xor_mapped=$C:41010"

    ask pad "$A1" 3478 --padding 200 --fingerprint
    check "PADDING: a 1500-byte answer (fragmented on a 1500-byte MTU)" has pad "size=1500"
    check "PADDING: answer carries PADDING" grep -q "^padding=" "$tmp/pad.out"
    check "PADDING: FINGERPRINT valid over the padded answer" has pad "fingerprint=ok"
    ask padport "$A1" 3478 --lport 41020 --padding 16 --response-port 41021
    check "PADDING + RESPONSE-PORT: 400" has padport "error=400"
    check "PADDING + RESPONSE-PORT: the 400 goes back to the source port" has padport "reply_to_port=41020"
    check "PADDING + RESPONSE-PORT: error class 0x0111" has padport "type=0x0111"

    ask unknown "$A1" 3478 --unknown 0024
    check "unknown comprehension-required attribute: 420" has unknown "error=420"
    check "420 lists it in UNKNOWN-ATTRIBUTES" has unknown "unknown=0x0024"
    ask optional "$A1" 3478 --unknown c057
    check "unknown optional attribute: ignored, answered" has optional "type=0x0101"

    ask software "$A1" 3478 --software "a client whose requests are big enough to pay for the SOFTWARE of the answer" --fingerprint
    check "SOFTWARE in an answer the request pays for" has software "software=natlab-test"

    ask classic "$A1" 3478 --classic
    check "RFC 3489 request: all 16 id bytes echoed" has classic "id_echo=yes"
    check "RFC 3489 request: only MAPPED, SOURCE, CHANGED" has classic "types=0x0001,0x0004,0x0005"
    check "RFC 3489 request: SOURCE-ADDRESS A1:P1" has classic "source=$A1:3478"
    check "RFC 3489 request: CHANGED-ADDRESS A2:P2" has classic "changed=$A2:3479"
    ask classic-ip "$A1" 3478 --classic --change ip
    check "RFC 3489 change-IP (the classic test II): answered from A2:P1" has classic-ip "reply_from=$A2:3478"

    "$NATLAB" exec srvproto client -- python3 "$probe" junk "$A1" 3478 >"$tmp/junk.out" 2>&1
    check "malformed datagrams, responses, indications, other methods: no answer" test $? -eq 0
    "$NATLAB" exec srvproto client -- python3 "$probe" wait "$A1" 3478
    check "still answering after the junk" test $? -eq 0

    ask solo "$S1" 3478
    check "one-address server: answers" has solo "type=0x0101"
    check "one-address server: no OTHER-ADDRESS" lacks solo other_address
    ask solo-change "$S1" 3478 --change port
    check "one-address server: CHANGE-REQUEST -> 420" has solo-change "error=420"
    check "one-address server: 420 lists CHANGE-REQUEST" has solo-change "unknown=0x0003"
    ask solo-alt "$S1" 3479
    check "one-address server: answers on the alternate port" has solo-alt "response_origin=$S1:3479"
    ask solo-classic "$S1" 3478 --classic
    check "one-address server, RFC 3489: no CHANGED-ADDRESS" has solo-classic "types=0x0001,0x0004"

    # ---- STUN over TCP (RFC 8489 section 6.2.2) on the same four pairs ----
    tcp() { # tcp NAME IP PORT ARGS...
        o=$1
        shift
        "$NATLAB" exec srvproto client -- python3 "$probe" tcp "$@" >"$tmp/$o.out" 2>&1
    }
    for ep in "$A1:3478" "$A1:3479" "$A2:3478" "$A2:3479"; do
        tcp "tcp-$ep" "${ep%:*}" "${ep#*:}" --count 3
        check "TCP $ep: three pipelined requests, three answers" has "tcp-$ep" "answers=3"
        check "TCP $ep: RESPONSE-ORIGIN $ep" has "tcp-$ep" "response_origin=$ep"
        check "TCP $ep: XOR-MAPPED-ADDRESS is the connection's source" \
            sh -c "grep -qx \"xor_mapped=\$(sed -n 's/^local=//p' '$tmp/tcp-$ep.out')\" '$tmp/tcp-$ep.out'"
    done
    check "TCP: OTHER-ADDRESS A2:P2" has "tcp-$A1:3478" "other_address=$A2:3479"
    tcp tcp-change "$A1" 3478 --change ip
    check "TCP: CHANGE-REQUEST -> 400 (UDP only, as coturn)" has tcp-change "error=400"
    tcp tcp-split "$A1" 3478 --padding 8
    check "TCP: PADDING -> 400" has tcp-split "error=400"
    tcp tcp-cb-open "$A1" 3478 --lport 42000 --listen --connect-back "$C:42000" --from-other
    check "TCP connect-back from A2 to a listening port: connected" has tcp-cb-open "connect_outcome=connected"
    check "TCP connect-back: from A2" sh -c "grep -q '^connect_source=$A2:' '$tmp/tcp-cb-open.out'"
    check "TCP connect-back: the client accepted it" has tcp-cb-open "accepted=1"
    tcp tcp-cb-rst "$A1" 3478 --connect-back "$C:42001"
    check "TCP connect-back to a closed port: reset" has tcp-cb-rst "connect_outcome=reset"
    "$NATLAB" exec srvproto client -- iptables -w -A INPUT -p tcp --dport 42002 -j REJECT --reject-with icmp-port-unreachable
    tcp tcp-cb-icmp "$A1" 3478 --connect-back "$C:42002"
    check "TCP connect-back answered by ICMP port unreachable: icmp 3/3 (told from a RST)" \
        sh -c "grep -qx connect_outcome=icmp '$tmp/tcp-cb-icmp.out' && grep -qx connect_icmp=3/3 '$tmp/tcp-cb-icmp.out'"
    tcp tcp-cb-other "$A1" 3478 --connect-back "$A2:80"
    check "TCP connect-back to another host: 403" has tcp-cb-other "error=403"
    for kind in garbage oversized split; do
        "$NATLAB" exec srvproto client -- python3 "$probe" tcpjunk "$A1" 3478 $kind >"$tmp/tcpjunk-$kind.out" 2>&1
        check "TCP $kind stream: $([ $kind = split ] && echo answered || echo closed without an answer)" test $? -eq 0
    done

    down
    stats=$tmp/srvproto-stun.stats.json
    tcp_stat() { python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["tcp"][sys.argv[2]])' "$stats" "$1" 2>/dev/null || echo missing; }
    check "TCP counters: a malformed stream closed and counted (1)" test "$(tcp_stat closed_malformed)" = 1
    check "TCP counters: an oversized message closed and counted (1)" test "$(tcp_stat closed_oversized)" = 1
    check "TCP counters: 3 connect-backs started, 1 refused" \
        test "$(stat_of "$stats" connect_backs)/$(stat_of "$stats" connect_back_refused)" = 3/1
    check "SIGTERM: clean exit, the ready file removed" test ! -e "$tmp/srvproto-stun.ready"
    check "counters: malformed datagrams dropped and counted (7)" test "$(stat_of "$stats" dropped)" = 7
    check "counters: a response, an indication, another method dropped (3)" \
        test "$(stat_of "$stats" dropped_not_request)" = 3
    check "counters: 5 error answers (400 for PADDING+RESPONSE-PORT, 420 for 0x0024; TCP: 400 twice, 403)" \
        test "$(stat_of "$stats" errors_sent)" = 5
    check "counters: 2 RFC 3489 requests" test "$(stat_of "$stats" classic_requests)" = 2
    check "counters: no send errors" test "$(stat_of "$stats" send_errors)" = 0
fi

# ---- rendezvous and relay over TCP (issue 13) -----------------------------
# alice behind udp-blocked and carol behind corporate (only TCP 80/443 and
# UDP 53 out) reach the server on TCP 443 only; bob, public, over UDP. Both
# meet alice and relay to her and back (UDP <-> TCP and TCP <-> TCP through
# the relay); a bad tag on a TCP stream is dropped and counted, the stream
# kept; a garbage stream is closed and counted; the counters show the TCP
# clients, one of them still connected when the server stops.
printf 'tcp lab secret\n' >"$tmp/tcp-secret"
file=$tmp/srvtcp.scn
{
    printf '[scenario]\nname = srvtcp\nseed = 13\n\n[nat blk]\npreset = udp-blocked\n\n'
    printf '[nat corp]\npreset = corporate\n\n[host alice]\nnat = blk\n\n[host carol]\nnat = corp\n\n'
    printf '[host bob]\naddresses = 1\n\n'
    server_host stun 2 "--secret $tmp/tcp-secret"
} >"$file"
if ! up "$file" srvtcp stun; then
    [ -n "$up_scenario" ] && down
else
    S=$(host_ip srvtcp stun 1)
    client() { # client HOST OUT COMMAND ARGS...: agent_client.py on HOST into $tmp/OUT.out
        c_host=$1 c_out=$2
        shift 2
        "$NATLAB" exec srvtcp "$c_host" -- python3 "$here/agent_client.py" "$@" \
            --secret "$tmp/tcp-secret" >"$tmp/$c_out.out" 2>&1
    }
    shows() { # shows OUT LINE
        grep -qx "$2" "$tmp/$1.out" || { echo "    $1: wanted $2, got:"; sed 's/^/      /' "$tmp/$1.out"; return 1; }
    }
    client alice udp-blocked register "$S:3478" --udp --name alice --timeout 2
    check "udp-blocked: a REGISTER over UDP does not get through" test $? -eq 1
    client alice listen listen "$S:443" --tcp --name alice --expect 2 &
    alice_pid=$!
    wait_for 10 grep -q '^registered=' "$tmp/listen.out"
    check "udp-blocked: alice registers over TCP 443" test $? -eq 0
    client bob bob connect "$S:3478" --udp --name bob --peer alice
    check "bob (UDP) meets alice (TCP): relayed to her and back" shows bob "pong=alice"
    check "bob controls the session" shows bob "peer=alice role=1 peer_endpoint=$(sed -n 's/^registered=//p' "$tmp/listen.out")"
    client carol carol connect "$S:443" --tcp --name carol --peer alice
    check "corporate: carol (TCP 443) meets alice (TCP 443): relayed to her and back" shows carol "pong=alice"
    wait "$alice_pid"
    check "alice answered both pings on her one connection, each in its session" \
        sh -c "grep -qx done=2 '$tmp/listen.out' && grep -qx pinged_by=bob '$tmp/listen.out' && grep -qx pinged_by=carol '$tmp/listen.out'"
    client alice badtag badtag "$S:443" --tcp --name alice2
    check "a REGISTER with a bad tag on TCP: dropped, the stream kept, the next REGISTER answered" \
        shows badtag "bad_tag_ignored=1"
    client carol garbage garbage "$S:443"
    check "a garbage stream on TCP 443: closed without a byte" shows garbage "closed=1 bytes=0"
    # One client still connected when the server stops.
    client carol dave listen "$S:443" --tcp --name dave --timeout 60 &
    dave_pid=$!
    wait_for 10 grep -q '^registered=' "$tmp/dave.out"
    check "dave registered over TCP before the server stops" test $? -eq 0
    # Stopped before `natlab down` ends dave: the counters see him connected.
    kill -TERM "$(cat "$tmp/srvtcp-stun.ready")"
    wait_for 10 test ! -e "$tmp/srvtcp-stun.ready"
    check "the server stops on SIGTERM with a TCP client connected" test $? -eq 0
    wait "$dave_pid"
    down
    stats=$tmp/srvtcp-stun.stats.json
    if python3 - "$stats" "$S" >"$tmp/tcp-stats.out" 2>&1 <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
r, t, ip = d["rendezvous"], d["tcp"], sys.argv[2]
assert ip + ":443" in t["listeners"] and ip + ":3478" in t["listeners"], t["listeners"]
assert r["tcp_registrations"] >= 4, r        # alice, carol, alice2, dave
assert r["active_tcp_clients"] == 1, r       # dave, connected at the end
assert r["sessions"] == 2 and r["relayed_packets"] >= 4, r
assert r["dropped"]["auth"] == 1, r["dropped"]
assert t["closed_malformed"] == 1 and t["closed_oversized"] == 0, t
assert t["agent_messages"] >= 9 and t["agent_connections"] == 1, t
assert t["send_errors"] == 0 and t["dropped_backlog"] == 0, t
PY
    then
        pass "counters: TCP listeners (443), TCP clients (1 still connected), relayed, 1 bad tag, 1 garbage stream"
    else
        fail "TCP counters: $(tail -n 1 "$tmp/tcp-stats.out") ($stats)"
    fi
fi

echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
