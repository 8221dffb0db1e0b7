#!/usr/bin/env bash
# The one-shot sampler's cost against sysstat's, side by side in one run:
#
#   sudo benches/record.sh [RUNS]        # default 200 pairs; needs root, sysstat, python3, strace
#
# Each round runs `nrec record` and `sadc -S XALL 1 1` once each (in alternating order) and
# takes their CPU time (user+sys, getrusage of the child). The ratio of each pair is
# recorded; the median ratio is the figure (this machine is noisy: pairs share the noise).
# Then one strace -c of each tool shows the syscalls per sample.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (records every namespace, like the timer unit)"; exit 2; }
command -v /usr/lib/sysstat/sadc >/dev/null || { echo "missing sadc: apt-get install sysstat"; exit 2; }
RUNS=${1:-200}
cargo build --release --quiet
NREC=$PWD/target/release/nrec
SADC=/usr/lib/sysstat/sadc
W=$(mktemp -d /tmp/nrec-record.XXXXXX)
trap 'rm -rf "$W"' EXIT
export NREC_EBPF=${NREC_EBPF:-off}
echo "host: $(uname -r), $(nproc) CPUs, $(ip -o link | wc -l) interfaces, $(ip netns list | wc -l) named namespaces; NREC_EBPF=$NREC_EBPF"
# steady state: the database and the sa file exist
"$NREC" --db "$W/r.db" record -q
"$SADC" -S XALL 1 1 "$W/r.sa"
python3 - "$NREC" "$SADC" "$W" "$RUNS" <<'EOF'
import resource, statistics, subprocess, sys
nrec, sadc, w, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
cmds = {"nrec": [nrec, "--db", f"{w}/r.db", "record", "-q"],
        "sadc": [sadc, "-S", "XALL", "1", "1", f"{w}/r.sa"]}
def cpu(c):
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(c, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    a = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (a.ru_utime - b.ru_utime) + (a.ru_stime - b.ru_stime)
t = {"nrec": [], "sadc": []}
ratios = []
for i in range(runs):
    order = ["nrec", "sadc"] if i % 2 == 0 else ["sadc", "nrec"]
    got = {k: cpu(cmds[k]) for k in order}
    for k in got:
        t[k].append(got[k])
    if got["sadc"] > 0:
        ratios.append(got["nrec"] / got["sadc"])
for k in t:
    print(f"  {k} CPU per sample: median {statistics.median(t[k]) * 1000:.2f} ms, mean {statistics.mean(t[k]) * 1000:.2f} ms")
print(f"  ratio nrec/sadc: median of {len(ratios)} pairs {statistics.median(ratios):.2f}, "
      f"ratio of medians {statistics.median(t['nrec']) / statistics.median(t['sadc']):.2f}  (target <= 1.5)")
EOF
if command -v strace >/dev/null; then
  echo "  syscalls per sample (strace -f -c, top 8):"
  strace -f -c -o "$W/nrec.st" "$NREC" --db "$W/r.db" record -q
  strace -f -c -o "$W/sadc.st" "$SADC" -S XALL 1 1 "$W/r.sa"
  for f in nrec sadc; do
    echo "  -- $f: $(tail -1 "$W/$f.st" | awk '{print $4}') calls"
    sed -n '3,$p' "$W/$f.st" | grep -v -e '^-' -e total | sort -k4 -n -r | head -8 |
      awk '{printf "     %-16s %s\n", $NF, $4}'
  done
fi
