#!/bin/sh
# TCP through natsim (RFC 5382, RFC 7857) with third-party programs: curl
# fetches a page from python3's http.server and iperf3 moves data, from
# behind every translating preset and a double NAT (corporate: only port 80
# of the two gets out); an idle session outlives
# a gap shorter than tcp-established-timeout and dies after a longer one as
# tcp-no-session says (rst: a reset at once; drop: silence until
# TCP_USER_TIMEOUT); an unsolicited SYN gets exactly the configured answer
# (hold, drop, rst, icmp), seen with tshark on the public side; TCP
# simultaneous open (socat on both sides) forms one connection, and skewed
# SYNs fail against rst and succeed against hold (RFC 5382 REQ-4).
# usage: test_tcp.sh NATLAB   (root; exit 77 = skipped)
set -u
NATLAB=$1
here=$(cd "$(dirname "$0")" && pwd)
tool=$here/tcp_tool.py
# shellcheck source=tests/lib.sh
. "$here/../lib.sh"
need_root "the TCP tests"
need_or_exit python3 curl iperf3 socat tshark ss
scratch tcp
sc=nstcp
owns_scenario "$sc"
x() { "$NATLAB" exec "$sc" "$@"; }

presets="full-cone restricted-cone port-restricted-cone symmetric symmetric-sequential home-router openwrt cgnat"
{
    printf '[scenario]\nname = %s\nseed = 31\n\n' "$sc"
    for p in $presets; do printf '[nat %s]\npreset = %s\n\n[host h-%s]\nnat = %s\n\n' "$p" "$p" "$p" "$p"; done
    printf '[nat isp]\npreset = cgnat\n\n[nat dbl]\npreset = home-router\nbehind = isp\n\n'
    printf '[host h-dbl]\nnat = dbl\n\n'
    printf '[nat corporate]\npreset = corporate\n\n[host h-corporate]\nnat = corporate\n\n'
    # Idle sessions: established sessions time out after 3 s.
    for m in rst drop; do
        printf '[nat ses-%s]\npreset = port-restricted-cone\ntcp-established-timeout = 3s\n' "$m"
        printf 'tcp-no-session = %s\n\n[host h-ses-%s]\nnat = ses-%s\n\n' "$m" "$m" "$m"
    done
    for m in hold drop rst icmp; do
        printf '[nat syn-%s]\npreset = port-restricted-cone\ntcp-unsolicited-syn = %s\n\n' "$m" "$m"
        printf '[host h-syn-%s]\nnat = syn-%s\n\n' "$m" "$m"
    done
    # Simultaneous open: the presets' own answer to the early SYN, then
    # skewed SYNs against rst and against hold.
    for n in so-a so-b sk-a sk-b; do printf '[nat %s]\npreset = port-restricted-cone\n\n' "$n"; done
    for m in rst hold; do printf '[nat sk-%s]\npreset = port-restricted-cone\ntcp-unsolicited-syn = %s\n\n' "$m" "$m"; done
    for n in so-a so-b sk-a sk-b sk-rst sk-hold; do printf '[host h-%s]\nnat = %s\n\n' "$n" "$n"; done
    # shellcheck disable=SC2016 # $NATLAB_ADDRESS_1 is the run command's to expand
    printf '[host web]\naddresses = 1\nrun = exec python3 -m http.server --bind $NATLAB_ADDRESS_1 8080\n\n'
    # shellcheck disable=SC2016
    printf '[host web80]\naddresses = 1\nrun = exec python3 -m http.server --bind $NATLAB_ADDRESS_1 80\n\n'
    printf '[host perf]\naddresses = 1\nrun = exec iperf3 -s -p 5201\n\n'
    # shellcheck disable=SC2016
    printf '[host echo]\naddresses = 1\nrun = exec python3 %s serve $NATLAB_ADDRESS_1 7000\n\n' "$tool"
    printf '[host prober]\naddresses = 1\n'
} >"$tmp/$sc.scn"
# The page the web host serves (from the scenario file's directory): 300 KB,
# more than any window, so segments, ACKs and window updates all cross.
head -c 300000 /dev/urandom >"$tmp/page.bin"
if ! "$NATLAB" up "$tmp/$sc.scn" --json >"$tmp/topo.json" 2>"$tmp/err"; then
    echo "FAIL: natlab up: $(cat "$tmp/err")"
    exit 1
fi
field() { python3 -c "import json,sys; t=json.load(open('$tmp/topo.json')); print($1)"; }
host_ip() { field "[h for h in t['hosts'] if h['name']=='$1'][0]['addresses'][0]"; }
public_of() { field "[n for n in t['nats'] if n['name']=='$1'][0]['public_addresses'][0]"; }
web=$(host_ip web)
perf=$(host_ip perf)
echo_ip=$(host_ip echo)
state=$(field 't["state_dir"]')
nat_stat() { # nat_stat NAT PYTHON-EXPRESSION-ON-s
    "$NATLAB" control "$sc" "$1" stats | python3 -c "import json,sys; s=json.load(sys.stdin); print($2)"
}
on_fail() { [ -n "${failed_nat:-}" ] && nat_stat "$failed_nat" 's["engine"]' 2>/dev/null | sed 's/^/    stats: /'; }
# shellcheck disable=SC2317 # called through wait_for
listening() { x "$1" -- ss -Hltn "sport = :$2" | grep -q LISTEN; }
for srv in "web 8080" "web80 80" "perf 5201" "echo 7000"; do
    # shellcheck disable=SC2086 # host and port
    wait_for 10 listening $srv || fail "$srv never listened"
done

# curl and iperf3 behind every translating preset and the double NAT.
want=$(md5sum <"$tmp/page.bin")
for p in $presets dbl; do
    failed_nat=$p
    if x "h-$p" -- curl -sS --max-time 10 -o "$tmp/got-$p" "http://$web:8080/page.bin" 2>"$tmp/curl-$p" &&
        [ "$(md5sum <"$tmp/got-$p")" = "$want" ]; then
        pass "$p: curl fetched 300 KB from http.server intact"
    else
        fail "$p: curl: $(cat "$tmp/curl-$p")"
    fi
    x "h-$p" -- iperf3 -c "$perf" -p 5201 -t 1 -J >"$tmp/iperf-$p" 2>&1
    mbps=$(python3 -c "import json; print(int(json.load(open('$tmp/iperf-$p'))['end']['sum_received']['bits_per_second'] / 1e6))" 2>/dev/null)
    if [ "${mbps:-0}" -gt 0 ]; then
        pass "$p: iperf3 moved $mbps Mbit/s"
    else
        fail "$p: iperf3: $(tail -c 300 "$tmp/iperf-$p")"
    fi
done
failed_nat=
isp_tcp=$(nat_stat isp 's["engine"]["tcp"]["outbound"]')
if [ "${isp_tcp:-0}" -gt 0 ]; then
    pass "the CGN beneath the home router translated TCP ($isp_tcp outbound)"
else
    fail "isp translated no TCP: $(nat_stat isp 's["engine"]')"
fi

# The corporate preset lets TCP out to ports 80 and 443 only (allow-out-tcp).
web80=$(host_ip web80)
if x h-corporate -- curl -sS --max-time 10 -o "$tmp/got-corporate" "http://$web80/page.bin" 2>"$tmp/curl-corporate" &&
    [ "$(md5sum <"$tmp/got-corporate")" = "$want" ]; then
    pass "corporate: curl to port 80 passes"
else
    fail "corporate: curl to port 80: $(cat "$tmp/curl-corporate")"
fi
if x h-corporate -- curl -sS --max-time 2 -o /dev/null "http://$web:8080/page.bin" 2>"$tmp/curl-corporate"; then
    fail "corporate: curl to port 8080 got through"
