#!/bin/sh
# UPnP IGD on natsim, driven by miniupnpc's upnpc (Debian miniupnpc): a host
# behind a NAT that offers UPnP discovers the gateway by SSDP, reads its
# external address, maps UDP and TCP ports, is reached from the internet
# through them, lists and deletes them; another host may not map for it
# (606) nor take its port (718); a NAT without UPnP answers nothing; a
# reboot loses the mappings; netcheck reports UPnP beside NAT-PMP and PCP.
# upnpc is run with -i: the emulated internet is 198.18.0.0/15, which
# miniupnpc counts as reserved, so it calls the IGD "not connected?".
# usage: test_upnp.sh NATLAB   (root; exit 77 = skipped)
set -u
NATLAB=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") # absolute: the stun host runs it too
here=$(cd "$(dirname "$0")" && pwd)
tool=$here/udp_tool.py
# shellcheck source=tests/lib.sh
. "$here/../lib.sh"
need_root "the UPnP tests"
need_or_exit python3 upnpc
scratch upnp
sc=nsupnp
owns_scenario "$sc"
x() { "$NATLAB" exec "$sc" "$@"; }
ctl() { "$NATLAB" control "$sc" gw "$@"; }
stat_of() { # stat_of PYTHON-EXPRESSION-ON-s
    ctl stats | python3 -c "import json,sys; s=json.load(sys.stdin); print($1)"
}
# upnpc HOST ARGS...: upnpc on HOST, its output in $tmp/out, its status returned.
upnpc_on() {
    upnpc_host=$1
    shift
    x "$upnpc_host" -- upnpc -i "$@" >"$tmp/out" 2>&1
}
on_fail() { sed 's/^/    /' "$tmp/out" 2>/dev/null; }

cat >"$tmp/$sc.scn" <<EOF
[scenario]
name = $sc
seed = 12

# OpenWrt with miniupnpd: UPnP IGD, NAT-PMP and PCP.
[nat gw]
preset = openwrt

# The same NAT without UPnP.
[nat plain]
preset = home-router
port-mapping = nat-pmp,pcp

[host alice]
nat = gw

[host bob]
nat = gw

[host carol]
nat = plain

[host ext]
addresses = 1

[host stun]
addresses = 2
run = exec $NATLAB server --address \$NATLAB_ADDRESS_1 --alt-address \$NATLAB_ADDRESS_2 --ready-file $tmp/ready
EOF
if ! "$NATLAB" up "$tmp/$sc.scn" --json >"$tmp/topo.json" 2>"$tmp/err"; then
    echo "FAIL: natlab up: $(cat "$tmp/err")"
    exit 1
fi
field() { python3 -c "import json,sys; t=json.load(open('$tmp/topo.json')); print($1)"; }
host_ip() { field "[h for h in t['hosts'] if h['name']=='$1'][0]['addresses'][0]"; }
alice=$(host_ip alice)
bob=$(host_ip bob)
gw_lan=$(field "[h for h in t['hosts'] if h['name']=='alice'][0]['gateway']")
public=$(field "[n for n in t['nats'] if n['name']=='gw'][0]['public_addresses'][0]")

# Discovery, description, external address (upnpc -l: SSDP, GET rootDesc.xml,
# GetConnectionTypeInfo, GetStatusInfo, GetExternalIPAddress, listing).
if upnpc_on alice -l && grep -q "desc: http://$gw_lan:5000/rootDesc.xml" "$tmp/out"; then
    pass "upnpc -l finds the IGD on the gateway's inside address ($gw_lan:5000)"
else
    fail "upnpc -l found no IGD at $gw_lan:5000"
fi
check "upnpc reads the external address $public" grep -q "^ExternalIPAddress = $public\$" "$tmp/out"
check "upnpc talks from alice's inside address $alice" grep -q "^Local LAN ip address : $alice\$" "$tmp/out"
check "the status is Connected" grep -q "^Status : Connected" "$tmp/out"
check "no mapping listed yet (713 ends the list at index 0)" grep -q "returned 713" "$tmp/out"

