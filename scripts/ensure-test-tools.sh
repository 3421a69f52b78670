#!/usr/bin/env bash
# Installs what only the tests need, on top of scripts/ensure-tools.sh; called by scripts/test.sh
# alone, so `scripts/up.sh` installs nothing that merely tests the app.
set -euo pipefail

sudo_cmd=""
if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi

# Installs Debian packages; a package that comes with a service (Prometheus on :9090, HAProxy)
# has it stopped and disabled, since the tests run their own on ports of their choosing.
install_packages() {
  echo "==> installing $* from Debian's packages"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  if command -v systemctl >/dev/null 2>&1; then
    for service in "$@"; do
      $sudo_cmd systemctl disable --now "$service" >/dev/null 2>&1 || true
    done
  fi
}

# schemathesis fuzzes the running app against its OpenAPI document in the test suite, wherever
# Python is available (tests/tests/schemathesis.rs).
if command -v python3 >/dev/null 2>&1 && ! python3 -c "import schemathesis" >/dev/null 2>&1; then
  echo "==> installing schemathesis from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check "schemathesis==4.32.5"
fi

missing=()
# The browser tests (tests/tests/browser.rs) drive a headless Chromium over WebDriver.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
# promtool checks and unit-tests the alert rules of deploy/prometheus (tests/tests/alerts.rs).
# Debian ships it only with the server (about 20 MB to download, 100 MB installed).
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
# HAProxy balances the local replica topology (tests/tests/replicas.rs, scripts/up-replicas.sh).
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
if [ "${#missing[@]}" -gt 0 ]; then
  install_packages "${missing[@]}"
fi
