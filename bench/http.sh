#!/usr/bin/env bash
# bench/http.sh: the pool's overhead, as a ratio. Serves poold on a free
# loopback port, then measures with wrk, in one run on this machine:
#   - POST /v1/apply {"func":"echo","args":[1]} and GET /healthz,
#     64 connections (-t2 -c64 -d10s): requests per second;
#   - the same over one keep-alive connection (-t1 -c1): p50 and p99.
# Prints a table and writes it to bench/results/http.md. Stops what it
# started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${POOLD_BIN:-build/poold}
DUR=${BENCH_SECONDS:-10}
command -v wrk >/dev/null || { echo "bench/http.sh: wrk is missing (apt-get install wrk)" >&2; exit 1; }

log=$(mktemp)
"$BIN" --host 127.0.0.1 --port 0 --processes "${BENCH_PROCESSES:-2}" 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
port=
for _ in $(seq 100); do   # --port 0: the kernel picks a free port; poold logs it
    port=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$log")
    [ -n "$port" ] && break
    sleep 0.05
done
[ -n "$port" ] || { echo "bench/http.sh: poold did not start" >&2; cat "$log" >&2; exit 1; }

url=http://127.0.0.1:$port
rps() { awk '/Requests\/sec/ {print $2}'; }
pct() { awk -v p="$1" '$1 == p {print $2}'; }

wrk -t2 -c64 -d2s -s bench/apply.lua "$url/v1/apply" >/dev/null   # warm up
h_rps=$(wrk -t2 -c64 -d"${DUR}s" "$url/healthz" | rps)
a_rps=$(wrk -t2 -c64 -d"${DUR}s" -s bench/apply.lua "$url/v1/apply" | rps)
h_lat=$(wrk -t1 -c1 -d"$((DUR / 2 + 1))s" --latency "$url/healthz")
a_lat=$(wrk -t1 -c1 -d"$((DUR / 2 + 1))s" --latency -s bench/apply.lua "$url/v1/apply")

mkdir -p bench/results
{
    echo "# poold: apply against /healthz ($(nproc) CPUs, $(date -u +%Y-%m-%d))"
    echo
    echo "| figure | GET /healthz | POST /v1/apply echo | ratio |"
    echo "| --- | --- | --- | --- |"
    echo "| req/s, wrk -t2 -c64 | $h_rps | $a_rps | $(awk -v a="$a_rps" -v h="$h_rps" 'BEGIN {printf "%.2f", a / h}') |"
    echo "| p50, wrk -t1 -c1 | $(echo "$h_lat" | pct 50%) | $(echo "$a_lat" | pct 50%) | |"
    echo "| p99, wrk -t1 -c1 | $(echo "$h_lat" | pct 99%) | $(echo "$a_lat" | pct 99%) | |"
} | tee bench/results/http.md