# A UDP mapping, used from the internet.
x alice -- timeout 60 python3 "$tool" reflect 0.0.0.0 5001 &
if upnpc_on alice -e natlab-udp -a "$alice" 5001 6001 UDP 120 &&
    grep -q "external $public:6001 UDP is redirected to internal $alice:5001" "$tmp/out"; then
    pass "AddPortMapping UDP $public:6001 -> $alice:5001"
else
    fail "AddPortMapping UDP 6001 -> 5001"
fi
seen=$(x ext -- python3 "$tool" ask "$public" 6001 7000)
ext_ip=$(host_ip ext)
[ "$seen" = "$ext_ip:7000" ] && pass "a datagram from the internet to $public:6001 reached alice (she saw $seen)" ||
    fail "nothing from the internet reached alice through 6001 (got '$seen')"

# A TCP mapping: granted, listed, and a web server behind it reached from outside.
x alice -- timeout 60 python3 -m http.server --bind 0.0.0.0 5002 >/dev/null 2>&1 &
if upnpc_on alice -e natlab-tcp -a "$alice" 5002 6002 TCP 0 &&
    grep -q "external $public:6002 TCP is redirected to internal $alice:5002 (duration=86400)" "$tmp/out"; then
    pass "AddPortMapping TCP 6002 -> 5002, lease 0 capped at port-mapping-lifetime-max (86400 s)"
else
    fail "AddPortMapping TCP 6002 -> 5002 with lease 0"
fi
upnpc_on alice -l
check "upnpc -l lists the UDP mapping with its description" \
    grep -Eq "UDP +6001->$alice:5001 +'natlab-udp' ''" "$tmp/out"
check "upnpc -l lists the TCP mapping" grep -Eq "TCP +6002->$alice:5002 +'natlab-tcp' ''" "$tmp/out"
# The server is up once alice reaches it herself (bounded; no fixed sleep).
tries=0
until x alice -- curl -s -m 1 -o /dev/null "http://$alice:5002/" || [ $tries -ge 50 ]; do
    tries=$((tries + 1))
    sleep 0.1
done
code=$(x ext -- curl -s -m 5 -o /dev/null -w '%{http_code}' "http://$public:6002/")
[ "$code" = 200 ] && pass "curl from the internet to $public:6002 reaches alice's web server through the TCP mapping" ||
    fail "curl to $public:6002 through the TCP mapping: '$code'"
check "the engine holds both as explicit mappings" sh -c \
    "'$NATLAB' control '$sc' gw mappings | grep -q '\"external\":\"$public:6001\"'"

# Another host may not map for alice (606), nor take her port (718);
# AddAnyPortMapping gives it another port.
upnpc_on bob -a "$alice" 5005 6005 UDP 60
check "bob mapping for alice's address: 606 Action not authorized" grep -q "failed with code 606" "$tmp/out"
upnpc_on bob -a "$bob" 5001 6001 UDP 60
check "bob asking for alice's 6001: 718 ConflictInMappingEntry" grep -q "failed with code 718" "$tmp/out"
if upnpc_on bob -n "$bob" 5001 6001 UDP 60 &&
    grep -Eq "external $public:[0-9]+ UDP is redirected to internal $bob:5001" "$tmp/out" &&
    ! grep -q "external $public:6001 UDP" "$tmp/out"; then
    pass "AddAnyPortMapping gives bob another port ($(grep -o "$public:[0-9]*" "$tmp/out" | tail -1))"
else
    fail "AddAnyPortMapping for bob"
fi
upnpc_on bob -d 6001 UDP
check "bob deleting alice's mapping: 606" grep -q "failed with code : 606" "$tmp/out"

# Delete: the port is closed again.
upnpc_on alice -d 6001 UDP
check "DeletePortMapping 6001 UDP" grep -q "UPNP_DeletePortMapping() returned : 0" "$tmp/out"
seen=$(x ext -- python3 "$tool" ask "$public" 6001 7001)
[ -z "$seen" ] && pass "after the delete nothing reaches alice through 6001" ||
    fail "after the delete the internet still reaches alice ($seen)"
