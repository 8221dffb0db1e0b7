#!/usr/bin/env bash
# `nrec top` against nethogs and iftop (issue 15), side by side in one run:
#
#   sudo benches/top.sh [SECONDS]     # root: namespaces, veth, eBPF; nethogs iftop iperf3
#
# Setup: 10 000 established TCP sockets on loopback (5 000 idle connections), and an iperf3
# transfer from the host into a namespace over a veth pair, all bounded in time and removed
# at the end. Each monitor then runs SECONDS (default 15) at one refresh per second while a
# fresh iperf3 transfer runs: nrec top -b reading the recorder's pinned eBPF maps (as with
# `nrec daemon` running), loading a private instance, showing connections (the kernel's
# per-connection counters: the recorder's map, and a private one cut at each refresh), and
# with --no-ebpf (the socket dump); `nethogs -t` and `iftop -t`, each on the veth. Printed per monitor: CPU
# in its first second (start-up) and per second while the transfer ran (exact, from a
# cgroup of its own), peak RSS (VmHWM), and iperf3's throughput against a run with no
# monitor. Two rounds, monitors alternating, so drift hits all alike.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (namespaces, veth, eBPF, packet capture)"; exit 2; }
for t in nethogs iftop iperf3 python3 ip; do
  command -v $t >/dev/null || { echo "missing $t: apt-get install nethogs iftop iperf3 python3 iproute2"; exit 2; }
done
SECS=${1:-15}
cargo build --release --quiet --bin nrec
NREC=$PWD/target/release/nrec
W=$(mktemp -d /tmp/nrec-topbench.XXXXXX)
NS=nrtopbench$$
HOSTIF=nrtb$$h
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip link del "$HOSTIF" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  [ -z "${PINNED:-}" ] || NREC_BPF_DIR=$BPF "$NREC" setup --remove >/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
ip netns add "$NS"
ip link add "$HOSTIF" type veth peer name eth0 netns "$NS"
ip addr add 10.213.0.1/30 dev "$HOSTIF"; ip link set "$HOSTIF" up
ip -n "$NS" addr add 10.213.0.2/30 dev eth0; ip -n "$NS" link set eth0 up; ip -n "$NS" link set lo up
ip netns exec "$NS" iperf3 -s -B 10.213.0.2 -D -I "$W/iperf3.pid"
sleep 0.5; PIDS+=("$(cat "$W/iperf3.pid")")

# 10 000 established sockets on loopback, idle, for the whole run (bounded: 30 min)
ulimit -n "$(ulimit -Hn)"   # 10 000 sockets + a few
python3 - "$W/socks.ready" <<'EOF' &
import socket, sys, time
l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(8192)
port = l.getsockname()[1]
keep = []
for _ in range(5000):
    c = socket.create_connection(('127.0.0.1', port)); s, _ = l.accept(); keep += [c, s]
open(sys.argv[1], 'w').write('ok')
time.sleep(1800)
EOF
PIDS+=($!)
for _ in $(seq 100); do [ -f "$W/socks.ready" ] && break; sleep 0.2; done
echo "established TCP sockets: $(ss -Htn state established | wc -l)"

