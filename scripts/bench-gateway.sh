#!/usr/bin/env bash
# The gateway's read path under load: authenticated GET /api/v1/products/{id} through the
# gateway (JWT, revocation, rate limit, breaker + bulkhead) to catalog, at 64 keep-alive
# connections with wrk, 3 runs of 15 s; prints req/s, p50, p99 and the runtime's RSS and writes
# target/bench/gateway.json. The product's answer is shared from the gateway's response cache
# (catalog allows 5 s), so most requests are answered in the gate's Redis trip; a last run
# ("uncached") gives every request its own query string, so each one misses the cache and goes
# through to catalog and its database. Needs the release runtime.
# Options (scripts/bench-compare.sh uses them): --connections N, --duration D (wrk's form: 15s,
# 1m), --runs N, --no-uncached (skip the last run).
set -euo pipefail
cd "$(dirname "$0")/.."
conns=64 dur=15s runs=3 uncached=1
usage="usage: $0 [--connections N] [--duration 15s] [--runs N] [--no-uncached]"
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) conns=${2:?$usage}; shift 2 ;;
    --duration) dur=${2:?$usage}; shift 2 ;;
    --runs) runs=${2:?$usage}; shift 2 ;;
    --no-uncached) uncached=0; shift ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
[[ $conns =~ ^[1-9][0-9]*$ && $runs =~ ^[1-9][0-9]*$ && $dur =~ ^([1-9][0-9]*)([smh]?)$ ]] ||
  { echo "$usage" >&2; exit 2; }
case "${BASH_REMATCH[2]}" in
  m) dur_s=$((BASH_REMATCH[1] * 60)) ;;
  h) dur_s=$((BASH_REMATCH[1] * 3600)) ;;
  *) dur_s=${BASH_REMATCH[1]} ;;
esac
source scripts/lib/bench-app.sh

product=$(curl -sf "$base/api/v1/products?limit=1" | sed 's/.*"items":\[{"id":"\([^"]*\)".*/\1/')
url="$base/api/v1/products/$product"
test "$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $token" "$url")" = 200

results=()
for run in $(seq 1 "$runs"); do
  # The peak of this run, not of the start-up: a fresh state dir compiles every component
  # first, and Cranelift's peak is not what serving costs. (Writing 5 resets VmHWM.)
  echo 5 >"/proc/$up_pid/clear_refs"
  out=$(wrk -t2 -c"$conns" -d"$dur" --latency -H "authorization: Bearer $token" "$url")
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  rss_kib=$(awk '/VmRSS/ {print $2}' "/proc/$up_pid/status")
  peak_rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/$up_pid/status")
  echo "run $run: ${rps} req/s, p50 ${p50}, p99 ${p99}, non-2xx ${non2xx:-0}, runtime RSS ${rss_kib} KiB"
  results+=("{\"run\":$run,\"rps\":$rps,\"p50\":\"$p50\",\"p99\":\"$p99\",\"non_2xx\":${non2xx:-0},\"rss_kib\":$rss_kib,\"peak_rss_kib\":$peak_rss_kib}")
done
uncached_json=null
if [ "$uncached" = 1 ]; then
  # Every request its own query string: nothing is answered from the cache.
  cat >"$work/uncached.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, wrk.path .. "?n=" .. n .. "-" .. math.random(1, 1000000000))
end
LUA
  out=$(wrk -t2 -c"$conns" -d"$dur" --latency -s "$work/uncached.lua" -H "authorization: Bearer $token" "$url")
  u_rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  u_p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  u_p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  u_non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  echo "uncached: ${u_rps} req/s, p50 ${u_p50}, p99 ${u_p99}, non-2xx ${u_non2xx:-0}"
  uncached_json="{\"rps\":$u_rps,\"p50\":\"$u_p50\",\"p99\":\"$u_p99\",\"non_2xx\":${u_non2xx:-0}}"
fi
mkdir -p target/bench
(IFS=,; echo "{\"connections\":$conns,\"duration_s\":$dur_s,\"runs\":[${results[*]}],\"uncached\":$uncached_json}") > target/bench/gateway.json
echo "wrote target/bench/gateway.json"
