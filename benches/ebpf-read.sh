#!/usr/bin/env bash
# Cost of reading the eBPF map per live entry (issue 19 item 7), side by side in one run:
# N idle processes each moving UDP over 127.0.0.1 and ::1, sent and received — 4 counters
# each, one map entry each since layout 5 (four before) — then `nrec record` with eBPF on
# and off, interleaved. KIND=tcp: each process holds one TCP connection to itself instead
# (2 counters: received and sent).
#
#   sudo benches/ebpf-read.sh [N]      # default 1250 processes = 5 000 counters (RUNS=100)
#
# Prints both medians (wall and CPU), (on − off) / map entries and / counters (the
# unit of layouts before 5, where each counter was an entry). Everything it starts is ended through its
# parent (a stop file), by PID; the pins and databases are removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root"; exit 2; }
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
        if os.environ.get("KIND") == "tcp":  # one TCP connection to itself: rx and tx
            l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
            c = socket.create_connection(l.getsockname()); a, _ = l.accept()
            c.send(b"x" * 10); a.recv(100)
        else:
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
# On and off alternate, run by run (a sequential series drifts with the machine's load);
# CPU is the child's user + system time (wait4), the medians are compared.
python3 - "$NREC" "$W" "$entries" "${RUNS:-100}" "$N" "${KIND:-udp}" <<'PY'
import os, statistics, sys, time
nrec, w, n, runs, procs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
per = 2 if sys.argv[6] == "tcp" else 4  # counters per process
def one(db, env):
    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.execve(nrec, [nrec, "--db", f"{w}/{db}", "record", "-q"], env)
    _, status, ru = os.wait4(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return (time.perf_counter() - t) * 1e3, (ru.ru_utime + ru.ru_stime) * 1e3
on_env = dict(os.environ); off_env = dict(os.environ, NREC_EBPF="off")
for _ in range(3):
    one("on.db", on_env); one("off.db", off_env)
on, off = [], []
for _ in range(runs):
    on.append(one("on.db", on_env)); off.append(one("off.db", off_env))
for i, what in ((0, "wall"), (1, "CPU, user+system")):
    a = statistics.median(x[i] for x in on); b = statistics.median(x[i] for x in off)
    print(f"entries {n}: record with eBPF {a:.1f} ms, without {b:.1f} ms ({what}, median of "
          f"{runs} alternating runs): {(a - b) * 1e3 / n:.2f} µs per live entry, "
          f"{(a - b) * 1e3 / (per * procs):.2f} µs per (process, protocol, direction, family) counter")
import sqlite3
blob = sqlite3.connect(f"{w}/on.db").execute("SELECT length(entries) FROM ebpf_base").fetchone()[0]
print(f"the reading stored with each sample: {blob} bytes")
PY
