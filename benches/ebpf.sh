#!/usr/bin/env bash
# eBPF accounting benchmark (issue "Exact attribution"), side by side in one run:
#
#   sudo benches/ebpf.sh                 # needs root, iperf3, python3, sysstat
#   DAEMON_SECONDS=0 sudo benches/ebpf.sh   # skip the 10-minute daemon measurement
#   PCAP=1 sudo benches/ebpf.sh          # also the pcap fallback (builds --features pcap)
#   ONLY_DAEMON=1 sudo benches/ebpf.sh   # only the daemon measurement
#   ONLY_IPERF=1 CASES="tcp:128K udp:1400" ROUNDS=8 sudo benches/ebpf.sh   # only iperf3
#   NREC_BASE=/path/to/previous/nrec ONLY_CALLS=1 sudo benches/ebpf.sh  # per call, beside another build
#   (NREC_BASE also puts that build's program beside this one in the iperf3 rounds)
#
# 1. Throughput of iperf3 over a veth pair between two namespaces this script creates:
#    no accounting, eBPF loaded (and, with PCAP=1, the pcap fallback capturing), alternating
#    rounds of 5 s; TCP with 128 KiB writes (iperf3's default) and 1 KiB writes (many more
#    calls), and UDP datagrams of 1400 bytes at full rate (what the pcap fallback captures).
# 1b. CPU per send(2) call with and without eBPF (the per-call cost small writes pay).
# 2. CPU of one timer-mode `nrec record`: eBPF off vs on (maps pinned, steady state), and
#    sadc for the foundation's reference, 60 interleaved runs each.
# 3. CPU of `nrec daemon --interval 10s` over DAEMON_SECONDS (default 600) on the idle host.
# Everything it starts is ended by PID; namespaces and pins are removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root"; exit 2; }
for t in iperf3 python3 /usr/lib/sysstat/sadc; do
  command -v "$t" >/dev/null || { echo "missing $t: apt-get install iperf3 python3 sysstat"; exit 2; }
done
ROUNDS=${ROUNDS:-6}
DAEMON_SECONDS=${DAEMON_SECONDS:-600}
if [ "${PCAP:-0}" = 1 ]; then
  cargo build --release --quiet --features pcap   # the pcap fallback only acts in the daemon
else
  cargo build --release --quiet
fi
NREC=$PWD/target/release/nrec
NREC_PCAP=$NREC
W=$(mktemp -d /tmp/nrec-ebpf-bench.XXXXXX)
A=nrecbenchA$$
B=nrecbenchB$$
export NREC_BPF_DIR=/sys/fs/bpf/nrec-bench-$$
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  "$NREC" setup --remove -q >/dev/null 2>&1 || true
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT

ip netns add "$A"; ip netns add "$B"
ip link add vbA$$ netns "$A" type veth peer name vbB$$ netns "$B"
ip -n "$A" addr add 10.214.0.1/30 dev vbA$$; ip -n "$B" addr add 10.214.0.2/30 dev vbB$$
for n in "$A" "$B"; do ip -n "$n" link set lo up; done
ip -n "$A" link set vbA$$ up; ip -n "$B" link set vbB$$ up

# Loads the accounting of mode $1 (none, ebpf: this build, base: NREC_BASE's, pcap) alone.
set_mode() {
  "$NREC" setup --remove -q >/dev/null
  [ -n "${PCAPD:-}" ] && { kill "$PCAPD"; wait "$PCAPD" 2>/dev/null || true; PCAPD=; }
  [ -n "${NREC_BASE:-}" ] && { "$NREC_BASE" setup --remove -q >/dev/null 2>&1 || true; }
  case $1 in
    ebpf) "$NREC" setup -q ;;
    base) "$NREC_BASE" setup -q ;;
    pcap) NREC_EBPF=off NREC_PCAP=force "$NREC_PCAP" --db "$W/pcap.db" daemon --interval 10s -q &
          PCAPD=$!; PIDS+=("$PCAPD"); sleep 1 ;;
  esac
}
PCAPD=

