#!/usr/bin/env bash
# bench/faults.sh: what killed workers cost, measured on this machine in
# one run:
#   - from kill -9 of a busy worker to its replacement being ready, median
#     of 20 (bench/respawn.c);
#   - POST /v1/apply echo throughput (wrk -t2 -c64) while a worker is
#     killed every 100 ms, against the same without kills, alternated
#     ROUNDS times (3): medians and their ratio, and how many calls the
#     kills turned into 502s.
# Writes bench/results/faults.md. Stops what it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
RESPAWN=${RESPAWN_BIN:-build/bench/respawn}
need_wrk

respawn=$(POOLD_BIN=$BIN "$RESPAWN" | tail -n 1)

killer=
trap 'if [ -n "$killer" ]; then kill "$killer" 2>/dev/null; fi; poold_stop' EXIT
poold_start --processes "${BENCH_PROCESSES:-2}"

# The workers are the fork server's children; the fork server is poold's.
children() { cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -v '^$' || true; }
fs=$(children "$pid" | head -n 1)
kill_loop() { # kills one worker, the two in turn, every 100 ms
    local n=0
    while :; do
        w=$(children "$fs" | sed -n "$((n % 2 + 1))p")
        [ -n "$w" ] && kill -9 "$w" 2>/dev/null && n=$((n + 1))
        sleep 0.1
    done
}

wrk -t2 -c64 -d2s -s bench/apply.lua "$url/v1/apply" >/dev/null # warm up
calm_all= kill_all= ratio_all= lost_all=
for _ in $(seq "${ROUNDS:-3}"); do
    calm=$(wrk -t2 -c64 -d"${DUR}s" -s bench/apply.lua "$url/v1/apply" | rps)
    kill_loop & killer=$!
    out=$(wrk -t2 -c64 -d"${DUR}s" -s bench/apply.lua "$url/v1/apply")
    kill "$killer"; wait "$killer" 2>/dev/null || true; killer=
    killed=$(printf '%s\n' "$out" | rps)
    lost=$(printf '%s\n' "$out" | awk '/Non-2xx/ {print $5}')
    calm_all+="$calm"$'\n'; kill_all+="$killed"$'\n'; lost_all+="${lost:-0}"$'\n'
    ratio_all+=$(awk -v a="$killed" -v b="$calm" 'BEGIN {printf "%.3f", a / b}')$'\n'
done
calm=$(printf '%s' "$calm_all" | median)
killed=$(printf '%s' "$kill_all" | median)
ratio=$(printf '%s' "$ratio_all" | median)
lost=$(printf '%s' "$lost_all" | median)
kills=$(grep -c 'killed by signal 9' "$log" || true)

mkdir -p bench/results
{
    echo "# poold under killed workers ($(nproc) CPUs, $(date -u +%Y-%m-%d))"
    echo
    echo "| measure | value |"
    echo "| --- | --- |"
    echo "| kill -9 of a busy worker -> replacement ready | ${respawn#median kill -9 -> replacement ready: } |"
    echo "| apply echo, no kills (wrk -t2 -c64, ${DUR} s, median of ${ROUNDS:-3}) | $calm req/s |"
    echo "| apply echo, a worker killed every 100 ms | $killed req/s |"
    echo "| ratio, with kills / without | $ratio |"
    echo "| workers killed, all runs | $kills |"
    echo "| calls answered 502 per ${DUR} s run with kills (median) | $lost |"
} | tee bench/results/faults.md
