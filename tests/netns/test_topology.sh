#!/bin/bash
# natlab up / exec / down in real namespaces (root). Usage: test_topology.sh NATLAB [SRCDIR]
# Prints PASS:/FAIL: lines; exits 1 on any failure, 77 (skip) when not root.
# Only touches scenarios named nltest*, and `down --all` only when no other
# natlab topology is on the machine.
set -u
natlab=$(readlink -f "${1:?usage: test_topology.sh NATLAB [SRCDIR]}")
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

need_root "netns topology tests (sudo ctest -L netns)"
need_or_exit ip python3

scratch topology
# 63 characters each: scenario, NAT and host names as long as allowed.
long_scn=nltest-long-names-port-restricted-vs-symmetric-reboot-with-63-c
long_nat=port-restricted-cone-nat-at-home-behind-the-carrier-grade-nat-a
long_host=a-laptop-on-the-home-network-running-the-connecting-agent-alice
long_pub=a-public-host-on-the-emulated-internet-answering-udp-echo-serve
bg_pids=""

# A process is gone once it is dead, even if nobody has reaped it yet (init here reaps lazily).
gone() { [ ! -e "/proc/$1" ] || grep -q '^[0-9]* (.*) [ZX] ' "/proc/$1/stat" 2>/dev/null; }
ours() { ip netns list | awk '{print $1}' | grep -E '^natlab-nltest' || true; }

cleanup() {
    for p in $bg_pids; do kill -9 "$p" 2>/dev/null; done
    for s in nltest nltest-b nltest-c; do "$natlab" down $s >/dev/null 2>&1; done
    "$natlab" down "$long_scn" >/dev/null 2>&1
    for ns in $(ours); do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    rm -rf /run/natlab/natlab-nltest /run/natlab/natlab-nltest-[bc] /run/natlab/.natlab-nltest*
}
at_cleanup cleanup
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# ---- files ------------------------------------------------------------------------
cat > "$tmp/echo.py" <<'EOF'
# UDP echo on every address given; answers "ADDR:PORT" of the sender.
import select, socket, sys
socks = []
for a in sys.argv[1:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a, 7))
    socks.append(s)
while True:
    for s in select.select(socks, [], [])[0]:
        d, peer = s.recvfrom(2048)
        s.sendto(("%s:%d" % peer).encode(), peer)
EOF
cat > "$tmp/ask.py" <<'EOF'
# ask.py ADDR: one UDP query to ADDR:7, prints the answer (the source it saw).
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(b"?", (sys.argv[1], 7))
print(s.recvfrom(2048)[0].decode())
EOF
cat > "$tmp/nltest.scn" <<EOF
[scenario]
name = nltest
seed = 3

[nat isp]
preset = cgnat

[nat home]
preset = home-router
behind = isp           # double NAT

[host alice]
nat = home

[host carol]
nat = home

[host srv]
addresses = 2
run = exec python3 $tmp/echo.py \$NATLAB_ADDRESS_1 \$NATLAB_ADDRESS_2

[host pub]

[expect]
outcome = any   # the runner's: up checks it as natlab run does, and leaves it alone
EOF
# A fake 'natlab nat' for the daemon contract: records its arguments, then
# does what FAKE_MODE says.
cat > "$tmp/fake-nat" <<'EOF'
#!/bin/sh
echo "$*" > "$FAKE_DIR/args.$$"
ready=
while [ $# -gt 0 ]; do [ "$1" = --ready-file ] && ready=$2; shift; done
case $FAKE_MODE in
ready) : > "$ready"; exec sleep 1000 ;;
fail) echo "fake daemon: boom" >&2; exit 3 ;;
never) exec sleep 1000 ;;
esac
EOF
chmod +x "$tmp/fake-nat"
mkdir -p "$tmp/fake"
scn=$tmp/nltest.scn
export NATLAB_NO_NAT_DAEMON=1

host_state() { ip -o link; ip -o addr; ip route; ip rule; }
host_before=$(host_state)