else
    pass "corporate: curl to port 8080 is stopped ($(cut -c1-60 "$tmp/curl-corporate"))"
fi

# Idle sessions (tcp-established-timeout = 3s): a 1 s gap is survived, after
# a 5 s gap the session is gone: rst answers the next segment with a reset,
# drop lets it vanish until TCP_USER_TIMEOUT (2 s) gives up.
for m in rst drop; do
    x "h-ses-$m" -- python3 "$tool" session "$echo_ip" 7000 6601 1 2000 >"$tmp/ses-$m-1" 2>&1 &
    x "h-ses-$m" -- python3 "$tool" session "$echo_ip" 7000 6602 5 2000 >"$tmp/ses-$m-5" 2>&1 &
done
wait
for m in rst drop; do
    case "$(cat "$tmp/ses-$m-1")" in
    ok*) pass "ses-$m: a 1 s idle gap (timeout 3 s) is survived: $(cat "$tmp/ses-$m-1")" ;;
    *) fail "ses-$m: after a 1 s gap: $(cat "$tmp/ses-$m-1")" ;;
    esac
done
read -r what secs _ <"$tmp/ses-rst-5"
if [ "$what" = reset ] && python3 -c "import sys; sys.exit(0 if $secs < 1 else 1)"; then
    pass "tcp-no-session = rst: after a 5 s gap the client is reset in $secs s"
else
    fail "tcp-no-session = rst: after a 5 s gap: $(cat "$tmp/ses-rst-5")"
fi
read -r what secs mapped <"$tmp/ses-drop-5"
if [ "$what" = timeout ] && grep -q "got one from $mapped\$" "$state/echo.log" &&
    ! grep -q "got two from $mapped\$" "$state/echo.log"; then
    pass "tcp-no-session = drop: after a 5 s gap the data never arrives (TCP_USER_TIMEOUT after $secs s)"
else
    fail "tcp-no-session = drop: after a 5 s gap: $(cat "$tmp/ses-drop-5"); echo saw: $(grep "from $mapped\$" "$state/echo.log" | tr '\n' ';')"
fi

# Unsolicited SYNs: each host behind syn-MODE keeps a connection to echo (its
# mapping); the prober, a stranger to the filter, connects to that mapping.
# tshark on the prober sees the NATs' answers.
x prober -- tshark -i eth0 -n -l -f "tcp or icmp" -a duration:14 -T fields -E occurrence=f \
    -e frame.time_epoch -e ip.src -e ip.dst -e tcp.flags.syn -e tcp.flags.reset -e icmp.type -e icmp.code \
    >"$tmp/capture" 2>"$tmp/tshark.err" &
capture=$!
wait_for 10 grep -q "Capturing on" "$tmp/tshark.err" || fail "tshark never started: $(cat "$tmp/tshark.err")"
for m in hold drop rst icmp; do
    x "h-syn-$m" -- python3 "$tool" hold "$echo_ip" 7000 6500 14 >"$tmp/mapped-$m" 2>&1 &
done
for m in hold drop rst icmp; do
    wait_for 10 test -s "$tmp/mapped-$m" || fail "syn-$m: no mapping to probe"
    x prober -- python3 "$tool" syn "$(cut -d: -f1 "$tmp/mapped-$m")" "$(cut -d: -f2 "$tmp/mapped-$m")" 9 \
        >"$tmp/syn-$m" 2>&1 &
