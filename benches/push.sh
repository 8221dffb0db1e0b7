#!/usr/bin/env bash
# Remote write's cost (issue 34), against a real VictoriaMetrics and Prometheus on loopback:
#
#   sudo benches/push.sh [ROUNDS]      # default 40; needs victoria-metrics, prometheus, python3
#   sudo PUSH_DB=/tmp/year.db benches/push.sh   # part 1 on copies of a big database (e.g. a
#                                               # simulated year: examples/simulate --days 365)
#
# 1. What a push adds to the one-shot `record`: each round records the host into two
#    databases, one whose config has a [[remote_write]] target (VictoriaMetrics) and one
#    without, in alternating order; the CPU time (user+sys of the child) of each; the figure is
#    the median of the per-round differences, at the default [metrics] bounds.
# 2. Catching up 7 days of one-minute samples (examples/simulate: 10 interfaces, 100
#    processes) after an outage: `nrec push` to a fresh VictoriaMetrics and a fresh
#    Prometheus (remote-write receiver), samples sent per second of wall time and the peak
#    RSS; then each engine's own count of the sample counter's points.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-40}
for t in victoria-metrics prometheus python3 curl; do
  command -v "$t" >/dev/null || { echo "missing $t: apt-get install victoria-metrics prometheus python3 curl"; exit 2; }
done
cargo build --release --quiet
cargo build --release --quiet --example simulate
W=$(mktemp -d /tmp/nrec-push.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT
install -m 0755 target/release/nrec "$W/nrec"
NREC=$W/nrec
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
VM=127.0.0.1:$(free_port)
victoria-metrics -httpListenAddr="$VM" -storageDataPath="$W/vm" -retentionPeriod=100y -search.latencyOffset=0s >"$W/vm.log" 2>&1 &
PIDS+=($!)
PROM=127.0.0.1:$(free_port)
printf 'global:\n  scrape_interval: 1h\n' >"$W/prom.yml"
prometheus --config.file="$W/prom.yml" --storage.tsdb.path="$W/prom" --web.listen-address="$PROM" \
  --web.enable-remote-write-receiver --storage.tsdb.retention.time=100y >"$W/prom.log" 2>&1 &
PIDS+=($!)
until curl -sf "http://$VM/health" >/dev/null && curl -sf "http://$PROM/-/ready" >/dev/null; do sleep 0.2; done
export NREC_EBPF=${NREC_EBPF:-off}
printf '[[remote_write]]\nname = "vm"\nurl = "http://%s/api/v1/write"\n' "$VM" >"$W/push.toml"
: >"$W/none.toml"
echo "host: $(uname -r), $(nproc) CPUs, $(ip -o link | wc -l) interfaces; NREC_EBPF=$NREC_EBPF"
echo "== 1. a record with a push against one without ($ROUNDS rounds)"
if [ -n "${PUSH_DB:-}" ]; then
  cp "$PUSH_DB" "$W/push.db" && cp "$PUSH_DB" "$W/none.db"
  echo "  on copies of $PUSH_DB ($(du -h "$PUSH_DB" | cut -f1))"
fi
"$NREC" --db "$W/push.db" --config "$W/push.toml" record -q
"$NREC" --db "$W/none.db" --config "$W/none.toml" record -q
python3 - "$NREC" "$W" "$ROUNDS" <<'PY'
import resource, statistics, subprocess, sys
nrec, w, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
cmds = {k: [nrec, "--db", f"{w}/{k}.db", "--config", f"{w}/{k}.toml", "record", "-q"] for k in ("push", "none")}
def cpu(c):
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(c, check=True, stdout=subprocess.DEVNULL)
    a = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (a.ru_utime - b.ru_utime) + (a.ru_stime - b.ru_stime)
t = {k: [] for k in cmds}
diff = []
for i in range(rounds):
    order = ["push", "none"] if i % 2 == 0 else ["none", "push"]
    got = {k: cpu(cmds[k]) for k in order}
    for k in got:
        t[k].append(got[k])
    diff.append(got["push"] - got["none"])
for k in t:
    print(f"  record {k:5}: median {statistics.median(t[k]) * 1000:.2f} ms CPU")
print(f"  the push adds: median {statistics.median(diff) * 1000:.2f} ms CPU per record (target <= 2 ms)")
PY
"$NREC" --db "$W/push.db" --config "$W/push.toml" status | grep '^remote write'
echo "== 2. catching up 7 days of one-minute samples"
target/release/examples/simulate --db "$W/week.db" --days 7 --interval 60 | tail -1
for engine in vm prom; do
  case $engine in vm) url="http://$VM/api/v1/write" ;; prom) url="http://$PROM/api/v1/write" ;; esac
  cp "$W/week.db" "$W/$engine-week.db"
  printf '[[remote_write]]\nname = "%s"\nurl = "%s"\nbackfill = "8d"\ntimeout = "10m"\n' "$engine" "$url" >"$W/$engine-week.toml"
  python3 - "$NREC" "$W" "$engine" <<'PY'
import re, resource, subprocess, sys, time
nrec, w, e = sys.argv[1:4]
t0 = time.monotonic()
out = subprocess.run([nrec, "--db", f"{w}/{e}-week.db", "--config", f"{w}/{e}-week.toml", "push"],
                     check=True, capture_output=True, text=True).stdout
wall = time.monotonic() - t0
r = resource.getrusage(resource.RUSAGE_CHILDREN)
n = int(re.search(r"sent (\d+) samples", out).group(1))
print(f"  {out.strip()}")
print(f"  {e}: {n} samples in {wall:.2f} s wall: {n / wall:,.0f} samples/s (target >= 20 000); "
      f"CPU {r.ru_utime + r.ru_stime:.2f} s; peak RSS {r.ru_maxrss / 1024:.1f} MiB (target <= 50)")
PY
done
sleep 2
curl -s "http://$VM/internal/force_flush" >/dev/null
for a in "$VM" "$PROM"; do
  printf '  %s counts: ' "$a"
  curl -s -G "http://$a/api/v1/query" --data-urlencode 'query=count_over_time(nrec_samples_total{instance="simulated"}[8d])' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["result"][0]["value"][1], "points of nrec_samples_total (10081 samples)")'
done
