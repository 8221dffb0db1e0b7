#!/usr/bin/env bash
# Rollups benchmark (issue "Rollups, retention and long-range reports"), one run:
#
#   sudo benches/rollups.sh [YEAR_DB]   # root, hyperfine, sqlite3, python3, vnstat, sysstat
#
# 1. The simulated year, exactly as the issue gives it (skipped when YEAR_DB is passed: a
#    database that command already wrote, ~35 min on 2 cores), its size and what holds it.
# 2. The report targets on that database with the real CLI (hyperfine, warm cache).
# 3. What rolling up and pruning add to one `record` (CPU per sample, on a copy of the year,
#    interleaved with plain records on a fresh database, and with sadc for the budget).
# 4. vnStat 2.10 for the same views on its own database, filled the way a year of vnstatd
#    leaves it (its default retention: 48 h of 5-minute, 4 days hourly, 62 days daily,
#    25 months, all years, top 20 days) for the same 10 interfaces.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (records every namespace, like the timer unit)"; exit 2; }
for t in hyperfine sqlite3 python3 vnstat /usr/lib/sysstat/sadc; do
  command -v "$t" >/dev/null || { echo "missing $t: apt-get install hyperfine sqlite3 python3 vnstat sysstat"; exit 2; }
done
cargo build --release --quiet --bin nrec --example simulate
NREC=$PWD/target/release/nrec
W=$(mktemp -d /tmp/nrec-rollbench.XXXXXX)
trap 'rm -rf "$W"' EXIT
export NREC_NOW=2026-11-23T06:00:00Z TZ=UTC

