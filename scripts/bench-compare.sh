#!/usr/bin/env bash
# wasmshop's gateway read path beside its Node/Express peer (bench/peer-express, the seed
# article's design): an authenticated GET of one product through each gateway, with wrk at the
# same connections and duration. The runs alternate peer, ours, peer, ours… so that both meet the
# same machine state; each run boots its side afresh. Prints per run and the median: req/s, p50,
# p99, peak RSS (peer: gateway + catalog processes; ours: the runtime), and the ratios; writes
# target/bench/compare.json. Ours runs in its one mode, Spin-faithful.
# Usage: bench-compare.sh [connections=64] [duration=15s] [runs=3]
# Needs node and npm (installed here from Debian's packages when missing, for this bench only).
set -euo pipefail
cd "$(dirname "$0")/.."
conns=${1:-64} dur=${2:-15s} runs=${3:-3}
usage="usage: $0 [connections=64] [duration=15s] [runs=3]"
[[ $conns =~ ^[1-9][0-9]*$ && $dur =~ ^[1-9][0-9]*[smh]?$ && $runs =~ ^[1-9][0-9]*$ ]] ||
  { echo "$usage" >&2; exit 2; }

bash scripts/ensure-tools.sh
missing=()
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]} from Debian's packages"
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

mkdir -p target/bench
log=target/bench/compare.log
: >"$log"
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
machine="$(nproc) CPUs, ${cpu:-$(uname -m)}, Linux $(uname -r)"
echo "authenticated GET /api/v1/products/{id} through the gateway: $conns connections, $dur per run, $runs runs, peer and ours alternating"
echo "machine: $machine"
echo "peer: Node $(node --version) + Express (bench/peer-express); ours: wasmshop on target/release/wasmshop-spin, Spin-faithful mode (the only one)"
echo "(full output of each run: $log)"

fail() { echo "$1 failed; the end of $log:" >&2; tail -n 30 "$log" >&2; exit 1; }
for run in $(seq 1 "$runs"); do
  echo "== run $run: peer-express" >>"$log"
  bash bench/peer-express/run.sh "$conns" "$dur" >>"$log" 2>&1 || fail "peer run $run"
  line=$(grep '^peer-express:' "$log" | tail -n 1)
  echo "peer $run $line" >>"$rows"
  echo "run $run  $line"
  echo "== run $run: wasmshop" >>"$log"
  bash scripts/bench-gateway.sh --connections "$conns" --duration "$dur" --runs 1 --no-uncached \
    >>"$log" 2>&1 || fail "wasmshop run $run"
  line=$(grep '^run 1:' "$log" | tail -n 1)
  peak=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["runs"][0]["peak_rss_kib"])' \
    target/bench/gateway.json)
  echo "ours $run $line, peak RSS $peak KiB" >>"$rows"
  echo "run $run  wasmshop: ${line#run 1: }, peak RSS $peak KiB"
done

python3 - "$rows" "$conns" "$dur" "$machine" <<'PY'
import json, re, statistics, sys

rows_path, conns, dur, machine = sys.argv[1:]
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}

def ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not m:
        sys.exit(f"cannot read the latency {text!r}")
    return float(m.group(1)) * UNITS[m.group(2)]

runs = {"peer": [], "ours": []}
for row in open(rows_path):
    side, run, rest = row.split(" ", 2)
    num = lambda pat: re.search(pat, rest).group(1)
    r = {
        "run": int(run),
        "rps": float(num(r"([0-9.]+) req/s")),
        "p50_ms": ms(num(r"p50 (\S+),")),
        "p99_ms": ms(num(r"p99 (\S+),")),
        "non_2xx": int(num(r"non-2xx (\d+)")),
    }
    if side == "peer":
        r["peak_rss_gateway_kib"] = int(num(r"gateway (\d+) KiB"))
        r["peak_rss_catalog_kib"] = int(num(r"catalog (\d+) KiB"))
        r["peak_rss_kib"] = r["peak_rss_gateway_kib"] + r["peak_rss_catalog_kib"]
    else:
        r["rss_after_run_kib"] = int(num(r"runtime RSS (\d+) KiB"))
        r["peak_rss_kib"] = int(num(r"peak RSS (\d+) KiB"))
    runs[side].append(r)

keys = ("rps", "p50_ms", "p99_ms", "peak_rss_kib", "non_2xx")
med = {side: {k: statistics.median(r[k] for r in rs) for k in keys} for side, rs in runs.items()}
ratios = {
    "rps_ours_over_peer": med["ours"]["rps"] / med["peer"]["rps"],
    "p99_peer_over_ours": med["peer"]["p99_ms"] / med["ours"]["p99_ms"],
    "peak_rss_ours_over_peer": med["ours"]["peak_rss_kib"] / med["peer"]["peak_rss_kib"],
}
for side, name in (("peer", "peer-express"), ("ours", "wasmshop")):
    m = med[side]
    print(f"median {name}: {m['rps']:.0f} req/s, p50 {m['p50_ms']:.2f} ms, p99 {m['p99_ms']:.2f} ms, "
          f"non-2xx {m['non_2xx']:g}, peak RSS {m['peak_rss_kib'] / 1024:.1f} MiB")
print(f"ratios (above 1: ours better for req/s and p99, ours bigger for RSS): "
      f"req/s ours/peer {ratios['rps_ours_over_peer']:.2f}, "
      f"p99 peer/ours {ratios['p99_peer_over_ours']:.2f}, "
      f"peak RSS ours/peer {ratios['peak_rss_ours_over_peer']:.2f}")
with open("target/bench/compare.json", "w") as f:
    json.dump({
        "request": "authenticated GET /api/v1/products/{id} through the gateway",
        "connections": int(conns), "duration": dur, "machine": machine,
        "ours_mode": "Spin-faithful",
        "runs": runs, "median": med, "ratios": ratios,
    }, f, indent=2)
    f.write("\n")
print("wrote target/bench/compare.json")
PY