# ---- a bad scenario: FILE:LINE, and nothing made ------------------------------------
printf '[host a]\nnat = nowhere\n' > "$tmp/bad.scn"
out=$("$natlab" up "$tmp/bad.scn" 2>&1); rc=$?
check "bad scenario fails" [ $rc -ne 0 ]
check "bad scenario names FILE:LINE, key, value and what is allowed" \
    grep -q "bad.scn:2: \[host a\] nat = nowhere: no such NAT; allowed" <<<"$out"
check "bad scenario creates nothing" [ -z "$(ip netns list | grep natlab-bad)" ]
check "bad scenario leaves no state" [ ! -e /run/natlab/natlab-bad ]

# ---- up ----------------------------------------------------------------------------------
"$natlab" down nltest >/dev/null 2>&1
t0=$(date +%s%N)
out=$("$natlab" up "$scn" 2>&1); rc=$?
up_ms=$(ms_since $t0)
check "up exits 0" [ $rc -eq 0 ]
[ $rc -eq 0 ] || { echo "$out"; echo "FAIL: cannot go on without a topology"; exit 1; }
echo "up took ${up_ms} ms (no NAT daemons)"
check "up prints the hosts" grep -q "srv .*198.19.1.1,198.19.1.2" <<<"$out"
want="natlab-nltest-alice natlab-nltest-carol natlab-nltest-home natlab-nltest-inet natlab-nltest-isp natlab-nltest-pub natlab-nltest-srv"
check "every namespace exists" [ "$(ours | sort | tr '\n' ' ')" = "$want " ]
check "state marker written" [ -e /run/natlab/natlab-nltest/up ]
check "topology.json is JSON" python3 -m json.tool /run/natlab/natlab-nltest/topology.json >/dev/null
check "host namespace untouched" [ "$(host_state)" = "$host_before" ]

addr_of() { ip -n "natlab-nltest-$1" -o -4 addr show dev "$2" | awk '{print $4}' | tr '\n' ' '; }
check "srv has two public addresses" [ "$(addr_of srv eth0)" = "198.19.1.1/15 198.19.1.2/15 " ]
check "isp has cgnat's two public addresses" [ "$(addr_of isp wan)" = "198.18.1.1/15 198.18.1.2/15 " ]
check "home's outside is on isp's LAN" [ "$(addr_of home wan)" = "10.1.0.2/24 " ]
check "home's LAN" [ "$(addr_of home lan)" = "10.2.0.1/24 " ]
check "alice on home's LAN" [ "$(addr_of alice eth0)" = "10.2.0.2/24 " ]
check "carol shares it" [ "$(addr_of carol eth0)" = "10.2.0.3/24 " ]
check "alice routes via home" grep -q "default via 10.2.0.1 dev eth0" <<<"$(ip -n natlab-nltest-alice route)"
check "home routes via isp" grep -q "default via 10.1.0.1 dev wan" <<<"$(ip -n natlab-nltest-home route)"
check "isp has the internet on-link" grep -q "198.18.0.0/15 dev wan" <<<"$(ip -n natlab-nltest-isp route)"
check "inet bridge has isp, srv, pub" [ "$(ip -n natlab-nltest-inet -o link show master br0 | grep -o 'v-[a-z]*' | sort | tr '\n' ' ')" = "v-isp v-pub v-srv " ]
check "rp_filter off in routers" [ "$(ip netns exec natlab-nltest-home cat /proc/sys/net/ipv4/conf/all/rp_filter)" = 0 ]
if ip netns exec natlab-nltest-home test -e /proc/sys/net/bridge/bridge-nf-call-iptables; then
    check "bridged frames bypass iptables" [ "$(ip netns exec natlab-nltest-home cat /proc/sys/net/bridge/bridge-nf-call-iptables)" = 0 ]
fi

# ---- up again: a clear error ----------------------------------------------------------------
out=$("$natlab" up "$scn" 2>&1); rc=$?
check "up twice fails" [ $rc -ne 0 ]
check "up twice says it is up" grep -q "already up" <<<"$out"
check "up twice leaves it up" [ -e /run/natlab/natlab-nltest/up ] && [ "$(ours | wc -l)" -eq 7 ]

