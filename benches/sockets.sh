#!/usr/bin/env bash
# Per-process accounting benchmark (issue "Per-process, per-port and per-host accounting").
#
#   sudo benches/sockets.sh            # needs root, python3, hyperfine, GNU time, iproute2
#
# 1. `nrec record` against `ss -tanp` with 10k sockets / 1k processes and with 100k sockets:
#    established loopback connections held by bounded helper processes (both ends in the
#    helper; at most 20000 fds per process), plus idle `sleep` processes up to 1000.
#    Everything runs in a private network namespace and is torn down at the end.
# 2. `nrec top-procs --since 7d` over a week of one-minute samples with 100 processes.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root"; exit 2; }
for t in python3 hyperfine /usr/bin/time ss ip; do
  command -v "$t" >/dev/null || { echo "missing $t"; exit 2; }
done
cargo build --release --quiet
NREC=$PWD/target/release/nrec
W=$(mktemp -d /tmp/nrec-sockbench.XXXXXX)
NS=nrecbench$$
PIDS=()
SLEEPERS=()
cleanup() {
  for p in "${PIDS[@]}" "${SLEEPERS[@]}"; do kill "$p" 2>/dev/null || true; done
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up

# A helper holding `conns` self-connections (2 sockets each) until killed or 15 minutes.
cat > "$W/hold.py" <<'EOF'
import resource, socket, sys, time
conns = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(4096)
keep = []
for i in range(conns):
    c = socket.create_connection(l.getsockname()); s, _ = l.accept()
    c.sendall(b"x" * 100); s.recv(100)
    keep += [c, s]
print("ready", flush=True)
time.sleep(900)
EOF

run_case() { # sockets helpers
  local socks=$1 helpers=$2 per=$(( $1 / $2 / 2 ))
  echo
  echo "== $socks sockets in $helpers helper processes, 1000 processes in the namespace's host =="
  local fifo=$W/ready.$socks
  for _ in $(seq "$helpers"); do
    ip netns exec "$NS" python3 "$W/hold.py" "$per" > "$fifo.$RANDOM" &
    PIDS+=($!)
  done
  # wait until every helper said ready
  for _ in $(seq 600); do
    [ "$(cat "$fifo".* 2>/dev/null | grep -c ready)" -ge "$helpers" ] && break
    sleep 0.5
  done
  local have
  have=$(ip netns exec "$NS" ss -tanH | grep -vc LISTEN)
  echo "  established sockets in the namespace: $have; processes on the host: $(ls -d /proc/[0-9]* | wc -l)"
  rm -f "$W/b.db"*
  local first
  first=$( { /usr/bin/time -f "%e s %M KB" ip netns exec "$NS" "$NREC" --db "$W/b.db" record -q; } 2>&1 | tail -1)
  echo "  first nrec record (baseline + one /proc/*/fd scan): $first"
  local steady
  steady=$( { /usr/bin/time -f "%M" ip netns exec "$NS" "$NREC" --db "$W/b.db" record -q; } 2>&1 | tail -1)
  echo "  steady nrec record peak RSS: ${steady} KB (target <= 20480 KB at 10k)"
  hyperfine -N --runs 10 --prepare "rm -f $W/cold.db $W/cold.db-wal $W/cold.db-shm" \
    --export-markdown "$W/cold.md" "ip netns exec $NS $NREC --db $W/cold.db record -q" >/dev/null 2>&1
  hyperfine -N --warmup 2 --runs 10 --export-markdown "$W/h.md" \
    "ip netns exec $NS $NREC --db $W/b.db record -q" \
    "ip netns exec $NS ss -tanp" >/dev/null 2>&1
  python3 - "$W/h.md" "$W/cold.md" <<'PY'
import sys
def times(f):
    return [float(r.split('|')[2].split('±')[0]) for r in open(f) if r.startswith('| `')]
t, c = times(sys.argv[1]), times(sys.argv[2])
print(f"  steady nrec record: {t[0]:.1f} ms   ss -tanp: {t[1]:.1f} ms   ratio {t[0]/t[1]:.2f}")
print(f"  cold nrec record (new database, every owner looked up; 10 runs): {c[0]:.1f} ms   ratio {c[0]/t[1]:.2f}")
PY
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait "${PIDS[@]}" 2>/dev/null || true
  PIDS=()
  rm -f "$fifo".*
}

# 1000 processes on the host (idle sleepers fill up what the helpers do not bring).
n=$(ls -d /proc/[0-9]* | wc -l)
for _ in $(seq $((1000 - n - 60))); do sleep 900 & SLEEPERS+=($!); done
run_case 10000 5
run_case 100000 10
for p in "${SLEEPERS[@]}"; do kill "$p" 2>/dev/null || true; done
SLEEPERS=()

echo
echo "== top-procs --since 7d: a week of one-minute samples, 100 processes =="
"$NREC" --db "$W/week.db" record -q
python3 - "$W/week.db" <<'PY'
import sqlite3, sys, random, time
c = sqlite3.connect(sys.argv[1]); random.seed(1)
now = int(time.time() * 1000); start = now - 7 * 86400 * 1000
si = c.execute("SELECT id FROM sysinfo LIMIT 1").fetchone()[0]
c.execute("INSERT INTO netns (boot_id, inode, name) VALUES ('bench', 1, 'root')")
procs = []
for i in range(100):
    c.execute("INSERT INTO process (boot_id, pid, start_time, comm, uid, netns) VALUES ('bench', ?, 1, ?, 0, 1)", (1000 + i, f"proc{i}".encode()))
    procs.append(c.execute("SELECT last_insert_rowid()").fetchone()[0])
prev = None
for k in range(10080):
    ts = start + k * 60000
    c.execute("INSERT INTO sample (ts_ms, mono_ms, sysinfo, prev, elapsed_ms) VALUES (?, ?, ?, ?, ?)", (ts, k * 60000 + 1, si, prev, 60000 if prev else None))
    sid = c.execute("SELECT last_insert_rowid()").fetchone()[0]; prev = sid
    c.executemany("INSERT INTO proc_sample (sample, process, source, rx, tx) VALUES (?, ?, 1, ?, ?)",
                  [(sid, p, random.randint(0, 10**7), random.randint(0, 10**6)) for p in procs])
# what `record` maintains in the same transaction (the bench writes rows directly)
c.execute("""INSERT INTO proc_hour SELECT s.ts_ms / 3600000, x.process, sum(x.rx), sum(x.tx)
             FROM proc_sample x JOIN sample s ON s.id = x.sample GROUP BY 1, 2""")
c.commit()
print("  rows:", c.execute("SELECT count(*) FROM proc_sample").fetchone()[0], "raw,",
      c.execute("SELECT count(*) FROM proc_hour").fetchone()[0], "hourly")
PY
hyperfine -N --warmup 3 --runs 20 "$NREC --db $W/week.db top-procs --since 7d" 2>/dev/null | grep -E "Time|Range"
echo "  (target <= 100 ms)"
