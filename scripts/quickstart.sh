#!/usr/bin/env bash
# nrec quick start for a fresh Debian/Ubuntu machine: installs the build tools it lacks (and
# Rust with rustup when cargo is absent), builds nrec, installs it as /usr/local/bin/nrec,
# records two samples ten seconds apart into the default database (/var/lib/nrec/nrec.db)
# and prints a first report.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_packages $BUILD_PACKAGES
ensure_rust
cargo build --release --locked
$SUDO install -m 0755 "$(target_dir)/release/nrec" /usr/local/bin/nrec
echo "== nrec installed: /usr/local/bin/nrec"
$SUDO /usr/local/bin/nrec record -v
echo "== waiting 10 s for a second sample (rates need two)..."
sleep 10
$SUDO /usr/local/bin/nrec record -v
$SUDO /usr/local/bin/nrec report --since 1h -n DEV,TCP,STATE,LISTEN
$SUDO /usr/local/bin/nrec status
