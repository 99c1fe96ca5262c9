#!/bin/sh
# natlab netcheck in the netns lab. Behind natsim, for every preset and for
# seeded random profiles (NCK_PROFILES, default 50; some with 5% loss, some
# with the lifetime search), netcheck against `natlab server` must report
# what the profile configures, and the profile it writes, loaded into natsim
# and measured again, must come out the same. Against coturn's turnserver
# the mapping, filtering and hairpin verdicts must be the ones it gives
# against natlab server. Behind the kernel's own MASQUERADE it must report
# EIM by port preservation, APDF, no hairpin and conntrack's UDP timeout.
# The TCP keys too (tcp-mapping, tcp-filtering, tcp-allocation,
# tcp-unsolicited-syn, allow-out-tcp, as natsim's TCP view of the profile
# has them), for every preset and random profile, and explicit TCP cases:
# each answer to an unsolicited SYN, TCP refused, a TCP mapping unlike the
# UDP one, the corporate preset (UDP refused) with the server on its usual
# ports and on 443/80.
# Also: bad arguments, an unreachable server, UDP blocked.
# NCK_PART=presets runs only the presets, NCK_PART=rest the rest (CI runs the
# two halves as two tests beside each other); unset, everything.
# usage: test_netcheck.sh NATLAB   (root; exit 77 = skipped)
set -u
NATLAB=$(readlink -f "$1")
here=$(cd "$(dirname "$0")" && pwd)
cmp="$here/netcheck_compare.py"

# shellcheck source=tests/lib.sh
. "$here/../lib.sh"

# ---- the command line (no root needed) ----------------------------------
"$NATLAB" netcheck --help >/dev/null 2>&1
check "natlab netcheck --help: exit 0" test $? -eq 0
usage_errors netcheck "" "--server" "--server 1.2.3.4:0" "--server 1.2.3.4:x" "--server :3478" \
    "--server 1.2.3.4 --lifetime-max 1s" "--server 1.2.3.4 --lifetime-max soon" \
    "--server 1.2.3.4 --gateway 1.2.3" "--server 1.2.3.4 --frob"

need_root "the netcheck tests"
need_or_exit turnserver python3 iptables

scratch netcheck
chmod 755 "$tmp"
: >"$tmp/empty.conf"
up_scenario=

host_ip() { # host_ip SCENARIO HOST: its first address from `up --json`
    python3 -c 'import json,sys
t=json.load(open(sys.argv[1]))
print([h for h in t["hosts"] if h["name"]==sys.argv[2]][0]["addresses"][0])' "$tmp/$1.json" "$2"
}

# The scenario: NAT gw (KEYS on stdin's lines), alice behind it, natlab server
# on `stun` and (with coturn=1) coturn on `turn`, both with two addresses.
scenario() { # scenario NAME COTURN < NAT-KEYS
    printf '[scenario]\nname = %s\nseed = 7\n\n[nat gw]\n' "$1"
    cat
    printf '\n[host alice]\nnat = gw\n\n[host stun]\naddresses = 2\n'
    printf 'run = exec %s server --address $NATLAB_ADDRESS_1 --alt-address $NATLAB_ADDRESS_2 %s--ready-file %s/$NATLAB_SCENARIO.ready\n' \
        "$NATLAB" "${server_args:+$server_args }" "$tmp"
    if [ "$2" = 1 ]; then
        printf '\n[host turn]\naddresses = 2\n'
        printf 'run = exec turnserver -c %s/empty.conf -L $NATLAB_ADDRESS_1 -L $NATLAB_ADDRESS_2 --no-cli --no-tls --no-dtls --log-file stdout --simple-log --pidfile %s/turn-$NATLAB_SCENARIO.pid\n' \
            "$tmp" "$tmp"
    fi
}

# natlab server's extra arguments (ports) for the next scenario().
server_args=

# Brings a scenario up; waits (bounded) for natlab server's ready file and
# coturn's sockets on both addresses.
up() { # up NAME COTURN
    up_scenario=$1
    rm -f "$tmp/$1.ready"
    if ! "$NATLAB" up "$tmp/$1.scn" --json >"$tmp/$1.json" 2>"$tmp/$1.err"; then
        fail "$1: natlab up: $(cat "$tmp/$1.err")"
        up_scenario=
        return 1
    fi
    # (sh has no locals: the helpers' variables have names of their own.)
    up_tries=0
    while [ ! -s "$tmp/$1.ready" ] && [ $up_tries -lt 50 ]; do
        up_tries=$((up_tries + 1))
        sleep 0.1 # polling for readiness, bounded
    done
    [ -s "$tmp/$1.ready" ] || { fail "$1: natlab server is not ready"; return 1; }
    [ "$2" = 1 ] || return 0
    up_tries=0
    while [ $up_tries -lt 100 ]; do
        up_listening=$("$NATLAB" exec "$1" turn -- cat /proc/net/udp 2>/dev/null | awk '$2 ~ /:0D96$/' | wc -l)
        [ "$up_listening" -ge 2 ] && return 0
        up_tries=$((up_tries + 1))
        sleep 0.1 # polling for readiness, bounded
    done
    fail "$1: turnserver did not listen on both addresses"
    return 1
}


