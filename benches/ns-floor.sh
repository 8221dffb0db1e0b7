#!/usr/bin/env bash
# The kernel's floor for reading an idle namespace's interfaces (issue 37): the system CPU of
# each step a recorder takes per namespace, in a loop of N (default 20000) inside a namespace
# of its own with loopback only — an rtnetlink link dump (RTM_GETLINK: where the next two
# fail), a stats dump (RTM_GETSTATS: the counters every record reads, the daemon through its
# kept socket), a link's name by index (SIOCGIFNAME: how a one-shot record names them), a
# netlink socket opened and closed, and the two ways into a container's namespace (its
# /proc/PID/ns/net opened, a pidfd of its process). Figures include Python's own per-call
# cost (~0.5 µs); compare them with each other.
#
#   sudo benches/ns-floor.sh [N]
#
# Needs root. The namespace and the helper process it starts are removed on exit.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root"; exit 2; }
N=${1:-20000}
NS=nrecfloor$$
SLEEPER=
cleanup() {
  [ -z "$SLEEPER" ] || kill "$SLEEPER" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up
# a process in the namespace, for the ways into it by process
ip netns exec "$NS" sleep 600 &
SLEEPER=$!
sleep 0.2
PID=$(pgrep -P "$SLEEPER" -x sleep || echo "$SLEEPER")
ip netns exec "$NS" python3 - "$N" "$PID" <<'PY'
import os, resource, socket, struct, sys
n, pid = int(sys.argv[1]), int(sys.argv[2])
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_stime, r.ru_utime
def dump(s, kind, body, seq):
    s.send(struct.pack("=IHHII", 16 + len(body), kind, 0x301, seq, 0) + body)
    while True:
        d, off = s.recv(65536), 0
        while off < len(d):
            length, t = struct.unpack_from("=IH", d, off)
            if t == 3:  # NLMSG_DONE
                return
            off += (length + 3) & ~3
def report(what, f):
    (s0, u0) = cpu()
    for i in range(n):
        f(i)
    (s1, u1) = cpu()
    print(f"{what:44s} system {1e6 * (s1 - s0) / n:6.2f} µs, user {1e6 * (u1 - u0) / n:5.2f} µs")
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
ifinfo = struct.pack("=BBHiII", 0, 0, 0, 0, 0, 0)
stats = struct.pack("=BBHiII", 0, 0, 0, 0, 0, 1)  # IFLA_STATS_LINK_64
report("link dump (RTM_GETLINK)", lambda i: dump(s, 18, ifinfo, i + 1))
report("stats dump (RTM_GETSTATS, 64-bit counters)", lambda i: dump(s, 94, stats, i + 1))
import fcntl
ifreq = struct.pack("=16si20x", b"", 1)  # loopback's index
report("name by index (SIOCGIFNAME)", lambda i: fcntl.ioctl(s, 0x8910, ifreq))
report("netlink socket opened and closed", lambda i: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0).close())
report(f"/proc/{pid}/ns/net opened and closed", lambda i: os.close(os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)))
report("pidfd of the process opened and closed", lambda i: os.close(os.pidfd_open(pid)))
PY
