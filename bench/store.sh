#!/usr/bin/env bash
# bench/store.sh: the SQLite job store against the memory store, in one run:
#   - durable async submits per second (wrk -t2 -c64 POST /v1/apply_async
#     echo), sqlite vs memory, alternating rounds, medians, as a ratio;
#   - the database's size per job, and the time a restart takes to read
#     100,000 jobs back (to /healthz answering);
#   - the file's size after 1,000,000 echo jobs whose TTL has passed.
# Writes bench/results/store.md. Stops what it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
need_wrk
ROUNDS=${BENCH_ROUNDS:-3}
MANY=${STORE_JOBS:-1000000}
trap poold_stop EXIT
db_bytes() { du -cb "$1"/poold.db* | tail -1 | cut -f1; }

# 1. Submit rate: memory and sqlite, alternating.
mem=() sql=()
for _ in $(seq "$ROUNDS"); do
    poold_start --processes 2 --store memory
    mem+=("$(wrk -t2 -c64 -d"${DUR}s" -s bench/apply_async.lua "$url/v1/apply_async" | rps)")
    poold_stop
    poold_start --processes 2
    sql+=("$(wrk -t2 -c64 -d"${DUR}s" -s bench/apply_async.lua "$url/v1/apply_async" | rps)")
    poold_stop
done
mem_rps=$(printf '%s\n' "${mem[@]}" | median)
sql_rps=$(printf '%s\n' "${sql[@]}" | median)

# 2. Size per job and restart time, at 100,000 jobs.
dir=$(mktemp -d)
"$BIN" --host 127.0.0.1 --port 0 --processes 2 --data-dir "$dir" 2>"$dir/log" &
pid=$!
for _ in $(seq 100); do port=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$dir/log"); [ -n "$port" ] && break; sleep 0.05; done
url=http://127.0.0.1:$port
JOBS=100000 wrk -t2 -c64 -d120s -s bench/apply_async_n.lua "$url/v1/apply_async" >/dev/null
sleep 1
kill "$pid"; wait "$pid" || true
jobs=$(sqlite3 "$dir/poold.db" 'SELECT count(*) FROM jobs')
bytes=$(db_bytes "$dir")
t0=$(date +%s.%N)
"$BIN" --host 127.0.0.1 --port 0 --processes 2 --data-dir "$dir" 2>"$dir/log" &
pid=$!
until grep -q 'listening on' "$dir/log"; do sleep 0.002; done
t1=$(date +%s.%N)
readback=$(sed -n 's/.*jobs read back.* in \([0-9]*\) ms.*/\1/p' "$dir/log")
kill "$pid"; wait "$pid" || true
pid=
rm -rf "$dir"

# 3. The file after a million jobs whose TTL has passed.
poold_start --processes 2 --result-ttl 2
JOBS=$MANY wrk -t2 -c64 -d600s -s bench/apply_async_n.lua "$url/v1/apply_async" >/dev/null
peak=$(db_bytes "$data")
sleep 6 # the TTL, then a few vacuum steps
left=$(sqlite3 "$data/poold.db" 'SELECT count(*) FROM jobs')
after=$(db_bytes "$data")
poold_stop

mkdir -p bench/results
{
    echo "# poold: the SQLite job store ($(nproc) CPUs, $(date -u +%Y-%m-%d))"
    echo
    echo "| figure | value |"
    echo "| --- | --- |"
    echo "| async submits/s, --store memory (wrk -t2 -c64, median of $ROUNDS) | $mem_rps |"
    echo "| async submits/s, SQLite (default), same run | $sql_rps |"
    echo "| sqlite / memory | $(awk -v a="$sql_rps" -v b="$mem_rps" 'BEGIN {printf "%.2f", a / b}') |"
    echo "| database size per job, $jobs finished echo jobs | $(( bytes / jobs )) bytes |"
    echo "| restart with $jobs jobs: exec to listening | $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f ms", (b - a) * 1000}') |"
    echo "| of which reading the jobs back | ${readback:-?} ms |"
    echo "| database after $MANY echo jobs: at the end of the run | $((peak / 1024)) KiB |"
    echo "| the same, their TTL passed ($left rows left) | $((after / 1024)) KiB |"
} | tee bench/results/store.md
