#!/usr/bin/env bash
# The daemon's memory through many distinct processes (issue 12, item 11): a daemon must run
# for a year in bounded memory, so its resident set may not grow with every process it saw.
#
#   sudo benches/daemon-memory.sh [PROCESSES] [PARALLEL]   # default 100000 and 400
#
# Starts `nrec daemon --interval 1s` on a fresh database, then a generator that forks
# PROCESSES short-lived children (PARALLEL at a time), each opening its own TCP connection to
# a sink on 127.0.0.1, sending 4 KiB and holding the connection for 1.2 s, so every child is
# seen by at least one socket dump (and by eBPF, when NREC_EBPF allows it) and becomes its own
# process row and series. Prints the daemon's VmRSS every 10 % of the run, its peak (VmHWM),
# and the process rows the database holds at the end. Traffic stays on loopback and is
# bounded: PROCESSES × 4 KiB.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (the daemon reads every process's sockets)"; exit 2; }
N=${1:-100000}
P=${2:-400}
cargo build --release --quiet
W=$(mktemp -d /tmp/nrec-daemon-mem.XXXXXX)
DPID=
cleanup() {
  [ -z "$DPID" ] || kill -TERM "$DPID" 2>/dev/null || true
  [ -z "$DPID" ] || wait "$DPID" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
install -m 0755 target/release/nrec "$W/nrec"
"$W/nrec" --db "$W/d.db" daemon --interval 1s 2>"$W/daemon.err" &
DPID=$!
sleep 3
echo "host: $(uname -r), $(nproc) CPUs; NREC_EBPF=${NREC_EBPF:-auto}; $N processes, $P at a time"
python3 - "$DPID" "$N" "$P" <<'EOF'
import os, selectors, socket, sys, time
dpid, n, par = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def status(field):
    with open(f"/proc/{dpid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
lst = socket.socket()
lst.bind(("127.0.0.1", 0))
lst.listen(4096)
port = lst.getsockname()[1]
sink = os.fork()
if sink == 0:  # the sink: accept and discard (killed at the end)
    sel = selectors.DefaultSelector()
    lst.setblocking(False)
    sel.register(lst, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            if key.fileobj is lst:
                try:
                    c, _ = lst.accept()
                except BlockingIOError:
                    continue
                c.setblocking(False)
                sel.register(c, selectors.EVENT_READ)
            else:
                try:
                    d = key.fileobj.recv(65536)
                except BlockingIOError:
                    continue
                except ConnectionError:
                    d = b""
                if not d:
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
lst.close()
payload = b"x" * 4096
start = time.monotonic()
base = status("VmRSS")
print(f"  before: VmRSS {base} kB (daemon warmed up 3 s)", flush=True)
live, done, step = set(), 0, max(n // 10, 1)
while done < n:
    while len(live) < par and done + len(live) < n:
        pid = os.fork()
        if pid == 0:
            try:
                s = socket.create_connection(("127.0.0.1", port))
                s.sendall(payload)
                time.sleep(1.2)
                s.close()
            finally:
                os._exit(0)
        live.add(pid)
    pid, _ = os.wait()
    live.discard(pid)
    done += 1
    if done % step == 0:
        print(f"  {done:>7} processes, {time.monotonic() - start:6.0f} s: VmRSS {status('VmRSS')} kB", flush=True)
time.sleep(3)  # a last sample or two after the final children
print(f"  after:  VmRSS {status('VmRSS')} kB, peak VmHWM {status('VmHWM')} kB; "
      f"growth {status('VmRSS') - base} kB = {(status('VmRSS') - base) * 1024 / n:.1f} B per process", flush=True)
os.kill(sink, 9)
os.waitpid(sink, 0)
EOF
kill -TERM "$DPID"; wait "$DPID" || true; DPID=
echo "  database: $(sqlite3 "$W/d.db" 'SELECT count(*) FROM process') process rows, $(sqlite3 "$W/d.db" 'SELECT count(*) FROM series') series, $(sqlite3 "$W/d.db" 'SELECT count(*) FROM sample') samples"
echo "  daemon warnings: $(grep -c . "$W/daemon.err" || true) lines"; head -5 "$W/daemon.err"
