#!/usr/bin/env python3
"""natlab agent kind `nebula`: Slack's Nebula overlay VPN (Debian's nebula 1.6).

peer.py lighthouse   the public host's lighthouse and relay (the kind's `server`)
peer.py              one peer, its role from NATLAB_ROLE (docs/agents.md)

Each peer signs its own certificate with the scenario's CA, starts nebula with
JSON logging on a pipe and, once its tunnel to the lighthouse is up, proves the
overlay with UDP: the connector sends NATLAB_SEND messages to the listener's
overlay address and the listener echoes them. Whether the tunnel is direct or
relayed is read from nebula's own host map (`list-hostmap -json` over its
sshd: currentRemote set = nebula sends straight to that address; null = it
sends through the relay); when it became direct comes from nebula's handshake
and roaming log lines (kinds/nebula/README.md).
"""
import ctypes
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time

OVERLAY_NET = "100.64.0.0/24"
LIGHTHOUSE_IP = "100.64.0.1"
ROLE_IP = {"listen": "100.64.0.2", "connect": "100.64.0.3"}
LIGHTHOUSE_PORT = 4242
ECHO_PORT = 7777
SSH_PORT = 2222
SSH_USER = "natlab"
READY_FILE = "nebula-listen.ready"

T0 = time.monotonic()


def now_ms():
    return (time.monotonic() - T0) * 1000.0


def log(msg):
    sys.stderr.write("nebula-peer %s: %s\n" % (os.environ.get("NATLAB_ROLE", "lighthouse"), msg))
    sys.stderr.flush()


def env(name, default=None):
    v = os.environ.get(name, default)
    if v is None:
        raise SystemExit("nebula-peer: %s is not set (docs/agents.md lists the environment)" % name)
    return v


def run(argv):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), p.returncode, p.stdout.strip()))


def replace_file(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def base_config(shared, crt, key, listen_host, listen_port):
    # JSON is YAML: nebula reads this file with its YAML parser.
    with open(os.path.join(shared, "ssh_client_key.pub")) as f:
        client_key = f.read().strip()
    return {
        "pki": {"ca": os.path.join(shared, "ca.crt"), "cert": crt, "key": key},
        "listen": {"host": listen_host, "port": listen_port},
        "logging": {"level": "info", "format": "json",
                    "timestamp_format": "2006-01-02T15:04:05.000000Z07:00"},
        "firewall": {"outbound": [{"port": "any", "proto": "any", "host": "any"}],
                     "inbound": [{"port": "any", "proto": "any", "host": "any"}]},
        "sshd": {"enabled": True, "listen": "127.0.0.1:%d" % SSH_PORT,
                 "host_key": os.path.join(shared, "ssh_host_key"),
                 "authorized_users": [{"user": SSH_USER, "keys": [client_key]}]},
    }


def lighthouse():
    """Made once per topology: a fresh CA, the lighthouse's certificate, the
    sshd keys every peer uses; then nebula itself replaces this process."""
    shared = env("NATLAB_SHARED_DIR")
    server_ip = env("NATLAB_SERVER_IP")
    os.makedirs(shared, exist_ok=True)
    tmp = os.path.join(shared, "nebula-new")
    run(["rm", "-rf", tmp])
    os.makedirs(tmp)
    run(["nebula-cert", "ca", "-name", "natlab %s" % os.environ.get("NATLAB_SCENARIO", ""),
         "-out-crt", os.path.join(tmp, "ca.crt"), "-out-key", os.path.join(tmp, "ca.key")])
    run(["nebula-cert", "sign", "-ca-crt", os.path.join(tmp, "ca.crt"),
         "-ca-key", os.path.join(tmp, "ca.key"), "-name", "lighthouse",
         "-ip", LIGHTHOUSE_IP + "/24", "-out-crt", os.path.join(tmp, "lighthouse.crt"),
         "-out-key", os.path.join(tmp, "lighthouse.key")])
    for k in ("ssh_host_key", "ssh_client_key"):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "natlab-nebula",
             "-f", os.path.join(tmp, k)])
    # The CA last: a peer that sees ca.crt finds everything else beside it.
    names = ["lighthouse.crt", "lighthouse.key", "ssh_host_key", "ssh_client_key",
             "ssh_client_key.pub", "ssh_host_key.pub", "ca.key", "ca.crt"]
    for n in names:
        os.rename(os.path.join(tmp, n), os.path.join(shared, n))
    os.rmdir(tmp)
    cfg = base_config(shared, os.path.join(shared, "lighthouse.crt"),
                      os.path.join(shared, "lighthouse.key"), server_ip, LIGHTHOUSE_PORT)
    cfg["lighthouse"] = {"am_lighthouse": True}
    cfg["relay"] = {"am_relay": True, "use_relays": False}
    # A lighthouse and relay only forwards underlay packets: no overlay
    # interface, so nothing of it can outlive the topology.
    cfg["tun"] = {"disabled": True}
    path = os.path.join(shared, "lighthouse.yml")
    replace_file(path, json.dumps(cfg, indent=1) + "\n")
    sys.stdout.flush()
    os.execvp("nebula", ["nebula", "-config", path])


