#!/usr/bin/env bash
# Serves wasmshop as a local replica topology (issue #17): N `wasmshop-spin up` processes on the
# same spin.toml and runtime config, sharing one Redis (the key-value store too) and the
# contexts' SQLite files in WAL mode (standing in for SpinKube's shared libSQL), behind HAProxy
# (round-robin, health checks on /health; deploy/haproxy/haproxy.cfg.template).
#
#   bash scripts/up-replicas.sh [N=3] [extra arguments for every replica's `up`]
#
# State under .spin/replicas/ (WASMSHOP_STATE_DIR/replicas): shared/ (the databases), one state
# dir per replica, Redis's data, the secrets, logs. Ports: the balancer on
# WASMSHOP_LB_LISTEN (127.0.0.1:3000), replica i on 127.0.0.1:$((WASMSHOP_REPLICA_PORT_BASE+i))
# (3100) with its metrics on 127.0.0.1:$((WASMSHOP_METRICS_PORT_BASE+i)) (9200), Redis on
# WASMSHOP_REDIS_PORT (6380: apart from scripts/up.sh's, whose cached pages and limits are
# another app's). Ctrl+C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

replicas="${1:-3}"
if ! [[ "$replicas" =~ ^[0-9]+$ ]] || [ "$replicas" -lt 1 ] || [ "$replicas" -gt 16 ]; then
  echo "usage: $0 [replicas, 1 to 16] [up arguments...]" >&2
  exit 2
fi
shift $(($# > 0 ? 1 : 0))

bash scripts/ensure-tools.sh
if ! command -v haproxy >/dev/null 2>&1; then
  echo "haproxy is missing: scripts/ensure-test-tools.sh installs it (Debian's package)" >&2
  exit 1
fi

root="${WASMSHOP_STATE_DIR:-.spin}/replicas"
lb_listen="${WASMSHOP_LB_LISTEN:-127.0.0.1:3000}"
replica_port_base="${WASMSHOP_REPLICA_PORT_BASE:-3100}"
metrics_port_base="${WASMSHOP_METRICS_PORT_BASE:-9200}"
redis_port="${WASMSHOP_REDIS_PORT:-6380}"

echo "==> building the runtime (release)"
cargo build --release -p local-infra
runtime=target/release/wasmshop-spin

echo "==> building the components"
"$runtime" build

# The state is its owner's only (the runtime restricts the dirs it is given when it starts).
(umask 077 && mkdir -p "$root/shared" "$root/redis")
root="$(cd "$root" && pwd)"

pids=()
stop_all() {
  trap - EXIT INT TERM
  if [ ${#pids[@]} -gt 0 ]; then
    kill "${pids[@]}" 2>/dev/null || true
  fi
  wait 2>/dev/null || true
}
trap stop_all EXIT INT TERM

if redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
  echo "==> using the Redis already on 127.0.0.1:$redis_port"
else
  echo "==> starting Redis on 127.0.0.1:$redis_port (data in $root/redis)"
  redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$root/redis" \
    --appendonly yes --daemonize no --logfile "redis.log" &
  pids+=($!)
  for _ in $(seq 1 50); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
fi
redis_url="redis://127.0.0.1:$redis_port"

# The fleet's secrets: one set for all replicas (a token signed by one is verified by the
# others), made once, created 0600 in a umask 077 subshell, never printed.
for secret in jwt_secret storefront_csrf_secret recovery_token admin_bootstrap_token; do
  if [ ! -s "$root/$secret" ]; then
    (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$root/$secret")
  fi
  chmod 600 "$root/$secret"
done

# One runtime config for every replica: the SQLite labels runtime-config.local.toml defines,
# as files in shared/, and the default key-value store on the fleet's Redis (else each replica
# would keep its own under its state dir).
config="$root/runtime-config.toml"
(
  umask 077
  for label in $(sed -n 's/^\[sqlite_database\.\([a-z_]*\)\]$/\1/p' runtime-config.local.toml); do
    printf '[sqlite_database.%s]\ntype = "spin"\npath = "%s/shared/%s.db"\n\n' "$label" "$root" "$label"
  done
  printf '[key_value_store.default]\ntype = "redis"\nurl = "%s"\n' "$redis_url"
) >"$config"

# The recovery ticks as scripts/up.sh sends them: each takes its context's lease in Redis for
# a little less than the interval, so the fleet runs one pass per context and interval.
tick_interval_ms=2000
ticks=()
for context in users catalog orders payments shipping notifications; do
  ticks+=(--tick "http://$context.spin.internal/admin/recovery?lease_ms=$((tick_interval_ms - 500))")
done

servers=""
for i in $(seq 0 $((replicas - 1))); do
  port=$((replica_port_base + i))
  state="$root/replica-$i"
  (umask 077 && mkdir -p "$state")
  echo "==> replica $i on 127.0.0.1:$port (log $root/replica-$i.log)"
  "$runtime" up --state-dir "$state" --runtime-config-file "$config" \
    --listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$((metrics_port_base + i))" \
    --variable "redis_address=$redis_url" \
    --variable "jwt_secret=@$root/jwt_secret" \
    --variable "storefront_csrf_secret=@$root/storefront_csrf_secret" \
    --variable "recovery_token=@$root/recovery_token" \
    --variable "admin_bootstrap_token=@$root/admin_bootstrap_token" \
    --variable "trusted_proxies=127.0.0.1" \
    "${ticks[@]}" --tick-interval "${tick_interval_ms}ms" \
    "$@" >"$root/replica-$i.log" 2>&1 &
  pids+=($!)
  servers+="    server replica-$i 127.0.0.1:$port"$'\n'
done

for i in $(seq 0 $((replicas - 1))); do
  port=$((replica_port_base + i))
  for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
    sleep 0.1
  done
  curl -sf "http://127.0.0.1:$port/health" >/dev/null ||
    { echo "replica $i did not start; see $root/replica-$i.log" >&2; exit 1; }
done

# The template with the balancer's address and one `server` line per replica.
awk -v listen="$lb_listen" -v servers="${servers%$'\n'}" \
  '{ gsub(/@LISTEN@/, listen) } /^@SERVERS@$/ { print servers; next } { print }' \
  deploy/haproxy/haproxy.cfg.template >"$root/haproxy.cfg"
haproxy -db -f "$root/haproxy.cfg" >"$root/haproxy.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do
  curl -sf "http://$lb_listen/health" >/dev/null && break
  sleep 0.1
done

cat <<EOF
==> $replicas replicas behind HAProxy: the shop at http://$lb_listen/ (the public API: http://$lb_listen/api/v1/)
==> the databases: $root/shared/; metrics: http://127.0.0.1:$metrics_port_base/metrics and up
==> to make the local admin (once, while the app has none), choose an email and a password of
    12+ characters and run:
    curl -sS -X POST http://$lb_listen/api/v1/auth/bootstrap-admin -H 'content-type: application/json' -d "{\"token\":\"\$(cat '$root/admin_bootstrap_token')\",\"email\":\"admin@wasmshop.local\",\"password\":\"choose-a-long-password\"}"
==> Ctrl+C stops everything
EOF
wait
