#!/usr/bin/env bash
# Where the read path's time goes: the runtime under the gateway benchmark's load (authenticated
# GET /api/v1/products/{id}, 64 connections, wrk), sampled by `perf` with DWARF call graphs, folded
# and drawn as a flame graph: docs/perf/<name>.svg (and the folded stacks beside it in
# target/perf/). Installs perf (Debian's linux-perf) and inferno (cargo install) when missing.
# usage: scripts/profile-read-path.sh <name> [seconds=10]
# RUNTIME=<binary> profiles another build of the runtime (see scripts/lib/bench-app.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: $0 <name> [seconds]}
seconds=${2:-10}
[[ $name =~ ^[a-z0-9-]+$ && $seconds =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 <name> [seconds]" >&2; exit 2; }
command -v perf >/dev/null || { sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd=sudo; $sudo_cmd apt-get install -y -qq linux-perf >/dev/null; }
command -v inferno-flamegraph >/dev/null || cargo install --locked inferno
source scripts/lib/bench-app.sh

product=$(curl -sf "$base/api/v1/products?limit=1" | sed 's/.*"items":\[{"id":"\([^"]*\)".*/\1/')
url="$base/api/v1/products/$product"
mkdir -p target/perf docs/perf
wrk -t2 -c64 -d$((seconds + 4))s -H "authorization: Bearer $token" "$url" >"target/perf/$name.wrk.txt" &
wrk_pid=$!
sleep 2
perf record -q -F 199 --call-graph dwarf,16384 -p "$up_pid" -o "target/perf/$name.data" -- sleep "$seconds"
wait "$wrk_pid"
# --no-inline: resolving inlined frames through addr2line took longer than the run itself.
perf script --no-inline -i "target/perf/$name.data" 2>/dev/null | inferno-collapse-perf >"target/perf/$name.folded"
inferno-flamegraph --title "wasmshop read path: $name" <"target/perf/$name.folded" >"docs/perf/$name.svg"
grep -E "Requests/sec" "target/perf/$name.wrk.txt"
echo "wrote docs/perf/$name.svg"
