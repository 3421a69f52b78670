#!/usr/bin/env bash
# Installs what building and running wasmshop needs and a fresh Debian machine lacks:
# the wasm32-wasip2 Rust target and redis-server. Called by the scripts that build or run the app
# (up.sh, test.sh, bench-gateway.sh); what only the tests need is in scripts/ensure-test-tools.sh.
set -euo pipefail

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  echo "==> installing the wasm32-wasip2 Rust target"
  rustup target add wasm32-wasip2
fi

if ! command -v redis-server >/dev/null 2>&1; then
  echo "==> installing redis-server from Debian's packages"
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq redis-server >/dev/null
  # Debian starts a system-wide instance on 6379; our scripts and tests run their own.
  if command -v systemctl >/dev/null 2>&1; then
    $sudo_cmd systemctl disable --now redis-server >/dev/null 2>&1 || true
  fi
fi
