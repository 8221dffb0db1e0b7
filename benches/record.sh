#!/usr/bin/env bash
# The one-shot sampler's cost against sysstat's, side by side in one run: the recorder the
# timer runs (nrec-record) and `nrec record`, each against `sadc -S XALL 1 1`:
#
#   sudo benches/record.sh [RUNS]        # default 200 rounds; needs root, sysstat, python3, strace
#   sudo NREC_BASE=/path/to/old/nrec benches/record.sh [RUNS]   # also an older build, same rounds
#
# Each round runs `nrec record` and `sadc -S XALL 1 1` once each (in alternating order) and
# takes their CPU time (user+sys, getrusage of the child). The ratio of each pair is
# recorded; the median ratio is the figure (this machine is noisy: pairs share the noise).
# With NREC_BASE, each round also runs that binary (on its own database), so a change is
# measured against the build before it in the same run.
# Beside them, in the same rounds, what sets the floor: each tool's start-up alone
# (`nrec-record --version`, `sadc -V`) and SQLite's share of a one-shot process
# (crates/store/examples/sqlite_floor.rs: the store opened as the recorder opens it, the
# newest sample read, one small write, closed — on a copy of the recorder's database).
# Then one strace -c of each tool shows the syscalls per sample.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (records every namespace, like the timer unit)"; exit 2; }
command -v /usr/lib/sysstat/sadc >/dev/null || { echo "missing sadc: apt-get install sysstat"; exit 2; }
RUNS=${1:-200}
cargo build --release --quiet
cargo build --release --quiet --example sqlite_floor -p nrec-store
SADC=/usr/lib/sysstat/sadc
W=$(mktemp -d /tmp/nrec-record.XXXXXX)
trap 'rm -rf "$W"' EXIT
# Run copies, as a package installs them: the linker's output file costs ~8 % more CPU to
# exec than a copy of it (its page cache is in small folios, so more page faults).
install -m 0755 target/release/nrec "$W/nrec"
install -m 0755 target/release/nrec-record "$W/nrec-record"
install -m 0755 target/release/examples/sqlite_floor "$W/sqlite_floor"
NREC=$W/nrec
RECORDER=$W/nrec-record
if [ -n "${NREC_BASE:-}" ]; then
  install -m 0755 "$NREC_BASE" "$W/nrec-base"
  NREC_BASE=$W/nrec-base
fi
export NREC_EBPF=${NREC_EBPF:-off}
echo "host: $(uname -r), $(nproc) CPUs, $(ip -o link | wc -l) interfaces, $(ip netns list | wc -l) named namespaces; NREC_EBPF=$NREC_EBPF"
# steady state: the database and the sa file exist
"$NREC" --db "$W/r.db" record -q
"$RECORDER" --db "$W/t.db" -q
"$RECORDER" --db "$W/t.db" -q
cp "$W/t.db" "$W/floor.db"
"$SADC" -S XALL 1 1 "$W/r.sa"
[ -z "${NREC_BASE:-}" ] || "$NREC_BASE" --db "$W/base.db" record -q
python3 - "$NREC" "$SADC" "$W" "$RUNS" "${NREC_BASE:-}" "$RECORDER" <<'EOF'
import resource, statistics, subprocess, sys
nrec, sadc, w, runs, base, recorder = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
cmds = {"nrec-record": [recorder, "--db", f"{w}/t.db", "-q"],
        "nrec record": [nrec, "--db", f"{w}/r.db", "record", "-q"],
        "sadc": [sadc, "-S", "XALL", "1", "1", f"{w}/r.sa"],
        "nrec-record --version": [recorder, "--version"],
        "sadc -V": [sadc, "-V"],
        "sqlite floor": [f"{w}/sqlite_floor", f"{w}/floor.db"]}
if base:
    cmds["base"] = [base, "--db", f"{w}/base.db", "record", "-q"]
def cpu(c):
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(c, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    a = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (a.ru_utime - b.ru_utime) + (a.ru_stime - b.ru_stime)
t = {k: [] for k in cmds}
ratios = {k: [] for k in cmds if k.startswith("nrec") and k != "nrec-record --version"}
names = list(cmds)
for i in range(runs):
    order = names[i % len(names):] + names[:i % len(names)]  # each tool in each position
    got = {k: cpu(cmds[k]) for k in order}
    for k in got:
        t[k].append(got[k])
    for k in ratios:
        if got["sadc"] > 0:
            ratios[k].append(got[k] / got["sadc"])
for k in t:
    print(f"  {k} CPU per sample: median {statistics.median(t[k]) * 1000:.2f} ms, mean {statistics.mean(t[k]) * 1000:.2f} ms")
for k, r in ratios.items():
    print(f"  ratio {k}/sadc: median of {len(r)} pairs {statistics.median(r):.2f}, "
          f"ratio of medians {statistics.median(t[k]) / statistics.median(t['sadc']):.2f}  (target <= 1.2)")
m = {k: statistics.median(v) * 1000 for k, v in t.items()}
work = m["sadc"] - m["sadc -V"]
print(f"  sadc's work past its start-up: {work:.2f} ms; the SQLite floor process (its start-up "
      f"included, lighter than nrec-record's): {m['sqlite floor']:.2f} ms")
print(f"  SQLite floor + sadc's work = {m['sqlite floor'] + work:.2f} ms = "
      f"{(m['sqlite floor'] + work) / m['sadc']:.2f}x sadc: a recorder that read what sadc reads and "
      f"stored it in one small SQLite write, nothing else")
EOF
if command -v strace >/dev/null; then
  echo "  syscalls per sample (strace -f -c, top 8):"
  strace -f -c -o "$W/nrec.st" "$RECORDER" --db "$W/t.db" -q
"$RECORDER" --db "$W/t.db" -q
cp "$W/t.db" "$W/floor.db"
  strace -f -c -o "$W/sadc.st" "$SADC" -S XALL 1 1 "$W/r.sa"
  for f in nrec sadc; do
    echo "  -- $f: $(tail -1 "$W/$f.st" | awk '{print $4}') calls"
    sed -n '3,$p' "$W/$f.st" | grep -v -e '^-' -e total | sort -k4 -n -r | head -8 |
      awk '{printf "     %-16s %s\n", $NF, $4}'
  done
fi