done
wait "$capture"
# answer NAT-PUBLIC-IP: what came back from it: "rst", "icmp 3/3 after S s", or "none".
answer() {
    python3 - "$tmp/capture" "$1" <<'PY'
import sys
first_syn, answer = None, "none"
for line in open(sys.argv[1]):
    f = (line.rstrip("\n").split("\t") + [""] * 7)[:7]
    t, src, dst, syn, rst, itype, icode = f
    if dst == sys.argv[2] and syn in ("1", "True") and not itype and first_syn is None:
        first_syn = float(t)
    elif src == sys.argv[2] and answer == "none":
        if itype:
            answer = "icmp %s/%s after %.1f s" % (itype, icode, float(t) - (first_syn or float(t)))
        elif rst in ("1", "True"):
            answer = "rst"
        else:
            answer = "other " + line.strip()
print(answer if first_syn is not None else "no-syn-seen")
PY
}
for m in hold drop rst icmp; do
    pub=$(public_of "syn-$m")
    got=$(answer "$pub")
    client=$(cat "$tmp/syn-$m")
    case "$m:$got" in
    hold:"icmp 3/3 after "[5-7].*) ok=1 ;;
    drop:none) ok=1 ;;
    rst:rst) ok=1 ;;
    icmp:"icmp 3/3 after 0".*) ok=1 ;;
    *) ok=0 ;;
    esac
    if [ $ok -eq 1 ]; then
        pass "tcp-unsolicited-syn = $m: tshark saw $got (the prober's connect: $client)"
    else
        failed_nat=syn-$m
        fail "tcp-unsolicited-syn = $m: tshark saw '$got' (the prober's connect: $client)"
        failed_nat=
    fi
done

# Simultaneous open (RFC 5382 section 4 / REQ-2 of RFC 5128's TCP): each
# host binds its port and connects to the other's public address and port
# (preserved) at about the same time; one connection carries both lines.
a_pub=$(public_of so-a)
b_pub=$(public_of so-b)
printf 'from-a\n' | x h-so-a -- socat -t 3 - "TCP:$b_pub:6402,bind=:6401,reuseaddr,connect-timeout=8" >"$tmp/so-a" 2>&1 &
printf 'from-b\n' | x h-so-b -- socat -t 3 - "TCP:$a_pub:6401,bind=:6402,reuseaddr,connect-timeout=8" >"$tmp/so-b" 2>&1 &
wait
if [ "$(cat "$tmp/so-a")" = from-b ] && [ "$(cat "$tmp/so-b")" = from-a ]; then
    pass "simultaneous open with socat: one connection, data both ways"
else
    fail "simultaneous open: a got '$(cat "$tmp/so-a")', b got '$(cat "$tmp/so-b")'"
fi

# Skewed SYNs: the early side's SYN reaches the late side's NAT first.
# Against rst it is refused (and so is the late side's); against hold the
# late side's SYN releases the pair and both connect within 6 s.
skew() { # skew EARLY-NAT LATE-NAT PORT-EARLY PORT-LATE
    sk_early=$(public_of "$1")
    sk_late=$(public_of "$2")
    x "h-$1" -- python3 "$tool" simopen "$3" "$sk_late" "$4" 8 early once >"$tmp/skew-$2-early" 2>&1 &
    sleep 1 # the skew is what is tested
    x "h-$2" -- python3 "$tool" simopen "$4" "$sk_early" "$3" 8 late once >"$tmp/skew-$2-late" 2>&1
    wait
    early=$(cat "$tmp/skew-$2-early")
    late=$(cat "$tmp/skew-$2-late")
}
skew sk-a sk-rst 6501 6502
case "$early:$late" in
refused*:connected*) fail "skewed SYNs against rst: early '$early', late '$late' (the late side should fail too)" ;;
refused*) pass "skewed SYNs against tcp-unsolicited-syn = rst: the early side refused ($early), the late side '$late'" ;;
*) fail "skewed SYNs against rst: early '$early', late '$late'" ;;
esac
skew sk-b sk-hold 6601 6602
case "$early:$late" in
"connected late "*:"connected early "[0-5].*)
    pass "skewed SYNs against tcp-unsolicited-syn = hold: both connected (early '$early', late '$late')" ;;
*) fail "skewed SYNs against hold: early '$early', late '$late'" ;;
esac

"$NATLAB" down "$sc" >/dev/null || fail "natlab down $sc"
finish