# ---- exec -----------------------------------------------------------------------------------------
"$natlab" exec nltest alice -- sh -c 'exit 42'; rc=$?
check "exec returns the command's status" [ $rc -eq 42 ]
"$natlab" exec "$scn" alice -- true; rc=$?
check "exec takes the scenario file too" [ $rc -eq 0 ]
"$natlab" exec nltest alice -- no-such-command-here 2>/dev/null; rc=$?
check "exec: not found is 127" [ $rc -eq 127 ]
out=$("$natlab" exec nltest mallory -- true 2>&1); rc=$?
check "exec: unknown host is 125 and lists hosts" [ $rc -eq 125 ] && grep -q "allowed: alice, carol, srv, pub, isp, home" <<<"$out"
out=$("$natlab" exec nltest alice -- ip -o -4 addr show eth0)
check "exec runs in the host's namespace" grep -q "10.2.0.2/24" <<<"$out"
out=$("$natlab" exec nltest srv -- sh -c 'echo $NATLAB_HOST $NATLAB_ADDRESS_1 $NATLAB_ADDRESS_2')
check "exec sets NATLAB_HOST and NATLAB_ADDRESS_n" [ "$out" = "srv 198.19.1.1 198.19.1.2" ]
out=$(echo hello | "$natlab" exec nltest pub -- cat)
check "exec passes stdin and stdout" [ "$out" = hello ]
out=$("$natlab" exec nltest home -- ip -o -4 addr show lan)
check "exec works on a NAT router" grep -q "10.2.0.1/24" <<<"$out"

# ---- traffic on the emulated internet (no NAT involved) -------------------------------------------
wait_for 5 "$natlab" exec nltest srv -- sh -c 'ss -uln | grep -q 198.19.1.2:7'
out=$("$natlab" exec nltest pub -- python3 "$tmp/ask.py" 198.19.1.2 2>&1)
check "pub reaches srv's second address over the inet bridge" [ "$out" = "198.19.2.1:$(cut -d: -f2 <<<"$out")" ]
if command -v ping >/dev/null; then
    check "ping pub -> srv" "$natlab" exec nltest pub -- ping -c1 -W2 198.19.1.2 >/dev/null
fi
out=$("$natlab" exec nltest alice -- python3 "$tmp/ask.py" 198.19.1.1 2>&1); rc=$?
check "without natsim nothing leaves the LAN" [ $rc -ne 0 ]

# ---- down ---------------------------------------------------------------------------------------
run_pid=$(cut -d' ' -f1 /run/natlab/natlab-nltest/srv.pid)
check "run command is alive" kill -0 "$run_pid"
sleeper_pid=$( (setsid "$natlab" exec nltest carol -- sleep 1000 >/dev/null 2>&1 & echo $!) )
wait_for 5 sh -c "ip netns pids natlab-nltest-carol | grep -qx $sleeper_pid"
t0=$(date +%s%N)
"$natlab" down nltest >/dev/null; rc=$?
down_ms=$(ms_since $t0)
echo "down took ${down_ms} ms (no NAT daemons)"
check "down exits 0" [ $rc -eq 0 ]
check "down removes every namespace" [ -z "$(ours)" ]
check "down removes the state" [ ! -e /run/natlab/natlab-nltest ]
check "down stops the run command" gone $run_pid
check "down stops other processes in the namespaces" gone $sleeper_pid
check "host namespace untouched after down" [ "$(host_state)" = "$host_before" ]
out=$("$natlab" down nltest); rc=$?
check "down twice is fine" [ $rc -eq 0 ] && grep -q "was not up" <<<"$out"

