#!/usr/bin/env bash
# Builds the Debian package: target/debian/nrec_VERSION-1_ARCH.deb (under CARGO_TARGET_DIR
# when set). Installs what it needs when missing (the build packages, dpkg-dev, cargo-deb),
# builds nrec in release mode, writes the man pages and shell completions from the binary
# itself (the same definitions as --help), and packages them with cargo-deb (Cargo.toml,
# [package.metadata.deb]).
#   scripts/deb.sh             # build it
#   scripts/deb.sh --install   # build it and install it with apt-get (sudo when not root)
set -euo pipefail
install=""
case "${1:-}" in
  --install) install=1 ;;
  "") ;;
  *) echo "usage: scripts/deb.sh [--install]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_rust
ensure_packages $BUILD_PACKAGES dpkg-dev
command -v cargo-deb >/dev/null || cargo install cargo-deb --locked --version 3.8.0
cargo build --release --locked
target=$(target_dir)
out="$target/release/deb"
rm -rf "$out" && mkdir -p "$out/man" "$out/completions"
bin="$target/release/nrec"
# the pages' date: the last commit's, so the same tree packages the same bytes
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
"$bin" --nrec-internal-man "$out/man"
gzip -9n "$out"/man/*
"$bin" completions bash > "$out/completions/nrec"
"$bin" completions zsh > "$out/completions/_nrec"
"$bin" completions fish > "$out/completions/nrec.fish"
cargo deb --no-build --locked
deb=$(ls -t "$target"/debian/nrec_*.deb | head -1)
if [ -n "$install" ]; then
  # apt-get wants a path with a slash to take a file for a package name
  case "$deb" in /*) ;; *) deb="./$deb" ;; esac
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb"
  echo "== installed $deb: $(/usr/bin/nrec --version); the timer records every minute"
fi
