#!/usr/bin/env bash
# The Node/Express peer of wasmshop's gateway read path, following the seed design: an Express
# gateway (CORS, express-rate-limit in memory, jsonwebtoken HS256, http-proxy-middleware with
# request-id headers) in front of an Express catalog holding its products in memory (a head start
# over SQLite, on purpose). Runs wrk against an authenticated GET of one product and prints
# req/s, p50, p99, non-2xx answers and the peak RSS of both processes.
# Usage: run.sh [connections=64] [duration=15s]     Needs node, npm, wrk, curl, python3. Installs
# its npm dependencies once into a work dir (PEER_DIR, default ~/.cache/wasmshop-peer-express),
# so that node_modules never lands in the repository.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
conns=${1:-64} dur=${2:-15s}
work=${PEER_DIR:-$HOME/.cache/wasmshop-peer-express}
mkdir -p "$work"
cp "$here"/*.js "$here"/package.json "$here"/package-lock.json "$work"/
cd "$work"
# Reinstall when the lock file changed or an earlier install broke off half way.
if ! cmp -s package-lock.json node_modules/.installed-lock 2>/dev/null; then
  rm -rf node_modules
  npm ci --no-audit --no-fund >npm.log 2>&1 || { cat npm.log >&2; exit 1; }
  cp package-lock.json node_modules/.installed-lock
fi
# Free ports, so that another run or service on 3100/3002 is never measured in its place.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cat_port=$(free_port) gw_port=$(free_port)
PORT=$cat_port node catalog.js & cat_pid=$!
PORT=$gw_port CATALOG_PORT=$cat_port node gateway.js & gw_pid=$!
trap 'kill $cat_pid $gw_pid 2>/dev/null' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$cat_port/health" >/dev/null && curl -sf "http://127.0.0.1:$gw_port/health" >/dev/null && break
  sleep 0.1
done
token=$(node token.js)
url="http://127.0.0.1:$gw_port/api/v1/products/p-7"
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$url")
[ "$status" = 200 ] || { echo "peer-express: $url answered $status, not 200" >&2; exit 1; }
out=$(wrk -t2 -c"$conns" -d"$dur" --latency -H "Authorization: Bearer $token" "$url")
rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
p50=$(echo "$out" | awk '$1=="50%" {print $2}')
p99=$(echo "$out" | awk '$1=="99%" {print $2}')
non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
rss_gw=$(awk '/VmHWM/ {print $2}' /proc/$gw_pid/status)
rss_cat=$(awk '/VmHWM/ {print $2}' /proc/$cat_pid/status)
echo "peer-express: ${rps} req/s, p50 ${p50}, p99 ${p99}, non-2xx ${non2xx:-0}, peak RSS gateway ${rss_gw} KiB + catalog ${rss_cat} KiB"
