#!/usr/bin/env bash
# The README's test command: installs what the tests need when it is missing (the build
# packages, libpcap-dev, sysstat, tzdata, python3; Rust with rustup when cargo is absent),
# then runs every test. As root the namespace, mount, eBPF and sar-comparison tests run too;
# as a normal user they print `SKIPPED …` with the reason. Arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_packages $TEST_PACKAGES
ensure_rust
cargo test --locked --all-features "$@"