echo "host: $(uname -r), $(nproc) CPUs; iperf3 $(iperf3 --version | head -1 | cut -d' ' -f2)"
if [ "${ONLY_DAEMON:-0}" != 1 ] && [ "${ONLY_CALLS:-0}" != 1 ]; then
echo
echo "== 1. iperf3 over veth between two namespaces, ${ROUNDS} alternating rounds of 5 s per mode =="
modes="none ebpf"
[ -n "${NREC_BASE:-}" ] && modes="none base ebpf"
[ "${PCAP:-0}" = 1 ] && modes="$modes pcap"
run_iperf() { # $1 = case: tcp:LEN (TCP, writes of LEN) or udp:LEN (UDP datagrams, unlimited rate)
  local proto=${1%%:*} len=${1#*:} extra=()
  [ "$proto" = udp ] && extra=(-u -b 0)
  ip netns exec "$B" iperf3 -s -1 >/dev/null 2>&1 &
  local sp=$!; PIDS+=("$sp"); sleep 0.3
  ip netns exec "$A" iperf3 -c 10.214.0.2 -t 5 -l "$len" "${extra[@]}" -J \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"])'
  wait "$sp" 2>/dev/null || true
}
for len in ${CASES:-tcp:128K tcp:1K udp:1400}; do
  : > "$W/iperf-$len"
  for r in $(seq "$ROUNDS"); do
    for m in $modes; do
      set_mode "$m"
      echo "$m $(run_iperf "$len")" >> "$W/iperf-$len"
    done
  done
  set_mode none
  python3 - "$W/iperf-$len" "$len" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
by = {}
for m, v in rows:
    by.setdefault(m, []).append(float(v))
base = statistics.mean(by["none"])
print(f"  {sys.argv[2]} (proto:write size):")
for m, v in by.items():
    mu, sd = statistics.mean(v), statistics.stdev(v)
    cost = "" if m == "none" else f"  cost {100 * (base - mu) / base:+.2f} %"
    print(f"    {m:5s} {mu / 1e9:7.2f} ± {sd / 1e9:5.2f} Gbit/s{cost}")
EOF
done

[ "${ONLY_IPERF:-0}" = 1 ] && exit 0
fi # ONLY_CALLS skips the iperf3 part
if [ "${ONLY_DAEMON:-0}" != 1 ]; then
echo
echo "== 1b. cost per call: 200 000 sends of 1 KiB on loopback each (UDP connected, UDP sendto, TCP), CPU per call, 6 alternating rounds =="
# NREC_BASE=OLD_NREC: also another build's program, loaded in its turn (ratios in one run)
call_modes="none ebpf"
[ -n "${NREC_BASE:-}" ] && call_modes="none base ebpf"
: > "$W/calls"
# The three kinds of sends, 200 000 of 1 KiB each on loopback: `sends.py MODE` times each
# kind (CPU per call, one line), `sends.py MODE KIND` only runs that kind.
cat > "$W/sends.py" <<'EOF2'
import resource, socket, sys
n, buf = 200_000, b"x" * 1024
def cpu():
    a = resource.getrusage(resource.RUSAGE_SELF); return a.ru_utime + a.ru_stime
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); rx.bind(("127.0.0.1", 0))
def connected():
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); tx.connect(rx.getsockname())
    for _ in range(n): tx.send(buf)
def sendto():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); addr = rx.getsockname()
    for _ in range(n): u.sendto(buf, addr)
def tcp():
    l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
    t = socket.create_connection(l.getsockname()); s, _ = l.accept(); s.setblocking(False)
    for i in range(n):
        t.send(buf)
        if i % 16 == 15:
            try:
                while s.recv(1 << 20): pass
            except BlockingIOError: pass
kinds = {"connected": connected, "sendto": sendto, "tcp": tcp}
if len(sys.argv) > 2:
    kinds[sys.argv[2]]()
else:
    per = []
    for f in kinds.values():
        c0 = cpu(); f(); per.append((cpu() - c0) / n * 1e9)
    print(sys.argv[1], *per)
EOF2
for r in $(seq 6); do
  for m in $call_modes; do
    set_mode "$m"
    python3 "$W/sends.py" "$m" >> "$W/calls"
  done
done
set_mode none
python3 - "$W/calls" <<'EOF2'
import statistics, sys
by = {}
for l in open(sys.argv[1]):
    m, *v = l.split(); by.setdefault(m, []).append([float(x) for x in v])