# netcheck from alice; the kernel drops a packet whose source is one of its
# own addresses unless accept_local is on, and an internal-source hairpin
# back to the same host is exactly that.
netcheck() { # netcheck NAME SERVER-HOST OUT-PREFIX [ARGS...]
    nc_name=$1 nc_server=$2 nc_out=$3
    shift 3
    "$NATLAB" exec "$nc_name" alice -- sh -c \
        'sysctl -qw net.ipv4.conf.all.accept_local=1 net.ipv4.conf.eth0.accept_local=1' 2>/dev/null
    "$NATLAB" exec "$nc_name" alice -- "$NATLAB" netcheck --server "$(host_ip "$nc_name" "$nc_server")" \
        --json --profile-out "$nc_out.ini" "$@" >"$nc_out.json" 2>"$nc_out.err"
}

configured() { # configured NAME < NAT-KEYS: the normalised profile as JSON
    { printf '[nat]\n'; cat; } >"$tmp/$1.conf.ini"
    "$NATLAB" profile check "$tmp/$1.conf.ini" --json >"$tmp/$1.conf.json"
}

total=0
right=0
part() { [ -z "${NCK_PART:-}" ] || [ "$NCK_PART" = "$1" ]; }
# Measures NAT-KEYS behind natsim; checks the result, then replays the
# written profile and measures it again. LIFETIME: a --lifetime-max or "".
round_trip() { # round_trip NAME COTURN LIFETIME < NAT-KEYS
    name=$1 coturn=$2 lifetime=$3
    cat >"$tmp/$name.keys"
    configured "$name" <"$tmp/$name.keys" || { fail "$name: natlab profile check"; return; }
    scenario "$name" "$coturn" <"$tmp/$name.keys" >"$tmp/$name.scn"
    up "$name" "$coturn" || { down; return; }
    # The lifetime search runs without the TCP tests: the other cases
    # cover TCP, and a held or dropped SYN costs 6-9 s a run.
    largs=
    [ -n "$lifetime" ] && largs="--lifetime-max $lifetime --no-tcp"
    # shellcheck disable=SC2086 # largs is words or none
    netcheck "$name" stun "$tmp/$name.a" $largs
    rc=$?
    total=$((total + 1))
    flags=
    [ -n "$lifetime" ] && flags="--lifetime --no-tcp"
    # shellcheck disable=SC2086 # flags is words or none
    if out=$(python3 "$cmp" check "$tmp/$name.conf.json" "$tmp/$name.a.json" $flags); then
        right=$((right + 1))
        pass "$name ($(grep -v '^$' "$tmp/$name.keys" | tr '\n' ' ')): measured as configured (exit $rc$([ -n "$lifetime" ] && echo ", timeout $(python3 -c 'import json,sys;print(json.load(open(sys.argv[1])).get("timeout"))' "$tmp/$name.a.json")"))"
    else
        fail "$name: measured differently (exit $rc): $(tr '\n' ';' <"$tmp/$name.keys")
$out
$(cat "$tmp/$name.a.err")"
    fi
    if [ "$coturn" = 1 ]; then
        netcheck "$name" turn "$tmp/$name.t"
        if out=$(python3 "$cmp" verdicts "$tmp/$name.a.json" "$tmp/$name.t.json"); then
            pass "$name: the same mapping, filtering and hairpin against coturn"
        else
            fail "$name: coturn gives other verdicts:
$out
$(cat "$tmp/$name.t.err")"
        fi
    fi
    down
    # The replay: the written profile as the NAT, measured again.
    if [ "$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1])).get("type"))' "$tmp/$name.a.json" 2>/dev/null)" = blocked ]; then
        return
    fi
    rname=$(echo "$name" | sed 's/^nck/nckr/')
    { printf 'profile = %s\n' "$tmp/$name.a.ini"; grep '^loss' "$tmp/$name.keys"; } >"$tmp/$rname.keys"
    scenario "$rname" 0 <"$tmp/$rname.keys" >"$tmp/$rname.scn"
    up "$rname" 0 || { down; return; }
    # shellcheck disable=SC2086
    netcheck "$rname" stun "$tmp/$rname.a" $largs
    if out=$(python3 "$cmp" same-profile "$tmp/$name.a.ini" "$tmp/$rname.a.ini"); then
        pass "$name: its profile replays to the same measurement"
    else
        fail "$name: the replayed profile measures differently:
$out"
    fi
    down
}

