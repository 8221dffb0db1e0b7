#!/usr/bin/env bash
# Cost of reading the eBPF map per live entry (issue 19 item 7), side by side in one run:
# N idle processes each holding 4 entries (UDP over 127.0.0.1 and ::1, sent and received),
# then `nrec record` with eBPF on (the map holding 4·N entries) and off, interleaved.
#
#   sudo benches/ebpf-read.sh [N]      # default 1250 processes = 5 000 entries; needs hyperfine
#
# Prints both means (wall and CPU) and (on − off) / entries. Everything it starts is ended through its
# parent (a stop file), by PID; the pins and databases are removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root"; exit 2; }
command -v hyperfine >/dev/null || { echo "missing hyperfine: apt-get install hyperfine"; exit 2; }
N=${1:-1250}
if [ -z "${NREC:-}" ]; then   # NREC=path: measure another build side by side
  cargo build --release --quiet
  NREC=$PWD/target/release/nrec
fi
W=$(mktemp -d /tmp/nrec-ebpf-read.XXXXXX)
export NREC_BPF_DIR=/sys/fs/bpf/nrec-read-$$
PARENT=""
cleanup() {
  touch "$W/stop"
  [ -z "$PARENT" ] || { sleep 1; kill "$PARENT" 2>/dev/null || true; }
  "$NREC" setup --remove -q 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
cat >"$W/procs.py" <<'PY'
import os, socket, sys, time
n, stop = int(sys.argv[1]), sys.argv[2]
kids = []
for i in range(n):
    pid = os.fork()
    if pid == 0:
        for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            s = socket.socket(fam, socket.SOCK_DGRAM); s.bind((host, 0))
            s.sendto(b"x" * 10, s.getsockname()); s.recv(100); s.close()
        while not os.path.exists(stop): time.sleep(0.5)
        os._exit(0)
    kids.append(pid)
print("ready", flush=True)
while not os.path.exists(stop): time.sleep(0.2)
for p in kids: os.waitpid(p, 0)
PY
"$NREC" --db "$W/on.db" record -q     # loads the program into this run's own pin dir
python3 "$W/procs.py" "$N" "$W/stop" >"$W/ready" &
PARENT=$!
for _ in $(seq 120); do grep -q ready "$W/ready" 2>/dev/null && break; sleep 0.5; done
sleep 2
entries=$("$NREC" --db "$W/on.db" status --format json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["ebpf"]["host"]["entries"])')
"$NREC" --db "$W/on.db" record -q
NREC_EBPF=off "$NREC" --db "$W/off.db" record -q
hyperfine -N -w 3 -r 60 --export-json "$W/h.json" \
  "$NREC --db $W/on.db record -q" "env NREC_EBPF=off $NREC --db $W/off.db record -q" >/dev/null
python3 - "$W/h.json" "$entries" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]; n = int(sys.argv[2])
cpu = lambda x: (x["user"] + x["system"]) * 1e3
on, off = r[0]["mean"] * 1e3, r[1]["mean"] * 1e3
con, coff = cpu(r[0]), cpu(r[1])
print(f"entries {n}: record with eBPF {on:.1f} ms, without {off:.1f} ms (wall): "
      f"{(on - off) * 1e3 / n:.2f} µs per live entry")
print(f"entries {n}: record with eBPF {con:.1f} ms, without {coff:.1f} ms (CPU, user+system): "
      f"{(con - coff) * 1e3 / n:.2f} µs per live entry")
PY
