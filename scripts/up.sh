#!/usr/bin/env bash
# Builds and serves wasmshop locally: installs missing tools, builds the runtime and the
# components, starts a Redis on loopback with its data under the state dir, then runs
# `wasmshop-spin up`. Extra arguments go to `up` (e.g. --listen 127.0.0.1:8080).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-tools.sh

state_dir="${WASMSHOP_STATE_DIR:-.spin}"
redis_port="${WASMSHOP_REDIS_PORT:-6379}"

echo "==> building the runtime (release)"
cargo build --release -p local-infra
runtime=target/release/wasmshop-spin

echo "==> building the components"
"$runtime" build

# The state is its owner's only: a new state dir is made 0700 here (the runtime restricts an
# existing one when it starts).
(umask 077 && mkdir -p "$state_dir/redis")
redis_pid=""
if redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
  echo "==> using the Redis already on 127.0.0.1:$redis_port"
else
  echo "==> starting Redis on 127.0.0.1:$redis_port (data in $state_dir/redis)"
  redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$state_dir/redis" \
    --appendonly yes --daemonize no --logfile "redis.log" &
  redis_pid=$!
  trap '[ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
  for _ in $(seq 1 50); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
fi

# A signing key for local tokens, made once and kept with the state; never printed.
# Created 0600 in a umask 077 subshell: written first and restricted after, it would be
# readable by others in between.
if [ ! -s "$state_dir/jwt_secret" ]; then
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$state_dir/jwt_secret")
fi
chmod 600 "$state_dir/jwt_secret"

# The recovery tick of every context (re-send unsent events, re-drive dead letters, move stuck
# sagas on), driven by the runtime itself; in production a CronJob calls the admin API instead.
ticks=()
for context in users catalog orders payments shipping notifications; do
  ticks+=(--tick "http://$context.spin.internal/admin/recovery")
done

# The same runtime config `spin up` takes: it defines the contexts' SQLite labels (under .spin/).
"$runtime" up --state-dir "$state_dir" --runtime-config-file runtime-config.local.toml \
  --variable "redis_address=redis://127.0.0.1:$redis_port" \
  --variable "jwt_secret=@$state_dir/jwt_secret" \
  "${ticks[@]}" --tick-interval 2s \
  "$@"
