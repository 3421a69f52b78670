#!/usr/bin/env bash
# Runs every check and test of the workspace: formatting, clippy, then all tests (unit,
# runtime conformance, CLI, harness). Tests start their own redis-server on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-tools.sh
bash scripts/ensure-test-tools.sh

echo "==> cargo fmt --check"
cargo fmt --all --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
# The components' exports only exist in Wasm builds; lint those too.
cargo clippy --target wasm32-wasip2 -p users -p catalog -p orders -p payments -p shipping -p notifications -p audit \
  -p gateway-component -p storefront -p wasmshop-kit \
  -p spin-conformance -p wasi-hello -- -D warnings

echo "==> cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
# --no-fail-fast: a failing test binary must not keep the ones after it from running.
cargo test --workspace --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# Only cargo's own lines count: tools run by tests (schemathesis) print "passed" counts too.
# Every test binary cargo starts (and each crate's doc-tests) ends with one `test result:` line,
# unless it crashes. (awk, not grep: no match must not stop the script before the summary.)
started=$(awk '/^ +Running .+ \(.+\)$|^ +Doc-tests / {n++} END {print n+0}' "$log")
reported=$(awk '/^test result:/ {n++} END {print n+0}' "$log")
read -r passed failed < <(awk '/^test result:/ {
  for (i = 2; i <= NF; i++) { if ($i ~ /^passed/) p += $(i - 1); if ($i ~ /^failed/) f += $(i - 1) }
} END {print p + 0, f + 0}' "$log")
echo
echo "test binaries: ${reported} reported of ${started} started"
if [ "$reported" -lt "$started" ]; then
  echo "warning: $((started - reported)) test binaries ended without a result (crashed?)"
fi
echo "summary: ${passed} passed, ${failed} failed"
exit "$status"
