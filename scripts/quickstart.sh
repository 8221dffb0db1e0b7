#!/usr/bin/env bash
# nrec quick start for a fresh Debian/Ubuntu machine: installs the build tools it lacks,
# builds nrec, installs it as /usr/local/bin/nrec, records two samples ten seconds apart
# into the default database (/var/lib/nrec/nrec.db) and prints a first report.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

# gcc: the bundled SQLite; clang, libelf-dev, zlib1g-dev, make, pkg-config: the eBPF
# accounting program and the libbpf that loads it.
PKGS="gcc libc6-dev iproute2 clang libelf-dev zlib1g-dev make pkg-config"
MISSING=$(for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
if [ -n "$MISSING" ]; then
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -qq $MISSING
fi
if ! command -v cargo >/dev/null; then
  # Debian's own cargo is too old (nrec needs Rust 1.85 or newer).
  echo "Rust not found: installing it with rustup (https://rustup.rs)"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  . "$HOME/.cargo/env"
fi

cargo build --release --locked
$SUDO install -m 0755 target/release/nrec /usr/local/bin/nrec
echo "== nrec installed: $(command -v nrec)"
$SUDO nrec record -v
echo "== waiting 10 s for a second sample (rates need two)..."
sleep 10
$SUDO nrec record -v
$SUDO nrec report --since 1h -n DEV,TCP,STATE,LISTEN
$SUDO nrec status
