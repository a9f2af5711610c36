#!/usr/bin/env bash
# bench/events.sh: what GET /v1/events costs. apply's (and apply_async's)
# throughput with 100 event streams open and read (as 100 dashboards),
# against none, in one run: ROUNDS rounds (3) of each in turn on one poold,
# wrk -t2 -c64 for BENCH_SECONDS (10) a round, the medians and their ratio.
# Then the time from a job's end to its event at a reader: 300 jobs one
# after another, the median and the 99th percentile.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
need_wrk
ROUNDS=${ROUNDS:-3}
rpid=
trap '[ -n "$rpid" ] && kill "$rpid" 2>/dev/null; poold_stop' EXIT

poold_start --processes 2 --store memory --result-ttl 5
wrk -t2 -c64 -d2s -s bench/apply.lua "$url/v1/apply" >/dev/null # warm up
declare -A R=()
for _ in $(seq "$ROUNDS"); do
    for readers in 0 100; do
        if [ "$readers" -gt 0 ]; then
            "$PY" bench/events_readers.py readers "$url" "$readers" "${READER_QUERY:-}" &
            rpid=$!
            sleep 1
        fi
        R[apply_$readers]+="$(wrk -t2 -c64 -d"${DUR}s" -s bench/apply.lua "$url/v1/apply" | rps)"$'\n'
        R[async_$readers]+="$(wrk -t2 -c64 -d"${DUR}s" -s bench/apply_async.lua "$url/v1/apply_async" | rps)"$'\n'
        if [ -n "$rpid" ]; then kill "$rpid"; wait "$rpid" 2>/dev/null || true; rpid=; fi
    done
done
echo "# req/s, wrk -t2 -c64, ${DUR} s a round, $ROUNDS rounds in turn ($(nproc) CPUs); 100 readers: GET /v1/events streams open and read"
echo "| call | no reader | 100 readers | ratio |"
echo "|---|---|---|---|"
for call in apply async; do
    a=$(printf '%s' "${R[${call}_0]}" | median)
    b=$(printf '%s' "${R[${call}_100]}" | median)
    awk -v c="$call" -v a="$a" -v b="$b" 'BEGIN {printf "| %s | %d | %d | %.3f |\n", (c == "async" ? "apply_async" : "apply"), a, b, b / a}'
done
read -r p50 p99 < <("$PY" bench/events_readers.py latency "$url" 300)
echo "job end to its event at a reader, 300 jobs: median $p50 ms, p99 $p99 ms"
