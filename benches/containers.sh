#!/usr/bin/env bash
# Cost of network namespaces in a sample (issues 17 and 37), in one run: the CPU of the
# recorder the timer runs (`nrec-record`, median of 20) on this host, then with N namespaces,
# each figure beside the same recorder with NREC_IDLE_NAMESPACES=read (every namespace read in
# full every sample: what idle namespaces cost before they were carried forward).
#
#   sudo benches/containers.sh [N]            # N idle `ip netns` namespaces (default 1000),
#                                             # then the daemon at a 10 s interval among them
#   sudo benches/containers.sh --podman [N]   # N podman containers (default 200; runc,
#                                             # cgroupfs, busybox), idle, then each moving
#                                             # traffic on its loopback during every interval
#
# Needs root; --podman needs podman, runc and busybox-static. Everything it starts is
# removed on exit (namespaces and containers by name, the image, databases).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root"; exit 2; }
PODMAN=0
if [ "${1:-}" = --podman ]; then PODMAN=1; shift; fi
N=${1:-$([ $PODMAN = 1 ] && echo 200 || echo 1000)}
if [ -z "${NREC:-}" ]; then cargo build --release --quiet; NREC=$PWD/target/release/nrec-record; fi
W=$(mktemp -d /tmp/nrec-containers.XXXXXX)
install -m 0755 "$NREC" "$W/nrec-record"   # a copy, as a package installs it
NREC=$W/nrec-record
PO=(podman --runtime runc --cgroup-manager cgroupfs)
IMG=localhost/nrec-bench-bb:$$
TAG=nrecb$$x
export NREC_EBPF=off NREC_BPF_DIR=$W/bpf
cleanup() {
  if [ $PODMAN = 1 ]; then
    for i in $(seq "$N"); do echo "nrec-bench-$$-$i"; done | xargs -r "${PO[@]}" rm -f -t 0 >/dev/null 2>&1 || true
    "${PO[@]}" rmi -f "$IMG" >/dev/null 2>&1 || true
  else
    for i in $(seq "$N"); do ip netns del "$TAG$i" 2>/dev/null || true; done
  fi
  [ -z "${DAEMON:-}" ] || kill "$DAEMON" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
# median CPU (ms) of 20 records after 3 warm-up ones; extra environment as arguments
measure() { # label db [VAR=value...]
  local label=$1 db=$2; shift 2
  env "$@" python3 - "$NREC" "$W/$db" "$label" <<'PY'
import os, statistics, sys
nrec, db, label = sys.argv[1:4]
def one():
    pid = os.fork()
    if pid == 0:
        os.execv(nrec, [nrec, "--db", db, "-q"])
    _, st, ru = os.wait4(pid, 0)
    assert os.waitstatus_to_exitcode(st) == 0
    return (ru.ru_utime + ru.ru_stime) * 1e3
for _ in range(3): one()
print(f"{label}: {statistics.median(one() for _ in range(20)):.1f} ms CPU per record (median of 20)")
PY
}
echo "host: $(uname -r), $(nproc) CPUs, NREC_EBPF=off"
measure "no namespaces" none.db
measure "no namespaces, NREC_IDLE_NAMESPACES=read" none-read.db NREC_IDLE_NAMESPACES=read
if [ $PODMAN = 0 ]; then
  for i in $(seq "$N"); do ip netns add "$TAG$i"; done
  measure "$N idle ip netns namespaces" ns.db
  measure "$N idle ip netns namespaces, NREC_IDLE_NAMESPACES=read" ns-read.db NREC_IDLE_NAMESPACES=read
  # the daemon among them: its CPU over 6 samples at the packaged 10 s interval
  "$(dirname "$NREC")/nrec-record" --db "$W/d.db" -q
  "${NREC_DAEMON:-$PWD/target/release/nrec}" --db "$W/d.db" daemon -q --no-push --interval 10s &
  DAEMON=$!
  sleep 5   # its first sample, the namespaces' baselines
  t0=$(awk '{print $14 + $15}' "/proc/$DAEMON/stat")
  sleep 60
  t1=$(awk '{print $14 + $15}' "/proc/$DAEMON/stat")
  kill "$DAEMON"; wait "$DAEMON" 2>/dev/null || true; DAEMON=
  hz=$(getconf CLK_TCK)
  python3 -c "import sys; print(f'daemon at 10 s among $N idle namespaces: {100 * ($t1 - $t0) / $hz / 60:.2f} % of a core (60 s)')"
  exit 0
fi
RUN=(run --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --network none -d)
mkdir -p "$W/root/bin" "$W/root/tmp"
cp "$(command -v busybox)" "$W/root/bin/busybox"
for a in sh sleep nc; do ln -s busybox "$W/root/bin/$a"; done
tar -C "$W/root" -c . | "${PO[@]}" import - "$IMG" >/dev/null
for i in $(seq "$N"); do "${PO[@]}" "${RUN[@]}" --name "nrec-bench-$$-$i" "$IMG" sleep 3600 >/dev/null; done
measure "$N idle containers" idle.db
measure "$N idle containers, NREC_IDLE_NAMESPACES=read" idle-read.db NREC_IDLE_NAMESPACES=read
# every container moves traffic on its loopback all the time: a refused TCP connection
# (SYN, RST) every 50 ms (busybox nc; bounded by the run: the containers are removed on exit)
for i in $(seq "$N"); do
  "${PO[@]}" exec -d "nrec-bench-$$-$i" sh -c 'while :; do nc 127.0.0.1 9 </dev/null 2>/dev/null; sleep 0.05; done' >/dev/null
done
sleep 2
measure "$N busy containers" busy.db
measure "$N busy containers, NREC_IDLE_NAMESPACES=read" busy-read.db NREC_IDLE_NAMESPACES=read
