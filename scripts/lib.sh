# Sourced by scripts/quickstart.sh, scripts/test.sh and .ci/run: the Debian/Ubuntu packages
# nrec needs, and the one way they are installed (only what is missing; sudo when not root).

# gcc, libc6-dev: the bundled SQLite; clang, libelf-dev, zlib1g-dev, make, pkg-config: the
# eBPF accounting program and the libbpf that loads it; iproute2: `ip` (namespaces);
# ca-certificates, curl: cargo's and rustup's downloads over HTTPS.
BUILD_PACKAGES="ca-certificates curl gcc libc6-dev clang libelf-dev zlib1g-dev make pkg-config iproute2 fonts-dejavu-core"
# What the tests use besides: libpcap-dev (the `pcap` feature links libpcap), sysstat (`sar`
# side by side), tzdata (DST windows), python3 (the named TCP peer processes), fuse3 and
# python3-fusepy (a /proc tree that never answers), prometheus (prometheus and promtool) and
# prometheus-node-exporter (its textfile collector), which the tests start on loopback
# themselves (their own services are kept from starting, below); man-db (`man -l` renders the
# generated pages), bash-completion, zsh, fish and tmux (the completion scripts, loaded in
# real shells); strace (holds a record's commit to race a process's exit against it);
# liburing-dev (the eBPF ground-truth program, tests/cli/iopaths.c, drives io_uring);
# podman, runc and busybox-static (real containers, their image imported from busybox);
# victoria-metrics (a second remote-write receiver), protobuf-compiler (protoc decodes what
# nrec pushes, independently of nrec), apache2-utils (htpasswd: the bcrypt hashes of a web
# config) and openssl (the tests' own CA and certificates).
TEST_PACKAGES="$BUILD_PACKAGES libpcap-dev sysstat tzdata python3 fuse3 python3-fusepy prometheus prometheus-node-exporter victoria-metrics protobuf-compiler apache2-utils openssl man-db bash-completion zsh fish tmux strace liburing-dev podman runc busybox-static chromium"

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

# ensure_packages PKG... — installs the ones dpkg does not list as installed.
ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
  done
  [ ${#missing[@]} = 0 ] && return 0
  echo "== installing ${missing[*]}"
  if [ -n "$SUDO" ] && ! command -v sudo >/dev/null; then
    echo "error: these packages are missing and sudo is not available: ${missing[*]}" >&2
    echo "       install them as root (apt-get install ${missing[*]}) and run this again" >&2
    exit 1
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # Packages that ship a daemon (prometheus listens on every address) must not start it: the
  # tests start their own, on loopback. policy-rc.d 101 = "not now", for this install only.
  local policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 0755 "$policy"
  fi
  local rc=0
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null || rc=$?
  [ -z "$policy" ] || $SUDO rm -f "$policy"
  return $rc
}

# ensure_rust — cargo on PATH, from rustup when absent (Debian's own cargo is too old: nrec
# needs Rust 1.85 or newer).
ensure_rust() {
  # shellcheck disable=SC1091
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
  command -v cargo >/dev/null && return 0
  echo "== Rust not found: installing it with rustup (https://rustup.rs)"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
}

# target_dir — where cargo puts its output (CARGO_TARGET_DIR, build.target-dir or ./target).
target_dir() {
  cargo metadata --no-deps --format-version 1 --locked |
    grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4
}
