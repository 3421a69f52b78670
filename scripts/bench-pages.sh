#!/usr/bin/env bash
# The storefront's pages under load: the home page and a product page, each rendered by the
# storefront from two or one API reads through the gateway (service chaining), at 16 keep-alive
# connections with wrk, 3 runs of 15 s each; prints req/s, p50, p99 and bytes per page, and
# writes target/bench/pages.json. A visitor without cookies, as a first visit is.
# Options: --connections N, --duration D (wrk's form: 15s, 1m), --runs N.
set -euo pipefail
cd "$(dirname "$0")/.."
conns=16 dur=15s runs=3
usage="usage: $0 [--connections N] [--duration 15s] [--runs N]"
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) conns=${2:?$usage}; shift 2 ;;
    --duration) dur=${2:?$usage}; shift 2 ;;
    --runs) runs=${2:?$usage}; shift 2 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
[[ $conns =~ ^[1-9][0-9]*$ && $runs =~ ^[1-9][0-9]*$ && $dur =~ ^[1-9][0-9]*[smh]?$ ]] ||
  { echo "$usage" >&2; exit 2; }
source scripts/lib/bench-app.sh

product=$(curl -sf "$base/api/v1/products?limit=1" | sed 's/.*"items":\[{"id":"\([^"]*\)".*/\1/')
pages=()
for page in home product; do
  case $page in
    home) url="$base/" ;;
    product) url="$base/products/$product" ;;
  esac
  bytes=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "$url")
  [ "${bytes%% *}" = 200 ] || { echo "$page: answered ${bytes%% *}" >&2; exit 1; }
  bytes=${bytes##* }
  runs_json=()
  for run in $(seq 1 "$runs"); do
    out=$(wrk -t2 -c"$conns" -d"$dur" --latency "$url")
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1=="50%" {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
    echo "$page run $run: ${rps} req/s, p50 ${p50}, p99 ${p99}, non-2xx ${non2xx:-0}, ${bytes} bytes"
    runs_json+=("{\"run\":$run,\"rps\":$rps,\"p50\":\"$p50\",\"p99\":\"$p99\",\"non_2xx\":${non2xx:-0}}")
  done
  pages+=("\"$page\":{\"bytes\":$bytes,\"runs\":[$(IFS=,; echo "${runs_json[*]}")]}")
done
mkdir -p target/bench
(IFS=,; echo "{\"connections\":$conns,\"duration\":\"$dur\",${pages[*]}}") > target/bench/pages.json
echo "wrote target/bench/pages.json"