# ---- every preset, against natlab server and coturn ----------------------
if part presets; then
i=0
for preset in $("$NATLAB" presets --json | python3 -c 'import json,sys
d=json.load(sys.stdin)
d=d.get("presets", d) if isinstance(d, dict) else d
print(" ".join(p["name"] if isinstance(p, dict) else p for p in d))'); do
    i=$((i + 1))
    pm=
    case $preset in no-nat | firewall | udp-blocked) ;; *)
        pm="port-mapping = $(echo none nat-pmp pcp nat-pmp,pcp | cut -d' ' -f$((i % 4 + 1)))" ;;
    esac
    printf 'preset = %s\n%s\n' "$preset" "$pm" >"$tmp/keys"
    round_trip "nckp$i" 1 "" <"$tmp/keys"
done
fi # presets

# ---- the rest: lifetimes, TCP, random profiles, blocked, MASQUERADE ------
if part rest; then
# Two presets with short timeouts: the lifetime search, with and without loss.
# (No pipes into round_trip: its counters must survive, so no subshell.)
printf 'preset = port-restricted-cone\ntimeout = 5s\n' >"$tmp/keys"
round_trip nckl1 0 20s <"$tmp/keys"
printf 'preset = symmetric\ntimeout = 4s\nrefresh = both\nloss = 5%%\n' >"$tmp/keys"
round_trip nckl2 0 20s <"$tmp/keys"
printf 'preset = firewall\ntimeout = 6s\n' >"$tmp/keys"
round_trip nckl3 0 20s <"$tmp/keys"

# ---- TCP ------------------------------------------------------------------
# Each answer to an unsolicited SYN (hold: an ICMP after RFC 5382's 6 s),
# TCP refused (an allow-list without the server's ports reads as none), a
# TCP mapping and filtering unlike UDP's. The round trip compares the TCP
# keys; the evidence must show the answer itself.
syn_case() { # syn_case NAME ANSWER < NAT-KEYS
    round_trip "$1" 0 ""
    if out=$(python3 "$cmp" syn-evidence "$tmp/$1.a.json" "$2"); then
        pass "$1: the unsolicited SYN met $2 ($out)"
    else
        fail "$1: the unsolicited SYN's evidence is not $2: $out"
    fi
}
printf 'preset = port-restricted-cone\ntcp-unsolicited-syn = hold\n' >"$tmp/keys"
syn_case nckt1 hold <"$tmp/keys"
printf 'preset = full-cone\ntcp-unsolicited-syn = drop\n' >"$tmp/keys"
syn_case nckt2 drop <"$tmp/keys"
printf 'preset = restricted-cone\ntcp-unsolicited-syn = rst\n' >"$tmp/keys"
syn_case nckt3 rst <"$tmp/keys"
printf 'preset = symmetric\ntcp-unsolicited-syn = icmp\n' >"$tmp/keys"
syn_case nckt4 icmp <"$tmp/keys"
printf 'preset = port-restricted-cone\nallow-out-tcp = none\n' >"$tmp/keys"
round_trip nckt5 0 "" <"$tmp/keys"
printf 'preset = full-cone\nallow-out-tcp = 80,443\nrefused = reject\n' >"$tmp/keys"
round_trip nckt6 0 "" <"$tmp/keys"
printf 'mapping = endpoint-independent\nfiltering = address-and-port-dependent\ntcp-mapping = address-and-port-dependent\ntcp-allocation = sequential\n' >"$tmp/keys"
round_trip nckt7 0 "" <"$tmp/keys"
printf 'mapping = address-dependent\nfiltering = address-dependent\nallocation = random\ntcp-mapping = endpoint-independent\ntcp-filtering = endpoint-independent\ntcp-allocation = preserve\n' >"$tmp/keys"
round_trip nckt8 0 "" <"$tmp/keys"

# corporate: UDP out only to 53, TCP only to 80 and 443, the rest dropped.
# Against the server on 3478/3479 (the preset round trip above) netcheck says
# UDP blocked and claims nothing about TCP: a silent TCP next to a silent UDP
# could be a server that is down. With the server on 443 and 80, TCP gets
# through: the profile still says blocked (UDP is), the TCP evidence shows
# the NAT behind it.
server_args="--port 443 --alt-port 80"
printf 'preset = corporate\n' | scenario nckc 0 >"$tmp/nckc.scn"
server_args=
if up nckc 0; then
    "$NATLAB" exec nckc alice -- "$NATLAB" netcheck --server "$(host_ip nckc stun):443" \
        --json --profile-out "$tmp/c.ini" >"$tmp/c.json" 2>"$tmp/c.err"
    rc=$?
    check "corporate, server on 443/80: exit 2, UDP blocked ($(cat "$tmp/c.err"))" test $rc -eq 2
    if out=$(python3 "$cmp" corporate "$tmp/c.json" "$tmp/c.ini"); then
        pass "corporate, server on 443/80: $out"
    else
        fail "corporate, server on 443/80: $out"
    fi
    down
