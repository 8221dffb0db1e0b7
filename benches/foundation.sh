#!/usr/bin/env bash
# Foundation benchmark: nrec against sysstat, side by side in one run (issue "Foundation").
#
#   sudo benches/foundation.sh            # needs root, sysstat, GNU time, hyperfine, python3
#
# 1. CPU (user+sys) and peak RSS of one `nrec record` vs `sadc -S XALL 1 1 FILE`, idle host.
# 2. Database growth per sample (5 interfaces) vs sadc's record size.
# 3. `nrec report --date D` over 1440 one-minute samples vs `sar -n DEV -f` over 1440 records.
# It creates ifb devices to reach 5 interfaces when the host has fewer, and removes them.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (records every namespace, like the timer unit)"; exit 2; }
for t in /usr/lib/sysstat/sadc sar /usr/bin/time hyperfine python3; do
  command -v "$t" >/dev/null || { echo "missing $t: apt-get install sysstat time hyperfine python3"; exit 2; }
done
cargo build --release --quiet
NREC=$PWD/target/release/nrec
SADC=/usr/lib/sysstat/sadc
W=$(mktemp -d /tmp/nrec-bench.XXXXXX)
ADDED=()
cleanup() { for i in "${ADDED[@]}"; do ip link del "$i" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT

n=$(ip -o link | wc -l)
k=0
while [ "$n" -lt 5 ]; do
  ip link add "nrecbench$k" type ifb || { echo "cannot add an ifb device"; exit 1; }
  ADDED+=("nrecbench$k"); n=$((n + 1)); k=$((k + 1))
done
echo "host: $(uname -r), $(nproc) CPUs, $(ip -o link | wc -l) interfaces in the root namespace, $(ip netns list | wc -l) named namespaces"
busy=$(ss -tanH | grep -vc '^LISTEN' || true)
echo "TCP sockets outside LISTEN: $busy (idle = 0; otherwise each sample walks the TCP hash: +$(sysctl -n net.ipv4.tcp_ehash_entries 2>/dev/null || echo '?') buckets)"

echo
echo "== 1. one sample: CPU time and peak RSS (100 runs each, interleaved) =="
"$NREC" --db "$W/cpu.db" record -q   # create the database first: steady state, not creation
"$SADC" -S XALL 1 1 "$W/cpu.sa"
python3 - "$NREC" "$SADC" "$W" <<'EOF'
import resource, subprocess, sys
nrec, sadc, w = sys.argv[1:4]
cmds = {"nrec record": [nrec, "--db", f"{w}/cpu.db", "record", "-q"],
        "sadc -S XALL 1 1": [sadc, "-S", "XALL", "1", "1", f"{w}/cpu.sa"]}
tot = {k: 0.0 for k in cmds}
for _ in range(100):
    for k, c in cmds.items():
        b = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(c, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        a = resource.getrusage(resource.RUSAGE_CHILDREN)
        tot[k] += (a.ru_utime - b.ru_utime) + (a.ru_stime - b.ru_stime)
for k, v in tot.items():
    print(f"  {k:18s} {v / 100 * 1000:6.2f} ms CPU (user+sys) per run")
print(f"  ratio nrec/sadc    {tot['nrec record'] / tot['sadc -S XALL 1 1']:6.2f}  (target <= 2.0)")
EOF
for c in nrec sadc; do
  if [ $c = nrec ]; then cmd=("$NREC" --db "$W/cpu.db" record -q); else cmd=("$SADC" -S XALL 1 1 "$W/cpu.sa"); fi
  max=0
  for _ in 1 2 3 4 5; do
    kb=$( { /usr/bin/time -f "%M" "${cmd[@]}" >/dev/null; } 2>&1 | tail -1)
    [ "$kb" -gt "$max" ] && max=$kb
  done
  printf "  %-18s %6d KB peak RSS (max of 5)%s\n" "$c" "$max" "$([ $c = nrec ] && echo '  (target <= 10240 KB)')"
done

echo
echo "== 2. storage per sample (200 samples after the first) =="
size_db() { python3 -c "
import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('PRAGMA wal_checkpoint(TRUNCATE)')
ps=c.execute('PRAGMA page_size').fetchone()[0]; pc=c.execute('PRAGMA page_count').fetchone()[0]
fl=c.execute('PRAGMA freelist_count').fetchone()[0]; print((pc-fl)*ps)" "$1"; }
"$NREC" --db "$W/size.db" record -q
s0=$(size_db "$W/size.db")
for _ in $(seq 200); do "$NREC" --db "$W/size.db" record -q; done
s1=$(size_db "$W/size.db")
"$SADC" -S XALL 1 1 "$W/size.sa"
a0=$(stat -c %s "$W/size.sa")
for _ in $(seq 200); do "$SADC" -S XALL 1 1 "$W/size.sa"; done
a1=$(stat -c %s "$W/size.sa")
nb=$(( (s1 - s0) / 200 )); sb=$(( (a1 - a0) / 200 ))
echo "  nrec: $nb bytes/sample (SQLite pages in use, WAL checkpointed)"
echo "  sadc: $sb bytes/record"
python3 -c "print(f'  ratio nrec/sadc {$nb/$sb:.2f}  (target <= 0.50)')"

echo
echo "== 3. a day's report: 1440 one-minute samples =="
D=2026-01-15
python3 - "$NREC" "$W" "$D" <<'EOF'
import subprocess, sys, os, datetime
nrec, w, d = sys.argv[1:4]
t0 = datetime.datetime.fromisoformat(d + "T00:00:00+00:00")
for i in range(1441):
    ts = (t0 + datetime.timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
    subprocess.run([nrec, "--db", f"{w}/day.db", "record", "-q"], check=True,
                   env=dict(os.environ, NREC_NOW=ts))
EOF
for _ in $(seq 1441); do "$SADC" -S XALL 1 1 "$W/day.sa"; done
echo "  rows: nrec $(TZ=UTC "$NREC" --db "$W/day.db" report --date $D | grep -c ' lo ') lo rows, sar $(LC_ALL=C TZ=UTC sar -n DEV -f "$W/day.sa" | grep -c ' lo ') lo rows"
TZ=UTC hyperfine -N --warmup 3 --runs 30 --export-markdown "$W/day.md" \
  "$NREC --db $W/day.db report --date $D" \
  "sar -n DEV -f $W/day.sa" 2>/dev/null | grep -E "Time|±|faster|^  [a-z]" || true
cat "$W/day.md"