for i, nm in enumerate(["UDP send, connected", "UDP sendto, unconnected", "TCP send (+recv per 16)"]):
    med = {m: statistics.median(r[i] for r in rows) for m, rows in by.items()}
    extra = "".join(f"  {m} +{med[m] - med['none']:.0f} ns" for m in med if m != "none")
    print(f"  {nm:25s} none {med['none']:6.0f} ns per call;{extra}")
EOF2
# The programs' own run time per call (kernel.bpf_stats_enabled; the counting adds ~20 ns
# to each run): less noisy than the process's CPU, and it splits the tracepoint program
# from the cgroup hook that notes an unconnected send's destination.
if command -v bpftool >/dev/null; then
  echo "  programs' run time per call (bpf_stats, 200 000 calls of each kind):"
  old_stats=$(sysctl -n kernel.bpf_stats_enabled); sysctl -qw kernel.bpf_stats_enabled=1
  for m in ${call_modes#none }; do
    for kind in connected sendto tcp; do
      set_mode "$m"
      python3 "$W/sends.py" "$m" "$kind"
      echo "    $m $kind: $(bpftool prog show | python3 -c '
import re, sys
runs = re.findall(r"name (nrec_\w+) .*? run_time_ns (\d+) run_cnt (\d+)", sys.stdin.read())
print(", ".join(f"{p} {int(t) / int(c):.0f} ns x {c}" for p, t, c in runs))')"
    done
  done
  set_mode none
  sysctl -qw kernel.bpf_stats_enabled="$old_stats"
fi
[ "${ONLY_CALLS:-0}" = 1 ] && exit 0

echo
echo "== 2. one timer-mode record: CPU (user+sys), 60 interleaved runs =="
"$NREC" setup -q
NREC_EBPF=off "$NREC" --db "$W/off.db" record -q
"$NREC" --db "$W/on.db" record -q
"$NREC" --db "$W/on.db" record -q
/usr/lib/sysstat/sadc -S XALL 1 1 "$W/cpu.sa"
python3 - "$NREC" "$W" <<'EOF'
import os, resource, subprocess, sys
nrec, w = sys.argv[1:3]
env_off = dict(os.environ, NREC_EBPF="off")
cmds = {"record, eBPF off": ([nrec, "--db", f"{w}/off.db", "record", "-q"], env_off),
        "record, eBPF on": ([nrec, "--db", f"{w}/on.db", "record", "-q"], os.environ),
        "sadc -S XALL 1 1": (["/usr/lib/sysstat/sadc", "-S", "XALL", "1", "1", f"{w}/cpu.sa"], os.environ)}
tot = {k: 0.0 for k in cmds}
for _ in range(60):
    for k, (c, e) in cmds.items():
        b = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(c, check=True, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        a = resource.getrusage(resource.RUSAGE_CHILDREN)
        tot[k] += (a.ru_utime - b.ru_utime) + (a.ru_stime - b.ru_stime)
for k, v in tot.items():
    print(f"  {k:18s} {v / 60 * 1000:6.2f} ms")
d = (tot["record, eBPF on"] - tot["record, eBPF off"]) / 60 * 1000
print(f"  eBPF adds          {d:6.2f} ms per record (target <= 5 ms)")
EOF
echo "  map entries at the end: $("$NREC" --db "$W/on.db" status --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["ebpf"]["entries"])')"

fi # ONLY_DAEMON

if [ "$DAEMON_SECONDS" -gt 0 ]; then
  echo
  echo "== 3. nrec daemon --interval 10s on the idle host, ${DAEMON_SECONDS} s =="
  "$NREC" --db "$W/daemon.db" daemon --interval 10s -q &
  D=$!; PIDS+=("$D")
  sleep 2
  read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$D/stat")
  sleep "$DAEMON_SECONDS"
  read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$D/stat")
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$D/status")
  kill -TERM "$D"; wait "$D" || true
  hz=$(getconf CLK_TCK)
  python3 -c "
t = (($u1 - $u0) + ($s1 - $s0)) / $hz
print(f'  CPU {t:.2f} s over $DAEMON_SECONDS s = {100 * t / $DAEMON_SECONDS:.3f} % of a core (target <= 0.1 %); peak RSS $rss kB')"
  echo "  samples stored: $("$NREC" --db "$W/daemon.db" status --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["database"]["samples_raw"])')"
fi
