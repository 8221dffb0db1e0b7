#!/usr/bin/env bash
# The Prometheus endpoint and the backfill export on the simulated year (issue 13):
#
#   benches/metrics.sh [YEAR_DB]     # needs curl, python3, prometheus-node-exporter
#   BIG_DB=PATH benches/metrics.sh YEAR_DB   # also the backfill of a year with many processes
#
# Without YEAR_DB the year is simulated first (examples/simulate.rs: 365 days every 60 s,
# 100 processes, 10 interfaces; ~35 min on 2 cores). Measures, side by side in one run:
# one scrape of `nrec serve` (default cardinality) against one scrape of node_exporter with
# only its netdev collector (the closest peer: interface counters, no processes), the
# server's resident memory before and after 200 scrapes, and the year's backfill export.
set -euo pipefail
cd "$(dirname "$0")/.."
for t in curl python3 prometheus-node-exporter; do
  command -v "$t" >/dev/null || { echo "missing $t: apt-get install curl python3 prometheus-node-exporter"; exit 2; }
done
cargo build --release --quiet --bin nrec --example simulate
W=$(mktemp -d /tmp/nrec-metrics.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$W"' EXIT
export NREC_NOW=2026-11-23T06:00:00Z TZ=UTC
DB=${1:-}
if [ -z "$DB" ]; then
  DB=$W/year.db
  target/release/examples/simulate --db "$DB" --days 365 --interval 60 --procs 100 --ifaces 10
fi
echo "database: $DB ($(du -h "$DB" | cut -f1))"
NREC=target/release/nrec
"$NREC" --db "$DB" -q serve --listen 127.0.0.1:19191 &
PIDS+=($!)
SPID=$!
prometheus-node-exporter --web.listen-address=127.0.0.1:19192 --collector.disable-defaults --collector.netdev >/dev/null 2>&1 &
PIDS+=($!)
sleep 1
rss() { awk '/^VmRSS/ {print $2}' "/proc/$SPID/status"; }
curl -s -o "$W/one.om" -H 'Accept: application/openmetrics-text; version=1.0.0' http://127.0.0.1:19191/metrics
echo "one scrape: $(wc -l < "$W/one.om") lines, $(grep -vc '^#' "$W/one.om") samples, $(wc -c < "$W/one.om") bytes"
before=$(rss)
# One client in-process (no curl start-up in the figure): 200 sequential scrapes of each.
python3 - <<'PY'
import socket, statistics, time
def get(port, accept):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"GET /metrics HTTP/1.0\r\nHost: x\r\nAccept: {accept}\r\n\r\n".encode())
    while s.recv(65536):
        pass
    s.close()
for name, port, acc in [("nrec serve (target <= 20 ms)", 19191, "application/openmetrics-text"),
                        ("node_exporter, netdev collector only", 19192, "text/plain")]:
    get(port, acc)
    t = []
    for _ in range(200):
        a = time.perf_counter()
        get(port, acc)
        t.append((time.perf_counter() - a) * 1000)
    t.sort()
    print(f"  one scrape, {name}: median {statistics.median(t):.2f} ms, p90 {t[179]:.2f} ms")
PY
for _ in $(seq 200); do curl -s -o /dev/null http://127.0.0.1:19191/metrics; done
after=$(rss)
echo "nrec serve VmRSS: $before kB before, $after kB after 400 scrapes (growth $((after - before)) kB; target <= 10 MB)"
# The backfill (issue 36): every raw sample of the kept days, rollups beyond; memory is the
# label sets kept, not the window (targets: <= 10 s, <= 100 MB peak RSS). BIG_DB, when given,
# is a second year with many process names (e.g. --procs 5000 --interval 300): the same memory.
for db in "$DB" ${BIG_DB:-}; do
  for res in "" "--resolution 1h"; do
    /usr/bin/time -f "backfill export of 365 days ${res:-(finest)}, $(basename "$db"): %e s wall, %M KB peak RSS" \
      "$NREC" --db "$db" export --since 365d $res --format openmetrics > "$W/year.om"
    echo "  $(wc -l < "$W/year.om") lines, $(du -h "$W/year.om" | cut -f1)"
  done
done
