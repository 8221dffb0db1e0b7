#!/usr/bin/env bash
# Pictures benchmark (issue 14), one run on the simulated year (benches/rollups.sh writes it):
#
#   benches/pictures.sh YEAR_DB        # hyperfine; the database is only read (a copy)
#
# Issue 14's targets: `nrec html --since 7d` <= 300 ms and <= 2 MB; `summary --format svg`
# <= 50 ms. Also the other pictures, and PNG against SVG (the rasterising cost).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 YEAR_DB (sudo benches/rollups.sh writes one)"; exit 2; }
command -v hyperfine >/dev/null || { echo "missing hyperfine: apt-get install hyperfine"; exit 2; }
cargo build --release --quiet --bin nrec
NREC=$PWD/target/release/nrec
W=$(mktemp -d /tmp/nrec-pictures.XXXXXX)
trap 'rm -rf "$W"' EXIT
cp "$1" "$W/year.db"
"$NREC" --db "$W/year.db" rollup -q   # a database of an older schema is upgraded first
export NREC_NOW=2026-11-23T06:00:00Z TZ=UTC
run() { "$NREC" --db "$W/year.db" "$@"; }
echo "== sizes =="
for c in "html --since 7d" "summary --format svg" "summary --daily --format svg" \
         "report -n DEV --since 7d --format svg" "report -n DEV --yesterday --format svg" \
         "top-procs --since 7d --format svg" "summary --daily --format png"; do
  # shellcheck disable=SC2086
  printf '%-45s %9d bytes\n' "$c" "$(run $c | wc -c)"
done
echo "== times (hyperfine, warm cache) =="
hyperfine -N --warmup 3 --runs 30 --export-markdown "$W/t.md" \
  "$NREC --db $W/year.db html --since 7d" \
  "$NREC --db $W/year.db summary --format svg" \
  "$NREC --db $W/year.db top-procs --since 7d --format svg" \
  "$NREC --db $W/year.db top-hosts --since 7d --format svg" \
  "$NREC --db $W/year.db summary --daily --format svg" \
  "$NREC --db $W/year.db summary --daily --format png" \
  "$NREC --db $W/year.db report -n DEV --since 7d --format svg" \
  "$NREC --db $W/year.db report -n DEV --yesterday --format svg" \
  "$NREC --db $W/year.db report -n DEV --yesterday --format csv" >/dev/null
sed "s|$NREC --db $W/year.db ||" "$W/t.md"
