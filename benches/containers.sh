#!/usr/bin/env bash
# Cost of containers in a sample (issue 17), in one run: `nrec record` (CPU, median of 40)
# on this host, then with N running podman containers (each its own network namespace,
# busybox sleeping) once their names are cached; then, with perf, the share of a record that
# names the containers' namespaces and decides whether they are new.
#
#   sudo benches/containers.sh [N]     # default 200; needs podman, runc, busybox-static
#
# Everything it starts is removed on exit (containers by name, the image, databases).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root"; exit 2; }
N=${1:-200}
if [ -z "${NREC:-}" ]; then cargo build --release --quiet; NREC=$PWD/target/release/nrec; fi
W=$(mktemp -d /tmp/nrec-containers.XXXXXX)
PO=(podman --runtime runc --cgroup-manager cgroupfs)
RUN=(run --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --network none -d)
IMG=localhost/nrec-bench-bb:$$
export NREC_EBPF=off NREC_BPF_DIR=$W/bpf
cleanup() {
  for i in $(seq "$N"); do echo "nrec-bench-$$-$i"; done | xargs -r "${PO[@]}" rm -f -t 0 >/dev/null 2>&1 || true
  "${PO[@]}" rmi -f "$IMG" >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W/root/bin" "$W/root/tmp"
cp "$(command -v busybox)" "$W/root/bin/busybox"
ln -s busybox "$W/root/bin/sh"; ln -s busybox "$W/root/bin/sleep"
tar -C "$W/root" -c . | "${PO[@]}" import - "$IMG" >/dev/null
measure() { # label db
  python3 - "$NREC" "$W/$2" "$1" <<'PY'
import os, statistics, sys, time
nrec, db, label = sys.argv[1:4]
def one():
    pid = os.fork()
    if pid == 0:
        os.execv(nrec, [nrec, "--db", db, "record", "-q"])
    _, st, ru = os.wait4(pid, 0)
    assert os.waitstatus_to_exitcode(st) == 0
    return (ru.ru_utime + ru.ru_stime) * 1e3
for _ in range(3): one()
print(f"{label}: {statistics.median(one() for _ in range(40)):.1f} ms CPU per record (median of 40)")
PY
}
"$NREC" --db "$W/none.db" record -q
measure "no containers" none.db
for i in $(seq "$N"); do "${PO[@]}" "${RUN[@]}" --name "nrec-bench-$$-$i" "$IMG" sleep 3600 >/dev/null; done
"$NREC" --db "$W/named.db" record -q
"$NREC" --db "$W/named.db" record -q
measure "$N containers, names cached" named.db
# what naming costs of that: perf's share of the one function that does it
if command -v perf >/dev/null; then
  perf record -q -F 20000 -g -o "$W/perf.data" -- sh -c \
    "for i in \$(seq 20); do $NREC --db $W/named.db record -q; done" 2>/dev/null
  perf report -i "$W/perf.data" --children --sort sym -g none 2>/dev/null |
    awk '/name_container_namespaces|born_after/ { print "  " $1 " of a record: " $NF }'
fi
