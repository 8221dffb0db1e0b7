#!/usr/bin/env bash
# What a one-shot `record` pays per connection-map entry (issue 33: target <= 1 us per live
# entry with 10 000): between two records a sender moves one datagram from each of N distinct
# local ports to one service port (N connection entries in the cut, one port row, one host),
# or from one (1 entry); the records' CPU
# (user + sys, getrusage of the child) is compared, interleaved, medians of per-round values.
#
#   sudo benches/conns-read.sh            # N=10000, 20 rounds
#   N=20000 ROUNDS=10 sudo benches/conns-read.sh
# Everything runs on 127.0.0.1 (nothing listens: the datagrams are dropped there); the
# database and the pinned state are removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root"; exit 2; }
N=${N:-10000}
ROUNDS=${ROUNDS:-20}
cargo build --release --quiet
NREC=$PWD/target/release/nrec
W=$(mktemp -d /tmp/nrec-conns-bench.XXXXXX)
export NREC_BPF_DIR=/sys/fs/bpf/nrec-conns-bench-$$
cleanup() { "$NREC" --db "$W/b.db" setup --remove -q >/dev/null 2>&1 || true; rm -rf "$W"; }
trap cleanup EXIT
"$NREC" --db "$W/b.db" record -q
"$NREC" --db "$W/b.db" record -q
python3 - "$NREC" "$W/b.db" "$N" "$ROUNDS" <<'PY'
import resource, socket, statistics, subprocess, sys
nrec, db, n, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def spray(k):
    for i in range(k):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 35000 + i))
        s.sendto(b"x", ("127.0.0.1", 9))
        s.close()
def record():
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([nrec, "--db", db, "record", "-q"], check=True)
    a = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ((a.ru_utime - b.ru_utime) + (a.ru_stime - b.ru_stime)) * 1000
many, one = [], []
for _ in range(rounds):
    spray(n); many.append(record())
    spray(1); one.append(record())
m, o = statistics.median(many), statistics.median(one)
print(f"record after {n} connections: {m:.2f} ms CPU; after 1: {o:.2f} ms (medians of {rounds})")
print(f"per connection entry: {(m - o) / (n - 1) * 1000:.3f} us (cut, read, store as ports and hosts, delete)")
PY
