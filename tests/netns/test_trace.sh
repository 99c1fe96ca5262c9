#!/bin/sh
# Route tracing through natsim with Debian's own tools: from a host behind one
# NAT and from a host behind a double NAT (a home router behind a CGN),
# traceroute -I (ICMP echo), traceroute (UDP), traceroute -T (TCP SYN) and
# tracepath (UDP) each list every router hop with its address, then the
# destination. The time-exceeded errors of the upstream routers reach the
# host only if each NAT translates the ICMP error's embedded packet back
# (RFC 5508 REQ-3, RFC 5382 REQ-9). The expected hops come from `natlab up
# --json`, not from this file.
# usage: test_trace.sh NATLAB   (root; exit 77 = skipped)
set -u
NATLAB=$1
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib.sh
. "$here/../lib.sh"
need_root "the trace tests"
need_or_exit python3 traceroute tracepath
scratch trace
sc=nstrace
owns_scenario "$sc"

cat >"$tmp/$sc.scn" <<EOF
[scenario]
name = $sc
seed = 21

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
EOF
if ! "$NATLAB" up "$tmp/$sc.scn" --json >"$tmp/topo.json" 2>"$tmp/err"; then
    echo "FAIL: natlab up: $(cat "$tmp/err")"
    exit 1
fi
field() { python3 -c "import json,sys; t=json.load(open('$tmp/topo.json')); print($1)"; }
lan_of() { field "[n for n in t['nats'] if n['name']=='$1'][0]['lan_address']"; }
pub=$(field '[h for h in t["hosts"] if h["name"]=="pub"][0]["addresses"][0]')
# The path each host must see: its NATs' inside addresses, nearest first, then pub.
path_alice="$(lan_of single) $pub"
path_carol="$(lan_of home) $(lan_of isp) $pub"

# Each router answers a given peer at most 6 time-exceeded errors at once and
# one a second after that (net.ipv4.icmp_ratelimit); four tools in a row from
# the same host would run into it. The limit is not what is tested here.
for n in single isp home; do
    "$NATLAB" exec "$sc" "$n" -- sysctl -qw net.ipv4.icmp_ratelimit=0 || fail "icmp_ratelimit in $n"
done

# hops TOOL-OUTPUT-FILE: the first address of every hop line, in order ("*" when none).
hops() {
    python3 - "$1" <<'PY'
import re, sys
seen = {}
for line in open(sys.argv[1]):
    m = re.match(r"\s*(\d+)\??:?\s+(.*)", line)
    if not m or "LOCALHOST" in line:
        continue
    hop = int(m.group(1))
    a = re.search(r"\b(\d+\.\d+\.\d+\.\d+)\b", m.group(2))
    if a and hop not in seen:
        seen[hop] = a.group(1)
    seen.setdefault(hop, "*")
print(" ".join(seen[h] for h in sorted(seen)))
PY
}

# trace HOST PATH NAME COMMAND...: COMMAND's hops on HOST equal PATH.
trace() {
    tr_host=$1 tr_path=$2 tr_name=$3
    shift 3
    "$NATLAB" exec "$sc" "$tr_host" -- "$@" >"$tmp/out" 2>&1
    got=$(hops "$tmp/out")
    if [ "$got" = "$tr_path" ]; then
        pass "$tr_name from $tr_host: $got"
    else
        fail "$tr_name from $tr_host: hops '$got', expected '$tr_path'"
        sed 's/^/    /' "$tmp/out"
    fi
}

for h in alice carol; do
    if [ $h = alice ]; then path=$path_alice; else path=$path_carol; fi
    trace "$h" "$path" "traceroute -I (ICMP echo)" traceroute -n -I -q 2 -w 2 -m 6 "$pub"
    trace "$h" "$path" "traceroute (UDP)" traceroute -n -q 2 -w 2 -m 6 "$pub"
    trace "$h" "$path" "traceroute -T (TCP SYN to port 80)" traceroute -n -T -p 80 -q 2 -w 2 -m 6 "$pub"
    trace "$h" "$path" "tracepath (UDP)" tracepath -n -m 6 "$pub"
done

# The ICMP errors crossed as translations, not as drops.
for n in single isp home; do
    got=$("$NATLAB" control "$sc" "$n" stats |
        python3 -c "import json,sys; s=json.load(sys.stdin); print(s['icmp_translated'], s['drops']['icmp-no-mapping'])")
    case "$got" in
    "0 "*) fail "$n translated no ICMP error (icmp_translated, icmp-no-mapping: $got)" ;;
    *) pass "$n translated ICMP errors (icmp_translated, icmp-no-mapping: $got)" ;;
    esac
done
"$NATLAB" down "$sc" >/dev/null || fail "natlab down $sc"
finish