# CPU time of a monitor, exact and with every thread it ever had (nrec's namespace helper
# threads exit each refresh): each monitor runs in its own cpuacct cgroup (v1) or cgroup (v2);
# without either, /proc/PID/stat (10 ms ticks, live threads' and reaped ones').
CGROOT=
if [ -f /sys/fs/cgroup/cpuacct/cpuacct.usage ]; then CGROOT=/sys/fs/cgroup/cpuacct
elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then CGROOT=/sys/fs/cgroup
fi
cg_new() {
  [ -n "$CGROOT" ] || return 0
  local d="$CGROOT/nrtb$$-$1"
  mkdir -p "$d" && echo "$d"
}
# ms of CPU so far: cgroup DIR or, without one, PID
cpu_ms() {
  local d=$1 pid=$2
  if [ -n "$d" ] && [ -f "$d/cpuacct.usage" ]; then
    awk '{ printf "%.1f", $1 / 1e6 }' "$d/cpuacct.usage"
  elif [ -n "$d" ]; then
    awk '/^usage_usec/ { printf "%.1f", $2 / 1e3 }' "$d/cpu.stat"
  else
    awk -v hz="$(getconf CLK_TCK)" '{ split($0, a, ") "); split(a[2], f, " "); printf "%.1f", (f[12] + f[13]) * 1000 / hz }' "/proc/$pid/stat"
  fi
}
# Runs MONITOR... for SECS while iperf3 sends. Prints: name, CPU ms in its first second
# (start-up: eBPF load, capture open), CPU ms per second while the transfer ran (the
# steady state at one refresh per second), peak RSS, iperf3's throughput.
run() {
  local name=$1; shift
  local cg="" mpid c0=0
  if [ "$name" != none ]; then
    cg=$(cg_new "${name//[^a-z]/}")
    ( [ -z "$cg" ] || echo "$BASHPID" > "$cg/cgroup.procs" 2>/dev/null || echo "$BASHPID" > "$cg/tasks"
      exec "$@" ) >/dev/null 2>"$W/$name.err" &
    mpid=$!
    sleep 1
    c0=$(cpu_ms "$cg" "$mpid")
  fi
  local t0; t0=$(date +%s.%N)
  iperf3 -c 10.213.0.2 -t "$SECS" -J >"$W/iperf.json"
  local gbit; gbit=$(python3 -c "import json,sys; print('%.2f' % (json.load(open(sys.argv[1]))['end']['sum_received']['bits_per_second'] / 1e9))" "$W/iperf.json")
  if [ "$name" = none ]; then
    printf '%-22s %10s %10s %8s %8s\n' "$name" - - - "$gbit"
    return
  fi
  # the monitor's figures just before it ends (zombies have no VmHWM)
  local c1 rss per_s
  c1=$(cpu_ms "$cg" "$mpid")
  per_s=$(python3 -c "import sys,time; print('%.2f' % ((float(sys.argv[2]) - float(sys.argv[1])) / (time.time() - float(sys.argv[3]))))" "$c0" "$c1" "$t0")
  rss=$(awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$mpid/status")
  kill -INT "$mpid" 2>/dev/null || true
  wait "$mpid" 2>/dev/null || true
  [ -z "$cg" ] || rmdir "$cg" 2>/dev/null || true
  printf '%-22s %10s %10s %8s %8s\n' "$name" "$c0" "$per_s" "$rss" "$gbit"
}
# the recorder's programs, as `nrec setup` (record, daemon) pins them, in a directory of
# this run's own: `nrec top` then reads their maps and loads nothing
BPF=/sys/fs/bpf/nrtb$$
NREC_BPF_DIR=$BPF "$NREC" setup >/dev/null
PINNED=1
printf '%-22s %10s %10s %8s %8s\n' monitor "start_ms" "cpu_ms/s" "rss_MB" "Gbit/s"
[ -n "$CGROOT" ] || echo "(no cgroup for exact CPU time: /proc/PID/stat, 10 ms ticks)"
for round in 1 2; do
  echo "-- round $round ($SECS s each, 1 refresh/s)"
  run none
  run "nrec-top(pinned)" env NREC_BPF_DIR=$BPF "$NREC" --db "$W/none.db" top -b -d 1 -n $((SECS + 5))
  run "nrec-top(private)" "$NREC" --db "$W/none.db" top -b -d 1 -n $((SECS + 5))
  run "nrec-top(conns)" env NREC_BPF_DIR=$BPF "$NREC" --db "$W/none.db" top -b -d 1 -n $((SECS + 5)) --view conns
  run "nrec-top(conns,priv)" "$NREC" --db "$W/none.db" top -b -d 1 -n $((SECS + 5)) --view conns
  run "nrec-top(conns,sd)" "$NREC" --db "$W/none.db" top -b -d 1 -n $((SECS + 5)) --view conns --no-ebpf
  run "nrec-top(sock_diag)" "$NREC" --db "$W/none.db" top -b -d 1 -n $((SECS + 5)) --no-ebpf
  run nethogs nethogs -t -d 1 "$HOSTIF"
  run iftop iftop -t -n -N -P -s $((SECS + 5)) -i "$HOSTIF"
done
ls /sys/fs/bpf | grep -q nrec-top && echo "LEFT OVER: $(ls /sys/fs/bpf | grep nrec-top)" || true
