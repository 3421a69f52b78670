# Sourced by the bench scripts: installs wrk, builds the release runtime and the components, starts a Redis
# and the whole app on free loopback ports in a temporary state dir, and waits for /health.
# Sets $runtime, $work, $base, $up_pid, $redis_pid; stops both and removes $work on exit.
# Logs in a registered shopper: $token (for authenticated reads).
# Read limits are raised so that one load generator is not one rate-limited client.
bash scripts/ensure-tools.sh
command -v wrk >/dev/null || { sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd=sudo; $sudo_cmd apt-get install -y -qq wrk >/dev/null; }
# RUNTIME=<binary> runs that runtime instead (another build, to compare side by side).
if [ -n "${RUNTIME:-}" ]; then
  runtime=$RUNTIME
else
  cargo build --release -p local-infra
  runtime=target/release/wasmshop-spin
fi
"$runtime" build

work=$(mktemp -d)
redis_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >/dev/null &
redis_pid=$!
# The contexts' databases, defined as Spin needs them, in this run's own state dir.
for label in users catalog orders payments shipping notifications audit; do
  printf '[sqlite_database.%s]\ntype = "spin"\npath = "state/%s.db"\n\n' "$label" "$label"
done >"$work/runtime-config.toml"
"$runtime" up --state-dir "$work/state" --runtime-config-file "$work/runtime-config.toml" \
  --listen "127.0.0.1:$port" \
  --variable "redis_address=redis://127.0.0.1:$redis_port" \
  --variable "jwt_secret=bench-only-secret-0123456789abcdef0123" \
  --variable "storefront_csrf_secret=bench-only-csrf-secret-0123456789abcdef" \
  --variable "rate_limit_read=100000000/60" >"$work/up.log" 2>&1 &
up_pid=$!
trap 'kill $up_pid $redis_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 1 200); do curl -sf "$base/health" >/dev/null && break; sleep 0.1; done

curl -sf -XPOST "$base/api/v1/auth/register" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"correct horse battery","name":"Bench"}' >/dev/null
token=$(curl -sf -XPOST "$base/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"correct horse battery"}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
