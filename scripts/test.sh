#!/usr/bin/env bash
# The README's test command: builds and runs every test of the workspace.
#
# It installs what the tests need itself, so it works on a fresh Debian machine with only the
# Rust toolchain. Tests that drive real tools (Prometheus, JMeter, NATS, PostgreSQL) arrive with
# later issues; under CI=true a missing tool is then a failure, never a silent skip.
set -euo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== unit, integration and golden tests (benches run once each as tests)"
cargo test --workspace --all-targets --locked 2>&1 | tee -a "$log"

echo "== doc tests (the README's embedding example and the crate docs)"
cargo test --workspace --doc --locked 2>&1 | tee -a "$log"

# One closing line for the whole run (cargo prints one per test binary).
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
