#!/usr/bin/env bash
# Runs every check and test of the workspace: formatting, clippy, then all tests (unit,
# runtime conformance, CLI, harness). Tests start their own redis-server on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-tools.sh

echo "==> cargo fmt --check"
cargo fmt --all --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
# The components' exports only exist in Wasm builds; lint those too.
cargo clippy --target wasm32-wasip2 -p users -p catalog -p orders -p payments -p shipping -p notifications \
  -p gateway-component -p wasmshop-kit \
  -p spin-conformance -p wasi-hello -- -D warnings

echo "==> cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# Only cargo's own result lines: tools run by tests (schemathesis) print "passed" counts too.
passed=$(grep -E '^test result:' "$log" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -E '^test result:' "$log" | grep -Eo '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
echo
echo "summary: ${passed} passed, ${failed} failed"
exit "$status"