fi

# ---- seeded random profiles ----------------------------------------------
n=${NCK_PROFILES:-50}
seed=1
while [ "$seed" -le "$n" ]; do
    python3 "$cmp" random "$seed" "$tmp/random$seed.ini"
    life=
    [ $((seed % 5)) -eq 0 ] && life=15s
    grep -v '^\[nat\]\|^#' "$tmp/random$seed.ini" >"$tmp/keys"
    round_trip "nck$seed" 0 "$life" <"$tmp/keys"
    seed=$((seed + 1))
done
echo "ACCURACY: $right of $total netcheck runs behind natsim measured as configured"

# ---- an unreachable server, UDP blocked ------------------------------------
printf 'preset = full-cone\n' | scenario ncku 0 >"$tmp/ncku.scn"
if up ncku 0; then
    stun_ip=$(host_ip ncku stun)
    start=$(date +%s)
    "$NATLAB" exec ncku alice -- "$NATLAB" netcheck --server "$stun_ip:4000" >"$tmp/u.out" 2>"$tmp/u.err"
    rc=$?
    check "no server on the port: exit 1 ($(cat "$tmp/u.err"))" test $rc -eq 1
    check "no server on the port: said at once" test $(($(date +%s) - start)) -le 2
    "$NATLAB" exec ncku alice -- "$NATLAB" netcheck --server nonexistent.invalid >/dev/null 2>"$tmp/u.err"
    check "an unresolvable name: exit 1 ($(cat "$tmp/u.err"))" test $? -eq 1
    down
fi
printf 'preset = udp-blocked\n' | scenario nckb 0 >"$tmp/nckb.scn"
if up nckb 0; then
    start=$(date +%s)
    netcheck nckb stun "$tmp/b"
    rc=$?
    check "UDP blocked: exit 2 ($(cat "$tmp/b.err"))" test $rc -eq 2
    check "UDP blocked: given up within 8 s" test $(($(date +%s) - start)) -le 8
    check "UDP blocked: the profile says so" grep -q '^type = blocked$' "$tmp/b.ini"
    down
fi

# ---- the kernel's own NAT ----------------------------------------------------
# No natsim daemon: the router namespace forwards, and MASQUERADE translates.
# A SYN to a port no connection uses meets the router's own stack: a reset.
export NATLAB_NO_NAT_DAEMON=1
printf 'preset = port-restricted-cone\n' | scenario nckm 1 >"$tmp/nckm.scn"
if up nckm 1; then
    ns=$(python3 -c 'import json,sys
t=json.load(open(sys.argv[1]))
n=[n for n in t["nats"] if n["name"]=="gw"][0]
print(n.get("namespace", ""))' "$tmp/nckm.json" 2>/dev/null)
    [ -n "$ns" ] || ns=$(ip netns list | awk '{print $1}' | grep -- '-nckm-gw$' | head -1)
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
    ip netns exec "$ns" iptables -w -t nat -A POSTROUTING -o wan -j MASQUERADE
    conntrack_timeout=$(ip netns exec "$ns" sysctl -n net.netfilter.nf_conntrack_udp_timeout)
    netcheck nckm stun "$tmp/m" --lifetime-max 60s
    rc=$?
    cat >"$tmp/m.conf.json" <<EOF
{"type": "nat", "mapping": "endpoint-independent", "filtering": "address-and-port-dependent",
 "allocation": "preserve", "preserve-fallback": "random", "port-parity": "ignore",
 "hairpin": "off", "timeout": "${conntrack_timeout}s", "refresh": "both", "public-ips": 1,
 "pooling": "paired", "port-mapping": "none", "tcp-unsolicited-syn": "rst"}
EOF
    if out=$(python3 "$cmp" check "$tmp/m.conf.json" "$tmp/m.json" --lifetime); then
        pass "MASQUERADE: EIM by preservation, APDF, no hairpin, timeout ${conntrack_timeout}s (exit $rc)"
    else
        fail "MASQUERADE measured otherwise:
$out
$(cat "$tmp/m.err")"
    fi
    netcheck nckm turn "$tmp/mt"
    if out=$(python3 "$cmp" verdicts "$tmp/m.json" "$tmp/mt.json"); then
        pass "MASQUERADE: the same verdicts against coturn"
    else
        fail "MASQUERADE: coturn gives other verdicts: $out"
    fi
    down
fi
unset NATLAB_NO_NAT_DAEMON
fi # rest

echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