# ---- the NAT daemon contract, with a fake daemon ------------------------------------------------
unset NATLAB_NO_NAT_DAEMON
export NATLAB_NAT_EXE=$tmp/fake-nat FAKE_DIR=$tmp/fake
rm -f "$tmp"/fake/*
FAKE_MODE=ready "$natlab" up --pcap "$scn" >/dev/null 2>"$tmp/err"; rc=$?
check "up with a daemon that becomes ready" [ $rc -eq 0 ]
[ $rc -eq 0 ] || cat "$tmp/err"
args=$(cat "$tmp"/fake/args.* 2>/dev/null | grep -- "--profile /run/natlab/natlab-nltest/home.profile")
state=/run/natlab/natlab-nltest
want="nat --profile $state/home.profile --inside lan --outside wan --public-ip 10.1.0.2 --seed [0-9]* --control $state/home.sock --pcap $state/pcap/home --ready-file $state/home.ready --stats-out $state/home.stats.json"
check "daemon command line" grep -qx -- "$want" <<<"$args"
args=$(cat "$tmp"/fake/args.* | grep -- "isp.profile")
check "daemon gets every public address" grep -q -- "--public-ip 198.18.1.1 --public-ip 198.18.1.2 " <<<"$args"
check "normalised profile written" grep -q "^public-ips = 198.18.1.1,198.18.1.2" $state/isp.profile
check "pcap directory made" [ -d $state/pcap/isp ]
daemon_pids=$(cat $state/isp.pid $state/home.pid | cut -d' ' -f1)
check "daemons run inside their router namespace" \
    sh -c "ip netns pids natlab-nltest-isp | grep -qx $(cut -d' ' -f1 $state/isp.pid)"
"$natlab" down nltest >/dev/null
for p in $daemon_pids; do check "down stops daemon $p" gone $p; done
check "nothing left after daemons" [ -z "$(ours)" ] && [ ! -e $state ]

out=$(FAKE_MODE=fail "$natlab" up "$scn" 2>&1); rc=$?
check "daemon that dies: up fails" [ $rc -ne 0 ]
check "daemon that dies: status and log tail" grep -q "exited with status 3" <<<"$out" && grep -q "fake daemon: boom" <<<"$out"
check "daemon that dies: nothing left" [ -z "$(ours)" ] && [ ! -e $state ]

rm -f "$tmp"/fake/*
out=$(FAKE_MODE=never NATLAB_READY_TIMEOUT=300ms "$natlab" up "$scn" 2>&1); rc=$?
check "daemon never ready: up fails" [ $rc -ne 0 ] && grep -q "not ready within 300 ms" <<<"$out"
check "daemon never ready: nothing left" [ -z "$(ours)" ] && [ ! -e $state ]
for f in "$tmp"/fake/args.*; do
    p=${f##*.}
    check "daemon never ready: daemon $p stopped" gone $p
done

# ---- SIGINT during up -------------------------------------------------------------------------------
rm -f "$tmp"/fake/*
FAKE_MODE=never NATLAB_READY_TIMEOUT=30s "$natlab" up "$scn" >/dev/null 2>"$tmp/err" &
up_pid=$!; bg_pids="$bg_pids $up_pid"
wait_for 10 sh -c "[ \$(ls $tmp/fake | wc -l) -ge 2 ]"
kill -INT $up_pid
wait $up_pid; rc=$?
check "SIGINT during up: exit 130" [ $rc -eq 130 ]
check "SIGINT during up: says so" grep -q "interrupted" "$tmp/err"
check "SIGINT during up: nothing left" [ -z "$(ours)" ] && [ ! -e $state ]
for f in "$tmp"/fake/args.*; do
    p=${f##*.}
    check "SIGINT during up: daemon $p stopped" gone $p
done

# ---- kill -9 during up: the next up reaps ----------------------------------------------------------
rm -f "$tmp"/fake/*
FAKE_MODE=never NATLAB_READY_TIMEOUT=30s "$natlab" up "$scn" >/dev/null 2>&1 &
up_pid=$!; bg_pids="$bg_pids $up_pid"
wait_for 10 sh -c "[ \$(ls $tmp/fake | wc -l) -ge 2 ]"
kill -9 $up_pid; wait $up_pid 2>/dev/null
check "kill -9 during up leaves a stale state" [ -d $state ] && [ ! -e $state/up ] && [ -n "$(ours)" ]
orphans=$(for f in "$tmp"/fake/args.*; do echo ${f##*.}; done)
# Plus a stray namespace nobody claims, with a process inside.
ip netns add natlab-nltest-stray
ip netns exec natlab-nltest-stray sleep 1000 &
stray_pid=$!; bg_pids="$bg_pids $stray_pid"
wait_for 5 sh -c "ip netns pids natlab-nltest-stray | grep -q ."
unset NATLAB_NAT_EXE
export NATLAB_NO_NAT_DAEMON=1
out=$("$natlab" up "$scn" 2>&1); rc=$?
check "next up reaps the killed run and comes up" [ $rc -eq 0 ] && [ -e $state/up ]
check "stray namespace reaped" [ -z "$(ip netns list | grep natlab-nltest-stray)" ]
wait $stray_pid 2>/dev/null
check "process in the stray namespace stopped" gone $stray_pid
for p in $orphans; do check "orphaned daemon $p stopped" gone $p; done
"$natlab" down nltest >/dev/null

# ---- names that meet: scenario nltest-c's inet is scenario nltest's host c-inet -----------------
printf '[scenario]\nname = nltest-c\n[host h]\n' > "$tmp/c.scn"
printf '[scenario]\nname = nltest\n[host c-inet]\n' > "$tmp/meet.scn"
"$natlab" up "$tmp/c.scn" >/dev/null
out=$("$natlab" up "$tmp/meet.scn" 2>&1); rc=$?
check "a namespace name taken by another topology: up fails" [ $rc -ne 0 ] && grep -q "natlab-nltest-c-inet exists already and belongs to another topology" <<<"$out"
check "... and leaves the other topology alone" [ -e /run/natlab/natlab-nltest-c/up ] && ip netns list | grep -q "^natlab-nltest-c-inet"
check "... and leaves no state of its own" [ ! -e $state ]
"$natlab" down nltest-c >/dev/null
check "other topology down" [ -z "$(ours)" ]

# ---- down --all (only when no other natlab topology is here) -------------------------------------
others=$(ls /run/natlab 2>/dev/null | grep -v '^natlab-nltest'; ip netns list | awk '{print $1}' | grep '^natlab-' | grep -v '^natlab-nltest')
if [ -z "$others" ]; then
    "$natlab" up "$scn" >/dev/null
    sed 's/^name = nltest/name = nltest-b/' "$scn" > "$tmp/nltest-b.scn"
    "$natlab" up "$tmp/nltest-b.scn" >/dev/null
    ip netns add natlab-nltest-stray2
    check "two topologies up at once" [ "$(ours | wc -l)" -eq 15 ]
    "$natlab" down --all >/dev/null; rc=$?
    check "down --all removes every natlab namespace" [ $rc -eq 0 ] && [ -z "$(ours)" ]
    check "down --all removes every state" [ -z "$(ls /run/natlab 2>/dev/null)" ]
else
    echo "SKIP: down --all (other natlab topologies are up here: $(echo $others))"
fi

# ---- with the real natsim daemon, when it runs here -------------------------------------------------
if [ -z "${NATLAB_TEST_NO_DAEMON:-}" ] && "$natlab" nat --help >/dev/null 2>&1; then
    unset NATLAB_NO_NAT_DAEMON
    t0=$(date +%s%N)
    out=$("$natlab" up "$scn" 2>&1); rc=$?
    up_ms=$(ms_since $t0)
    check "up with natsim daemons" [ $rc -eq 0 ]
    [ $rc -eq 0 ] || echo "$out"
    echo "up took ${up_ms} ms (with NAT daemons)"
    wait_for 5 "$natlab" exec nltest srv -- sh -c 'ss -uln | grep -q 198.19.1.1:7'
    seen=$("$natlab" exec nltest alice -- python3 "$tmp/ask.py" 198.19.1.1 2>&1)
    check "alice reaches srv through both NATs, seen as isp's address ($seen)" grep -q "^198.18.1.[12]:" <<<"$seen"
    t0=$(date +%s%N)
    "$natlab" down nltest >/dev/null
    down_ms=$(ms_since $t0)
    echo "down took ${down_ms} ms (with NAT daemons)"
    check "down after natsim leaves nothing" [ -z "$(ours)" ] && [ ! -e $state ]
else
    echo "SKIP: the natsim daemon part ('natlab nat' not usable here)"
fi

# ---- 63-character names: short namespaces and interfaces, the user's names everywhere else -------
cat > "$tmp/long.scn" <<EOF
[scenario]
name = $long_scn
seed = 5
[nat $long_nat]
preset = port-restricted-cone
[host $long_host]
nat = $long_nat
[host $long_pub]
EOF
if [ -z "${NATLAB_TEST_NO_DAEMON:-}" ] && "$natlab" nat --help >/dev/null 2>&1; then
    unset NATLAB_NO_NAT_DAEMON; long_daemon=1
else
    export NATLAB_NO_NAT_DAEMON=1; long_daemon=0
fi
"$natlab" up --json "$tmp/long.scn" >"$tmp/long.json" 2>"$tmp/long.err"; rc=$?
check "up with 63-character names" [ $rc -eq 0 ]
[ $rc -eq 0 ] || cat "$tmp/long.err"
check "up --json shows the user's names, namespaces short" \
    python3 - "$tmp/long.json" "$long_scn" "$long_nat" "$long_host" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))
assert t["scenario"] == sys.argv[2], t["scenario"]
assert [n["name"] for n in t["nats"]] == [sys.argv[3]]
assert t["hosts"][0]["name"] == sys.argv[4] and t["hosts"][0]["nat"] == sys.argv[3]
assert all(len(ns) <= 7 + 20 + 1 + 13 and ns.startswith("natlab-nltest") for ns in t["namespaces"])
EOF
long_ns=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["hosts"][0]["namespace"])' \
    "$tmp/long.json" 2>/dev/null)
check "the long host's namespace exists ($long_ns)" ip netns exec "$long_ns" true
out=$("$natlab" exec "$long_scn" "$long_host" -- \
    sh -c 'echo "$NATLAB_HOST $NATLAB_ADDRESS_1"; ip -o -4 addr show dev eth0' 2>&1); rc=$?
check "exec on a host by its 63-character name" [ $rc -eq 0 ] && grep -q "^$long_host 10.1.0.2$" <<<"$out"
check "its eth0 has its address" grep -q "inet 10.1.0.2/24" <<<"$out"
out=$("$natlab" exec "$tmp/long.scn" "$long_host" -- sh -c 'echo "$NATLAB_SCENARIO"' 2>&1)
check "exec through the scenario file: the scenario by its name" [ "$out" = "$long_scn" ]
out=$("$natlab" exec "$long_scn" "$long_nat" -- ip -o link show 2>&1)
too_long=$(echo "$out" | awk -F': ' '{sub(/@.*/, "", $2); if (length($2) > 15) print $2}')
check "every interface name fits IFNAMSIZ" [ -n "$out" ] && [ -z "$too_long" ]
out=$("$natlab" exec "$long_scn" nobody -- true 2>&1)
check "an unknown host: the allowed ones listed by their names" \
    grep -q "allowed: $long_host, $long_pub, $long_nat" <<<"$out"
if [ $long_daemon -eq 1 ]; then
    out=$("$natlab" control "$long_scn" "$long_nat" stats 2>&1); rc=$?
    check "control reaches the daemon of a NAT with a 63-character name" [ $rc -eq 0 ]
    [ $rc -eq 0 ] || echo "$out"
fi
"$natlab" down "$tmp/long.scn" >/dev/null 2>&1; rc=$?
check "down of the long-named scenario leaves nothing" [ $rc -eq 0 ] && [ -z "$(ours)" ]
unset NATLAB_NO_NAT_DAEMON

check "no natlab-nltest namespace left" [ -z "$(ours)" ]
if [ $failures -gt 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all topology checks passed"
