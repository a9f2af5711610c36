#!/usr/bin/env bash
# bench/http.sh: the pool's overhead, as a ratio. Serves poold on a free
# loopback port, then measures with wrk, in one run on this machine:
#   - POST /v1/apply {"func":"echo","args":[1]} and GET /healthz,
#     64 connections (-t2 -c64 -d10s), alternated ROUNDS times (3):
#     the median requests per second of each, and the median ratio;
#   - the same over one keep-alive connection (-t1 -c1): p50 and p99.
# Prints a table and writes it to bench/results/http.md. Stops what it
# started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
need_wrk

trap poold_stop EXIT
poold_start --processes "${BENCH_PROCESSES:-2}"
pct() { awk -v p="$1" '$1 == p {print $2}'; }

wrk -t2 -c64 -d2s -s bench/apply.lua "$url/v1/apply" >/dev/null   # warm up
# Alternate the two, ROUNDS times, and keep the medians: one run on a
# shared VM varies by a fifth; the ratio of medians does not.
h_all= a_all= r_all=
for _ in $(seq "${ROUNDS:-3}"); do
    h=$(wrk -t2 -c64 -d"${DUR}s" "$url/healthz" | rps)
    a=$(wrk -t2 -c64 -d"${DUR}s" -s bench/apply.lua "$url/v1/apply" | rps)
    h_all+="$h"$'\n'; a_all+="$a"$'\n'
    r_all+=$(awk -v a="$a" -v h="$h" 'BEGIN {printf "%.3f", a / h}')$'\n'
done
h_rps=$(printf '%s' "$h_all" | median)
a_rps=$(printf '%s' "$a_all" | median)
ratio=$(printf '%s' "$r_all" | median)
h_lat=$(wrk -t1 -c1 -d"$((DUR / 2 + 1))s" --latency "$url/healthz")
a_lat=$(wrk -t1 -c1 -d"$((DUR / 2 + 1))s" --latency -s bench/apply.lua "$url/v1/apply")

mkdir -p bench/results
{
    echo "# poold: apply against /healthz ($(nproc) CPUs, $(date -u +%Y-%m-%d))"
    echo
    echo "| figure | GET /healthz | POST /v1/apply echo | ratio |"
    echo "| --- | --- | --- | --- |"
    echo "| req/s, wrk -t2 -c64 (median of ${ROUNDS:-3}) | $h_rps | $a_rps | $ratio |"
    echo "| p50, wrk -t1 -c1 | $(echo "$h_lat" | pct 50%) | $(echo "$a_lat" | pct 50%) | |"
    echo "| p99, wrk -t1 -c1 | $(echo "$h_lat" | pct 99%) | $(echo "$a_lat" | pct 99%) | |"
} | tee bench/results/http.md
