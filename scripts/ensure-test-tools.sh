#!/usr/bin/env bash
# Installs what only the tests need, on top of scripts/ensure-tools.sh; called by scripts/test.sh
# alone, so `scripts/up.sh` installs nothing that merely tests the app.
set -euo pipefail

# schemathesis fuzzes the running app against its OpenAPI document in the test suite, wherever
# Python is available (tests/tests/schemathesis.rs).
if command -v python3 >/dev/null 2>&1 && ! python3 -c "import schemathesis" >/dev/null 2>&1; then
  echo "==> installing schemathesis from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check "schemathesis==4.32.5"
fi

# The browser tests (tests/tests/browser.rs) drive a headless Chromium over WebDriver.
if ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
  echo "==> installing chromium and chromium-driver from Debian's packages"
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
    chromium chromium-driver >/dev/null
fi

# promtool checks and unit-tests the alert rules of deploy/prometheus (tests/tests/alerts.rs).
# Debian ships it only with the server (about 20 MB to download, 100 MB installed).
if ! command -v promtool >/dev/null 2>&1; then
  echo "==> installing promtool (package prometheus) from Debian's packages"
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
    prometheus >/dev/null
  # The package starts a Prometheus server on :9090, where `up --metrics-listen` is often put.
  if command -v systemctl >/dev/null 2>&1; then
    $sudo_cmd systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi
