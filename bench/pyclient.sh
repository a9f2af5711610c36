#!/usr/bin/env bash
# bench/pyclient.sh: the Python client, poold.Pool, beside the in-process
# multiprocessing.Pool(2) it replaces, the same Python function (echo, in
# bench/peers/pyclient_bench.py, which poold serves with --python and
# which also drives both sides, each in a process of its own), in one run
# on this machine, as ratios:
#   1. pool.apply(echo, (1,)) in a loop from one thread: p50.
#      Beside it, the same request's p50 over a bare socket: the floor
#      poold itself sets, without any client.
#   2. pool.map(echo, range(MAP_ITEMS)) (1,000,000), end to end in the
#      caller, best of 3 after one untimed (each side).
#   3. 10,000 apply_async, then get() of each (poold: jobs, in its default
#      SQLite store).
# Then 2. and 3. on a second poold, its C built-in echo and --store
# memory: the share poold's Python runtime and its job store take.
# poold runs 2 workers, as the Pool has 2 processes. Prints the table and
# writes it to bench/results/pyclient.md. Stops what it starts, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
BIN=$(realpath "$BIN")
MAP_ITEMS=${MAP_ITEMS:-1000000}

cleanup() {
    poold_stop
    if [ -n "${c_pid:-}" ]; then kill "$c_pid" 2>/dev/null || true; wait "$c_pid" 2>/dev/null || true; fi
    rm -rf "${c_log:-}" "${c_data:-}"
}
trap cleanup EXIT

poold_start --processes 2 --store memory
c_pid=$pid c_log=$log c_data=$data c_url=$url
pid= log= data=
poold_start --processes 2 --python bench/peers/pyclient_bench.py
await "$url/v1/apply"
await "$c_url/v1/apply"

declare -A POOLD POOL
while read -r name value; do
    POOLD[$name]=$value
done < <(POOLD_URL=$url PYTHONPATH=$PWD/python "$PY" bench/peers/pyclient_bench.py poold "$MAP_ITEMS" "$c_url")
while read -r name value; do
    POOL[$name]=$value
done < <("$PY" bench/peers/pyclient_bench.py pool "$MAP_ITEMS")
# The rows on poold's variants set them beside the same Pool(2) figures.
POOL[apply_bare_p50_us]=${POOL[apply_p50_us]} POOL[map_builtin_s]=${POOL[map_s]} POOL[async_builtin_s]=${POOL[async_s]}

us() { awk -v v="$1" 'BEGIN {printf "%.0f", v}'; }
s() { awk -v v="$1" 'BEGIN {printf "%.3f", v}'; }
mkdir -p bench/results
{
    echo "# poold.Pool beside multiprocessing.Pool(2) ($(nproc) CPUs, $(date -u +%Y-%m-%d), one run of bench/pyclient.sh)"
    echo
    echo "| figure | poold.Pool | multiprocessing.Pool(2) | speed, poold ÷ Pool |"
    echo "|---|---|---|---|"
    echo "| apply(echo, (1,)) p50, one thread, µs | $(us "${POOLD[apply_p50_us]}") | $(us "${POOL[apply_p50_us]}") | $(ratio "${POOL[apply_p50_us]}" "${POOLD[apply_p50_us]}") |"
    echo "| the same apply over a bare socket (no client), µs | $(us "${POOLD[apply_bare_p50_us]}") | $(us "${POOL[apply_bare_p50_us]}") | $(ratio "${POOL[apply_bare_p50_us]}" "${POOLD[apply_bare_p50_us]}") |"
    echo "| map(echo, $MAP_ITEMS ints) end to end, s (best of 3 after one) | $(s "${POOLD[map_s]}") | $(s "${POOL[map_s]}") | $(ratio "${POOL[map_s]}" "${POOLD[map_s]}") |"
    echo "| 10,000 apply_async then get(), s | $(s "${POOLD[async_s]}") | $(s "${POOL[async_s]}") | $(ratio "${POOL[async_s]}" "${POOLD[async_s]}") |"
    echo "| the map, poold's C built-in echo, s | $(s "${POOLD[map_builtin_s]}") | $(s "${POOL[map_builtin_s]}") | $(ratio "${POOL[map_builtin_s]}" "${POOLD[map_builtin_s]}") |"
    echo "| the apply_asyncs, C built-in echo, --store memory, s | $(s "${POOLD[async_builtin_s]}") | $(s "${POOL[async_builtin_s]}") | $(ratio "${POOL[async_builtin_s]}" "${POOLD[async_builtin_s]}") |"
} | tee bench/results/pyclient.md
