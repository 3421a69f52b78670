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

# The storefront's own key for the CSRF tokens of its forms: made the same way, never printed.
if [ ! -s "$state_dir/storefront_csrf_secret" ]; then
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$state_dir/storefront_csrf_secret")
fi
chmod 600 "$state_dir/storefront_csrf_secret"

# The recovery credential (accepted only on `POST /api/v1/admin/<context>/recovery`), for a
# scheduler other than the runtime's own ticks below: made the same way, never printed.
if [ ! -s "$state_dir/recovery_token" ]; then
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$state_dir/recovery_token")
fi
chmod 600 "$state_dir/recovery_token"

# The one-time secret that makes the first admin (registration only makes customers): made the
# same way, kept with the state, never printed; once the admin exists it opens nothing.
if [ ! -s "$state_dir/admin_bootstrap_token" ]; then
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$state_dir/admin_bootstrap_token")
fi
chmod 600 "$state_dir/admin_bootstrap_token"

# Where `up` will listen: its `--listen` among the extra arguments, else its own default.
listen="${SPIN_HTTP_LISTEN_ADDR:-127.0.0.1:3000}"
previous=""
for arg in "$@"; do
  case "$arg" in
    --listen=*) listen="${arg#--listen=}" ;;
    *) [ "$previous" = "--listen" ] && listen="$arg" ;;
  esac
  previous="$arg"
done
token_file="$(cd "$state_dir" && pwd)/admin_bootstrap_token"
# One command, printed with the token read from its file, so the secret stays off the screen.
cat <<EOF
==> the shop: http://$listen/ (the public API: http://$listen/api/v1/)
==> to make the local admin (once, while the app has none), choose an email and a password of
    12+ characters and run:
    curl -sS -X POST http://$listen/api/v1/auth/bootstrap-admin -H 'content-type: application/json' -d "{\"token\":\"\$(cat '$token_file')\",\"email\":\"admin@wasmshop.local\",\"password\":\"choose-a-long-password\"}"
EOF

# The recovery tick of every context (re-send unsent events, re-drive dead letters, move stuck
# sagas on), driven by the runtime itself; in production a CronJob calls the admin API instead.
# Each tick takes its context's lease in Redis for a little less than the interval, so however
# many replicas tick, one pass per interval runs (issue #17).
tick_interval_ms=2000
ticks=()
for context in users catalog orders payments shipping notifications; do
  ticks+=(--tick "http://$context.spin.internal/admin/recovery?lease_ms=$((tick_interval_ms - 500))")
done

# The same runtime config `spin up` takes: it defines the contexts' SQLite labels (under .spin/).
"$runtime" up --state-dir "$state_dir" --runtime-config-file runtime-config.local.toml \
  --variable "redis_address=redis://127.0.0.1:$redis_port" \
  --variable "jwt_secret=@$state_dir/jwt_secret" \
  --variable "storefront_csrf_secret=@$state_dir/storefront_csrf_secret" \
  --variable "recovery_token=@$state_dir/recovery_token" \
  --variable "admin_bootstrap_token=@$state_dir/admin_bootstrap_token" \
  "${ticks[@]}" --tick-interval "${tick_interval_ms}ms" \
  "$@"
