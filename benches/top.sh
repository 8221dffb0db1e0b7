#!/usr/bin/env bash
# `nrec top` against nethogs and iftop (issue 15), side by side in one run:
#
#   sudo benches/top.sh [SECONDS]     # root: namespaces, veth, eBPF; nethogs iftop iperf3
#
# Setup: 10 000 established TCP sockets on loopback (5 000 idle connections), and an iperf3
# transfer from the host into a namespace over a veth pair, all bounded in time and removed
# at the end. Each monitor then runs SECONDS (default 15) at one refresh per second while a
# fresh iperf3 transfer runs: nrec top -b (private eBPF instance, and --no-ebpf),
# `nethogs -t` and `iftop -t`, each on the veth. Printed per monitor: CPU seconds over the
# run (utime + stime of /proc/PID/stat), peak RSS (VmHWM), and iperf3's throughput against
# a run with no monitor. Two rounds, monitors alternating, so drift hits all alike.
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

# CPU seconds and peak RSS of PID after it ends
usage() {
  local pid=$1
  local hz; hz=$(getconf CLK_TCK)
  awk -v hz="$hz" '{ split($0, a, ") "); split(a[2], f, " "); printf "%.2f", (f[12] + f[13]) / hz }' "/proc/$pid/stat"
}
# Runs MONITOR... for SECS while iperf3 sends; prints: name cpu_s rss_mb Gbit/s
run() {
  local name=$1; shift
  if [ "$name" != none ]; then
    "$@" >/dev/null 2>"$W/$name.err" &
    local mpid=$!
    sleep 1
  fi
  iperf3 -c 10.213.0.2 -t "$SECS" -J >"$W/iperf.json"
  local gbit; gbit=$(python3 -c "import json,sys; print('%.2f' % (json.load(open(sys.argv[1]))['end']['sum_received']['bits_per_second'] / 1e9))" "$W/iperf.json")
  if [ "$name" = none ]; then
    printf '%-22s %8s %8s %10s\n' "$name" - - "$gbit"
    return
  fi
  # the monitor's totals just before it ends (zombies have no VmHWM)
  local cpu rss
  cpu=$(usage "$mpid")
  rss=$(awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$mpid/status")
  kill -INT "$mpid" 2>/dev/null || true
  wait "$mpid" 2>/dev/null || true
  printf '%-22s %8s %8s %10s\n' "$name" "$cpu" "$rss" "$gbit"
}
printf '%-22s %8s %8s %10s\n' monitor "cpu_s" "rss_MB" "Gbit/s"
for round in 1 2; do
  echo "-- round $round ($SECS s each, 1 refresh/s)"
  run none
  run "nrec-top(ebpf)" "$NREC" --db "$W/none.db" top -b -d 1 -n $((SECS + 5))
  run "nrec-top(sock_diag)" "$NREC" --db "$W/none.db" top -b -d 1 -n $((SECS + 5)) --no-ebpf
  run nethogs nethogs -t -d 1 "$HOSTIF"
  run iftop iftop -t -n -N -P -s $((SECS + 5)) -i "$HOSTIF"
done
ls /sys/fs/bpf | grep -q nrec-top && echo "LEFT OVER: $(ls /sys/fs/bpf | grep nrec-top)" || true