upnpc_on alice -d 6001 UDP
check "deleting it again: 714 NoSuchEntryInArray" grep -q "failed with code : 714" "$tmp/out"

# A NAT without UPnP: no answer to SSDP, upnpc finds no IGD (status 1).
x carol -- upnpc -l >"$tmp/out" 2>&1
status=$?
if [ "$status" -eq 1 ] && grep -q "No IGD UPnP Device found" "$tmp/out"; then
    pass "behind a NAT without UPnP upnpc finds no IGD (exit status 1)"
else
    fail "behind a NAT without UPnP: upnpc exit status $status"
fi

# A reboot loses every mapping, UPnP's too.
upnpc_on alice -e again -a "$alice" 5001 6001 UDP 120
seen=$(x ext -- python3 "$tool" ask "$public" 6001 7002)
[ "$seen" = "$ext_ip:7002" ] && pass "mapped again, alice reachable" || fail "the new mapping does not reach alice"
upnpc_on alice -l
before=$(sed -n 's/.*uptime=\([0-9]*\)s.*/\1/p' "$tmp/out")
check "natlab control reboot" sh -c "[ \"\$('$NATLAB' control '$sc' gw reboot)\" = ok ]"
upnpc_on alice -l
check "after the reboot upnpc -l lists nothing" grep -q "returned 713" "$tmp/out"
after=$(sed -n 's/.*uptime=\([0-9]*\)s.*/\1/p' "$tmp/out")
[ -n "$before" ] && [ -n "$after" ] && [ "$after" -lt "$before" ] &&
    pass "after the reboot the gateway's uptime starts again (${before}s, then ${after}s)" ||
    fail "uptime before the reboot '$before', after '$after'"
seen=$(x ext -- python3 "$tool" ask "$public" 6001 7003)
[ -z "$seen" ] && pass "after the reboot nothing reaches alice through 6001" ||
    fail "after the reboot the internet still reaches alice ($seen)"

# netcheck: UPnP beside NAT-PMP and PCP, confirmed by the description.
wait_for 10 test -s "$tmp/ready" || fail "natlab server is not ready"
stun=$(host_ip stun)
netcheck_pm() { # netcheck_pm HOST: the port-mapping key and the UPnP evidence
    x "$1" -- "$NATLAB" netcheck --server "$stun" --json 2>"$tmp/out" | python3 -c "
import json, sys
j = json.load(sys.stdin)
e = j['evidence']['port-mapping']
print(j['port-mapping'], e['upnp']['answered'], e['upnp-igd'], e['upnp-location'])"
}
got=$(netcheck_pm alice)
[ "$got" = "nat-pmp,pcp,upnp True True http://$gw_lan:5000/rootDesc.xml" ] &&
    pass "netcheck behind openwrt: $got" || fail "netcheck behind openwrt: '$got'"
got=$(netcheck_pm carol)
[ "$got" = "nat-pmp,pcp False False None" ] &&
    pass "netcheck behind a NAT without UPnP: $got" || fail "netcheck behind a NAT without UPnP: '$got'"

# Counters, and malformed HTTP answered 400 and counted, never a crash.
x alice -- python3 -c "
import socket
s = socket.create_connection(('$gw_lan', 5000), timeout=5)
s.sendall(b'garbage\r\n\r\n')
print(s.recv(100).split(b'\r\n')[0].decode())" >"$tmp/out" 2>&1
check "garbage on the HTTP port gets 400" grep -q "HTTP/1.1 400" "$tmp/out"
[ "$(stat_of 's["upnp"]["http"]["bad-request"] >= 1 and s["upnp"]["ssdp"]["answered"] >= 1 and s["upnp"]["soap"]["faults-by-code"]["718"] >= 1')" = True ] &&
    pass "stats count SSDP answers, 400s and faults by code" || fail "upnp stats: $(stat_of 's.get("upnp")')"
upnpc_on alice -l
check "the daemon still answers after the garbage" grep -q "^ExternalIPAddress = $public\$" "$tmp/out"

finish