class Inotify:
    """Waits for a file to appear in a directory (IN_CREATE, IN_MOVED_TO)."""
    IN_CREATE, IN_MOVED_TO = 0x100, 0x80

    def __init__(self, directory):
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if libc.inotify_add_watch(self.fd, directory.encode(),
                                  self.IN_CREATE | self.IN_MOVED_TO) < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch " + directory)

    def names(self):
        out = []
        try:
            buf = os.read(self.fd, 65536)
        except BlockingIOError:
            return out
        i = 0
        while i + 16 <= len(buf):
            _wd, _mask, _cookie, size = struct.unpack_from("iIII", buf, i)
            out.append(buf[i + 16:i + 16 + size].rstrip(b"\0").decode())
            i += 16 + size
        return out


def pdeathsig():
    # nebula goes when this peer goes, even if only this process is killed.
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Nebula:
    """One nebula process; its JSON log lines are copied to stderr and kept
    as parsed events for the peer to act on."""

    def __init__(self, config_path, role):
        self.role = role
        self.proc = subprocess.Popen(["nebula", "-config", config_path], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     preexec_fn=pdeathsig)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.partial = b""
        self.tail = []

    def fileno(self):
        return self.proc.stdout.fileno()

    def read_events(self):
        """Returns (parsed log lines, eof)."""
        try:
            data = os.read(self.fileno(), 65536)
        except BlockingIOError:
            return [], False
        if not data:
            return [], True
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        events = []
        for raw in lines:
            text = raw.decode(errors="replace")
            sys.stderr.write("nebula[%s]: %s\n" % (self.role, text))
            self.tail = (self.tail + [text])[-5:]
            try:
                ev = json.loads(text)
            except ValueError:
                continue
            if isinstance(ev, dict):
                ev["_t"] = now_ms()
                events.append(ev)
        sys.stderr.flush()
        return events, False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(1.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # Whatever it logged while stopping goes to the attempt log too.
        try:
            os.set_blocking(self.fileno(), True)
            rest = self.partial + self.proc.stdout.read()
            for line in rest.decode(errors="replace").splitlines():
                sys.stderr.write("nebula[%s]: %s\n" % (self.role, line))
        except (OSError, ValueError):
            pass


def hostmap(shared):
    """nebula's own host map, from its sshd: [{vpnIp, currentRemote, currentRelaysToMe, ...}]."""
    argv = ["ssh", "-F", "/dev/null", "-i", os.path.join(shared, "ssh_client_key"),
            "-p", str(SSH_PORT), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=2", SSH_USER + "@127.0.0.1", "list-hostmap -json"]
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=5)
    if p.returncode != 0:
        raise RuntimeError("ssh list-hostmap: exit %d: %s" % (p.returncode, p.stderr.strip()))
    return json.loads(p.stdout)


def has_addr(ev):
    return isinstance(ev.get("udpAddr"), dict)


class PathWatch:
    """When nebula's tunnel to one overlay address came up and when it became
    direct, from nebula's own log lines (handshake_ix.go, outside.go of 1.6):
    a handshake finished over a udpAddr, a later handshake packet over a
    udpAddr taken as the remote (SetRemoteIfPreferred), or a roam."""

    def __init__(self, vpn_ip):
        self.vpn_ip = vpn_ip
        self.up_ms = None
        self.direct_ms = None
        self.lines = []

    def feed(self, ev):
        if ev.get("vpnIp") != self.vpn_ip:
            return
        msg, stage = ev.get("msg"), (ev.get("handshake") or {}).get("stage")
        if (msg == "Handshake message received" and stage == 2) or \
           (msg == "Handshake message sent" and stage == 2):
            if self.up_ms is None:
                self.up_ms = ev["_t"]
            if has_addr(ev) and self.direct_ms is None:
                self.direct_ms = ev["_t"]
                self.lines.append("direct: %s over %s" % (msg, ev["udpAddr"]))
            elif not has_addr(ev):
                self.lines.append("relay: %s via %s" % (msg, ev.get("relay", "a relay")))
        elif msg == "Handshake is already complete" and has_addr(ev):
            if self.direct_ms is None:
                self.direct_ms = ev["_t"]
                self.lines.append("direct: a late handshake over %s" % ev["udpAddr"])
        elif msg == "Host roamed to new udp ip/port.":
            if self.direct_ms is None:
                self.direct_ms = ev["_t"]
                self.lines.append("direct: roamed to %s" % ev.get("newAddr"))


def peer():
    role = env("NATLAB_ROLE")
    if role not in ROLE_IP:
        raise SystemExit("nebula-peer: NATLAB_ROLE = %s: allowed: listen, connect" % role)
    name = env("NATLAB_NAME")
    shared = env("NATLAB_SHARED_DIR")
    signal_dir = env("NATLAB_SIGNAL_DIR")
    server_ip = env("NATLAB_SERVER_IP")
    deadline_ms = float(env("NATLAB_DEADLINE_MS", "30000"))
    my_ip = ROLE_IP[role]
    peer_ip = ROLE_IP["connect" if role == "listen" else "listen"]

    work = os.path.join(signal_dir, "nebula-" + role)
    os.makedirs(work, exist_ok=True)
    crt, key = os.path.join(work, "host.crt"), os.path.join(work, "host.key")
    run(["nebula-cert", "sign", "-ca-crt", os.path.join(shared, "ca.crt"),
         "-ca-key", os.path.join(shared, "ca.key"), "-name", name,
         "-ip", "%s/24" % my_ip, "-out-crt", crt, "-out-key", key])
    cfg = base_config(shared, crt, key, "0.0.0.0", 0)
    cfg["static_host_map"] = {LIGHTHOUSE_IP: ["%s:%d" % (server_ip, LIGHTHOUSE_PORT)]}
    cfg["lighthouse"] = {"am_lighthouse": False, "interval": 60, "hosts": [LIGHTHOUSE_IP]}
    # punch: keep mappings open; respond: the punched side tries back (after
    # nebula's fixed 5 s). delay 0: punch as soon as the lighthouse says so;
    # with the default 1 s the relay wins the race before the punch opens
    # an address-and-port-dependent filter (README).
    cfg["punchy"] = {"punch": True, "respond": True,
                     "delay": os.environ.get("NEBULA_PUNCH_DELAY", "0s")}
    cfg["relay"] = {"relays": [LIGHTHOUSE_IP], "am_relay": False, "use_relays": True}
    # 100 ms, then 200, 300, ...: 10 tries span 5.5 s; the relay is ready by the second.
    cfg["handshakes"] = {"try_interval": "100ms", "retries": 10}
    cfg["tun"] = {"disabled": False, "dev": ("nb-" + name)[:15], "mtu": 1300}
    cfg_path = os.path.join(work, "config.yml")
    replace_file(cfg_path, json.dumps(cfg, indent=1) + "\n")

    nebula = Nebula(cfg_path, role)
    sel = selectors.DefaultSelector()
    sel.register(nebula, selectors.EVENT_READ, "nebula")
    stop = {"signal": None}

    def on_signal(signum, _frame):
        stop["signal"] = signum
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    sel.register(wake_r, selectors.EVENT_READ, "signal")

    try:
        if role == "listen":
            return listen(nebula, sel, stop, signal_dir, my_ip)
        return connect(nebula, sel, stop, signal_dir, shared, peer_ip, deadline_ms)
    finally:
        nebula.stop()


def pump(nebula, sel, stop, timeout_s, on_event, on_other=None):
    """One turn of the event loop; returns False when nebula exited."""
    for k, _ in sel.select(max(0.0, timeout_s)):
        if k.data == "nebula":
            events, eof = nebula.read_events()
            for ev in events:
                on_event(ev)
            if eof:
                return False
        elif k.data == "signal":
            try:
                os.read(k.fileobj, 64)
            except BlockingIOError:
                pass
        elif on_other:
            on_other(k)
    return stop["signal"] is None


def listen(nebula, sel, stop, signal_dir, my_ip):
    state = {"lighthouse": False}

    def on_event(ev):
        if ev.get("vpnIp") == LIGHTHOUSE_IP and ev.get("msg") == "Handshake message received" \
           and (ev.get("handshake") or {}).get("stage") == 2:
            state["lighthouse"] = True

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", ECHO_PORT))
    sock.setblocking(False)
    sel.register(sock, selectors.EVENT_READ, "udp")
    echoed = {"n": 0}

    def on_udp(_k):
        while True:
            try:
                data, addr = sock.recvfrom(2048)
            except BlockingIOError:
                return
            sock.sendto(data, addr)
            echoed["n"] += 1

    ready_written = False
    while True:
        if not pump(nebula, sel, stop, 1.0, on_event, on_udp):
            break
        if state["lighthouse"] and not ready_written:
            # The host update rode on the finished handshake: the lighthouse
            # knows where this listener is before the connector asks.
            replace_file(os.path.join(signal_dir, READY_FILE), json.dumps(
                {"overlay_ip": my_ip, "local_ip": os.environ.get("NATLAB_LOCAL_IP")}) + "\n")
            log("tunnel to the lighthouse is up; ready written at %.0f ms" % now_ms())
            ready_written = True
    if stop["signal"] is None:
        log("nebula exited (status %s): %s" % (nebula.proc.poll(), " | ".join(nebula.tail)))
        return 1
    log("stopped by signal %d after echoing %d messages" % (stop["signal"], echoed["n"]))
    return 0


def connect(nebula, sel, stop, signal_dir, shared, peer_ip, deadline_ms):
    send_n = int(env("NATLAB_SEND", "10"))
    interval_ms = float(env("NATLAB_INTERVAL_MS", "100"))
    report_by = deadline_ms - 2500.0
    watch = PathWatch(peer_ip)
    state = {"lighthouse": False}

    def on_event(ev):
        if ev.get("vpnIp") == LIGHTHOUSE_IP and ev.get("msg") == "Handshake message received" \
           and (ev.get("handshake") or {}).get("stage") == 2:
            state["lighthouse"] = True
        watch.feed(ev)

    ino = Inotify(signal_dir)
    sel.register(ino.fd, selectors.EVENT_READ, "inotify")
    listener_ready = os.path.exists(os.path.join(signal_dir, READY_FILE))

    def on_other(k):
        nonlocal listener_ready
        if k.data == "inotify" and READY_FILE in ino.names():
            listener_ready = True
        elif k.data == "udp":
            on_udp()

    def result(outcome, **kw):
        r = {"outcome": outcome}
        r.update(kw)
        print(json.dumps(r), flush=True)
        return 0

    while not (state["lighthouse"] and listener_ready):
        if now_ms() >= report_by:
            return result("failed", reason="setup: %s" % (
                "no tunnel to the lighthouse" if not state["lighthouse"] else "the listener never became ready"))
        if not pump(nebula, sel, stop, (report_by - now_ms()) / 1000.0, on_event, on_other):
            return result("failed", reason="nebula exited (status %s) before the tunnel: %s"
                          % (nebula.proc.poll(), " | ".join(nebula.tail)))
    log("lighthouse tunnel up, listener ready at %.0f ms; sending %d messages to %s:%d"
        % (now_ms(), send_n, peer_ip, ECHO_PORT))

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sel.register(sock, selectors.EVENT_READ, "udp")
    tag = "natlab-nebula %s" % os.environ.get("NATLAB_ATTEMPT", "1")
    echoed, first_byte = set(), [None]
    sent_at = {}

    def on_udp():
        while True:
            try:
                data = sock.recv(2048).decode(errors="replace")
            except BlockingIOError:
                return
            parts = data.rsplit(" ", 1)
            if len(parts) == 2 and parts[0] == tag and parts[1].isdigit() and int(parts[1]) in sent_at:
                if first_byte[0] is None:
                    first_byte[0] = now_ms()
                echoed.add(int(parts[1]))

    def send(i):
        try:
            sock.sendto(("%s %d" % (tag, i)).encode(), (peer_ip, ECHO_PORT))
        except OSError as e:
            log("send %d: %s" % (i, e))
        sent_at[i] = now_ms()

    # The first message starts nebula's handshake (it holds it until the
    # tunnel is up); each one not echoed a second after the last is sent
    # again, as an application over a datagram VPN would.
    nxt, next_at, resend_at, resends = 0, now_ms(), None, 0
    alive = True
    while alive and len(echoed) < send_n and now_ms() < report_by:
        t = now_ms()
        if nxt < send_n and t >= next_at:
            send(nxt)
            nxt += 1
            next_at = t + interval_ms
            if nxt == send_n:
                resend_at = t + 1000.0
            continue
        if resend_at is not None and t >= resend_at:
            for i in range(send_n):
                if i not in echoed:
                    send(i)
                    resends += 1
            resend_at = now_ms() + 1000.0
        wake = min(report_by, next_at if nxt < send_n else resend_at)
        alive = pump(nebula, sel, stop, (wake - now_ms()) / 1000.0, on_event, on_other)
    if resends:
        log("%d messages sent again" % resends)

    if not alive:
        if stop["signal"] is not None:
            log("stopped by signal %d before the result" % stop["signal"])
            return 0
        return result("failed", reason="nebula exited (status %s): %s"
                      % (nebula.proc.poll(), " | ".join(nebula.tail)), sent=nxt, delivered=len(echoed))
    # Drain log lines that arrived with the last echo, then ask nebula.
    pump(nebula, sel, stop, 0, on_event, on_other)
    try:
        hosts = hostmap(shared)
    except (RuntimeError, ValueError, subprocess.TimeoutExpired) as e:
        return result("failed", reason="nebula's host map unreadable: %s" % e,
                      sent=nxt, delivered=len(echoed))
    t_map = now_ms()
    entry = next((h for h in hosts if h.get("vpnIp") == peer_ip), None)
    log("hostmap: %s" % json.dumps(entry))
    for line in watch.lines:
        log("log: " + line)
    common = {"time_to_first_byte_ms": round(first_byte[0], 1) if first_byte[0] is not None else None,
              "sent": nxt, "delivered": len(echoed)}
    if entry is None:
        return result("failed", reason="no tunnel to %s in nebula's host map (%d of %d echoed)"
                      % (peer_ip, len(echoed), nxt), **common)
    if len(echoed) < nxt:
        return result("failed", reason="%d of %d messages echoed over the tunnel" % (len(echoed), nxt),
                      **common)
    if entry.get("currentRemote"):
        with open(os.path.join(signal_dir, READY_FILE)) as f:
            listener_local = json.load(f).get("local_ip")
        # The listener's own address (a LAN both share), not a NAT's mapping.
        lan = listener_local is not None and entry["currentRemote"].get("ip") == listener_local
        direct_ms = watch.direct_ms
        if direct_ms is None:
            log("host map says direct, no log line said when: time of the host map read")
            direct_ms = t_map
        return result("direct", path="lan" if lan else "direct", technique="lan" if lan else "punch",
                      time_to_direct_ms=round(direct_ms, 1), **common)
    if entry.get("currentRelaysToMe"):
        return result("relayed", path="relay", technique="none", time_to_direct_ms=None, **common)
    return result("failed", reason="tunnel to %s has neither a remote nor a relay: %s"
                  % (peer_ip, json.dumps(entry)), **common)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "lighthouse":
        return lighthouse()
    if len(sys.argv) > 1:
        raise SystemExit("usage: peer.py [lighthouse]")
    try:
        return peer()
    except RuntimeError as e:
        log(str(e))
        if os.environ.get("NATLAB_ROLE") == "connect":
            print(json.dumps({"outcome": "failed", "reason": str(e)}), flush=True)
            return 0
        return 1


if __name__ == "__main__":
    sys.exit(main())