echo "== 1. the simulated year =="
if [ $# -ge 1 ]; then
  DB=$1
  echo "(reusing $DB)"
else
  DB=$W/year.db
  /usr/bin/time -f "simulate: %e s wall, %M KB peak RSS" \
    cargo run --release --quiet --example simulate -- --db "$DB" --days 365 --interval 60 --procs 100 --ifaces 10
fi
ls -l "$DB" | awk '{printf "database file: %.1f MB (target <= 60 MB)\n", $5/1e6}'
sqlite3 "$DB" "SELECT name, printf('%8.1f MB', sum(pgsize)/1e6) FROM dbstat GROUP BY name ORDER BY sum(pgsize) DESC LIMIT 8" \
  | column -t -s'|'
sqlite3 "$DB" "SELECT 'raw samples: ' || count(*) || ' (' || datetime(min(ts_ms)/1000, 'unixepoch') || ' .. ' || datetime(max(ts_ms)/1000, 'unixepoch') || ')' FROM sample;
               SELECT 'rollup rows: ' || count(*) || ', days ' || count(DISTINCT day) || ', with 15-minute detail ' || sum(quarters IS NOT NULL) FROM rollup;"

echo
echo "== 2. reports on the year (hyperfine, 3 warmup runs) =="
R=(--db "$DB")
hyperfine -N --warmup 3 --runs 20 --style basic --export-markdown "$W/reports.md" \
  -n "top-procs --since 365d (<= 200 ms)" "$NREC ${R[*]} top-procs --since 365d" \
  -n "report --yesterday (<= 50 ms)" "$NREC ${R[*]} report --yesterday" \
  -n "summary --monthly (<= 50 ms)" "$NREC ${R[*]} summary --monthly" \
  -n "summary (vnstat's default view)" "$NREC ${R[*]} summary" \
  -n "export --since 365d --format csv, hourly process rows (<= 2 s)" \
     "sh -c '$NREC ${R[*]} export proc --since 365d --format csv --resolution 1h > /dev/null'" \
  -n "export --since 365d --format csv, 15-minute process rows" \
     "sh -c '$NREC ${R[*]} export proc --since 365d --format csv > /dev/null'" \
  >/dev/null
cat "$W/reports.md"
echo "rows: hourly $("$NREC" "${R[@]}" export proc --since 365d --format csv --resolution 1h | wc -l), 15-minute $("$NREC" "${R[@]}" export proc --since 365d --format csv | wc -l)"
/usr/bin/time -f "export 15-minute rows: peak RSS %M KB (constant memory: one day of rows at a time)" \
  sh -c "$NREC ${R[*]} export proc --since 365d --format csv > /dev/null"

echo
echo "== 3. record: rollup and prune cost per sample (CPU user+sys, 40 runs each, interleaved) =="
unset NREC_NOW
cp "$DB" "$W/copy.db"
cp "$DB" "$W/prune.db"
"$NREC" --db "$W/fresh.db" record -q
python3 - "$NREC" "$W" <<'EOF'
import resource, subprocess, sys, statistics
nrec, w = sys.argv[1:3]
def cpu(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
import os
runs = {"year (rollup + prune)": [], "year, a raw day due": [], "fresh database": [], "sadc -S XALL": []}
# one day later, a whole day of raw samples is due: every one of these records prunes
due = dict(os.environ, NREC_NOW="2026-11-24T06:05:00Z")
def cpu_env(cmd, env):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
for i in range(40):
    runs["year (rollup + prune)"].append(cpu([nrec, "--db", f"{w}/copy.db", "record", "-q"]))
    runs["year, a raw day due"].append(cpu_env([nrec, "--db", f"{w}/prune.db", "record", "-q"], due))
    runs["fresh database"].append(cpu([nrec, "--db", f"{w}/fresh.db", "record", "-q"]))
    runs["sadc -S XALL"].append(cpu(["/usr/lib/sysstat/sadc", "-S", "XALL", "1", "1", f"{w}/sa"]))
for k, v in runs.items():
    print(f"{k:24s} median {statistics.median(v):6.2f} ms  mean {statistics.mean(v):6.2f} ms")
s = statistics.median(runs["sadc -S XALL"])
print(f"budget (foundation: <= 2x sadc) = {2*s:.2f} ms; year record = {statistics.median(runs['year (rollup + prune)'])/s:.2f}x sadc, "
      f"pruning = {statistics.median(runs['year, a raw day due'])/s:.2f}x sadc")
EOF
echo "(the 'due' runs pruned $(( $(sqlite3 "$DB" "SELECT count(*) FROM sample") - $(sqlite3 "$W/prune.db" "SELECT count(*) FROM sample") + 40 )) raw samples, 4 per step, one step per record)"

echo
echo "== 4. vnStat 2.10 on its own database (10 interfaces, a year of its default retention) =="
mkdir -p "$W/vn/db"
printf 'DatabaseDir "%s/vn/db"\n' "$W" > "$W/vn/vnstat.conf"
vnstatd --config "$W/vn/vnstat.conf" --initdb >/dev/null 2>&1 || true
python3 - "$W/vn/db/vnstat.db" <<'EOF'
import sqlite3, sys, random, datetime as dt
c = sqlite3.connect(sys.argv[1])
now = dt.datetime(2026, 11, 23, 6, 0)
names = ["lo", "eth0", "eth1", "docker0", "wg0"] + [f"veth{i}" for i in range(5)]
random.seed(1)
for i, n in enumerate(names, 1):
    c.execute("INSERT INTO interface VALUES (?, ?, NULL, 1, ?, ?, 0, 0, 0, 0)",
              (i, n, (now - dt.timedelta(days=365)).strftime("%Y-%m-%d %H:%M:%S"), now.strftime("%Y-%m-%d %H:%M:%S")))
    def fill(table, count, step, fmt, scale):
        for k in range(count):
            t = now - step * k
            c.execute(f"INSERT INTO {table} (interface, date, rx, tx) VALUES (?, ?, ?, ?)",
                      (i, t.strftime(fmt), random.randint(0, scale), random.randint(0, scale // 3)))
    fill("fiveminute", 576, dt.timedelta(minutes=5), "%Y-%m-%d %H:%M", 10**8)
    fill("hour", 96, dt.timedelta(hours=1), "%Y-%m-%d %H:00", 10**9)
    fill("day", 62, dt.timedelta(days=1), "%Y-%m-%d", 10**10)
    y, m = now.year, now.month
    for k in range(13):
        c.execute("INSERT INTO month (interface, date, rx, tx) VALUES (?, ?, ?, ?)", (i, f"{y:04d}-{m:02d}-01", 10**11, 10**10))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    for y in (2025, 2026):
        c.execute("INSERT INTO year (interface, date, rx, tx) VALUES (?, ?, ?, ?)", (i, f"{y}-01-01", 10**12, 10**11))
    fill("top", 20, dt.timedelta(days=3), "%Y-%m-%d", 10**10)
c.commit()
EOF
ls -l "$W/vn/db/vnstat.db" | awk '{printf "vnstat database: %.2f MB (keeps no minutes, no processes, 62 days of days)\n", $5/1e6}'
V="vnstat --config $W/vn/vnstat.conf"
hyperfine -N --warmup 3 --runs 20 --style basic --export-markdown "$W/vn.md" \
  -n "vnstat (default view, all interfaces)" "$V" \
  -n "vnstat -m (monthly)" "$V -m" \
  -n "vnstat -d (daily)" "$V -d" \
  -n "vnstat --json" "$V --json" >/dev/null
cat "$W/vn.md"
