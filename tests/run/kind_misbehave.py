#!/usr/bin/python3
"""A peer of an agent kind (docs/agents.md) that misbehaves on purpose, for
tests/run/test_kinds.sh. MODE: crash, hang, garbage, malformed, linger,
detach (leaves a daemon holding a TUN device), detach-hang (the same, then
hangs), deaf (ignores SIGTERM), or good. Each attempt first checks that the previous one left nothing in this
host's namespace: no daemon, no TUN device; if it did, it reports failed."""
import fcntl, json, os, signal, struct, sys

mode = sys.argv[1]
role = os.environ["NATLAB_ROLE"]
TUN = "kmis0"


def leftovers():  # in this network namespace: /proc shows the whole machine's
    found, here = [], os.stat("/proc/self/ns/net").st_ino
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}/ns/net").st_ino == here and b"daemon" in open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0"):
                found.append("daemon pid " + pid)
        except (OSError, IndexError):
            pass
    if os.path.exists(f"/sys/class/net/{TUN}"):
        found.append("TUN device " + TUN)
    return found


if mode == "daemon":  # the detached grandchild: a TUN device, then sleep
    tun = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(tun, 0x400454CA, struct.pack("16sH", TUN.encode(), 0x0001 | 0x1000))
    os.write(int(sys.argv[2]), b"up\n")  # the TUN device exists: tell the peer
    while True:
        signal.pause()

left = leftovers() if role == "connect" else []
if role == "listen" or mode == "good":
    if mode == "deaf" and role == "listen":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if role == "listen":
        print("listening", flush=True)
        while True:
            signal.pause()

result = {"outcome": "relayed", "path": "relay", "sent": 1, "delivered": 1}
if left:
    result = {"outcome": "failed", "reason": "the last attempt left: " + ", ".join(left)}
elif mode == "crash":
    print("about to crash", flush=True)
    os.kill(os.getpid(), signal.SIGSEGV)
elif mode == "hang":
    print("thinking...", flush=True)
    while True:
        signal.pause()
elif mode == "garbage":
    sys.stdout.buffer.write(b"\x00\xff{not json\n[1,2]\n{\"outcome\n")
    sys.exit(0)
elif mode == "malformed":
    result = {"outcome": "sideways"}
elif mode in ("detach", "detach-hang"):
    ready, told = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.set_inheritable(told, True)
            os.execv(sys.executable, [sys.executable, __file__, "daemon", str(told)])
        os._exit(0)
    os.close(told)
    os.wait()
    os.read(ready, 3)
    print("daemon up", flush=True)
    while mode == "detach-hang":
        signal.pause()
print(json.dumps(result), flush=True)
if mode == "linger":
    while True:
        signal.pause()
