#!/usr/bin/env bash
# bench/runtime.sh: poold's warm Python runtime beside what a Python
# function costs otherwise, in one run on this machine, as ratios:
#   1. POST /v1/apply of pyecho (bench/peers/pyfns.py), wrk -t2 -c64: poold
#      --python (2 workers, a runtime each) against the same function as an
#      exec function (an interpreter per call), gunicorn with 2 sync
#      workers and Flask (bench/peers/flask_app.py), Python's
#      ThreadingHTTPServer + Pool(2) (bench/peers/pool_server.py, its echo),
#      poold --python --runtime-affinity free (each worker and its runtime
#      where the kernel puts them, not on one CPU), and poold's C built-in
#      echo on the same server. In turn, ROUNDS (1)
#      times, medians.
#   2. p50 over one connection, the Python function and the C built-in.
#   3. map of square over MAP_ITEMS (1,000,000) integers through HTTP end
#      to end (chunksize 10,000, 2 workers), against Pool(2).map in one
#      process (bench/peers/pool_map.py); best of 3, sums compared.
#   4. RSS of one idle Python runtime process.
# Prints the table and writes it to bench/results/runtime.md. Stops what
# it starts, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
need_wrk

GUNICORN=${GUNICORN:-$(command -v gunicorn || command -v gunicorn3 || true)}
ROUNDS=${ROUNDS:-1}
MAP_ITEMS=${MAP_ITEMS:-1000000}
for tool in "$PY" "$GUNICORN"; do
    [ -x "$tool" ] || { echo "$0: missing $tool (script/bootstrap bench installs the peers)" >&2; exit 1; }
done
"$PY" -c 'import flask' 2>/dev/null || { echo "$0: missing Flask (python3-flask)" >&2; exit 1; }

tmp=$(mktemp -d)
peers=()
exec_pid= exec_log= exec_data=
free_pid= free_log= free_data=
cleanup() {
    poold_stop
    for p in "${peers[@]}" $exec_pid $free_pid; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp" ${exec_log:+"$exec_log"} ${exec_data:+"$exec_data"} ${free_log:+"$free_log"} ${free_data:+"$free_data"}
}
trap cleanup EXIT

# --- the servers ---
cat >"$tmp/exec.json" <<EOF
{"functions": [{"name": "pyecho", "exec": ["$PY", "bench/peers/pyecho_exec.py"]}]}
EOF
poold_start --processes 2 --store memory --functions "$tmp/exec.json"
exec_pid=$pid exec_log=$log exec_data=$data exec_url=$url
pid= log= data=
poold_start --processes 2 --store memory --python bench/peers/pyfns.py --runtime-affinity free
free_pid=$pid free_log=$log free_data=$data free_url=$url
pid= log= data=
poold_start --processes 2 --store memory --python bench/peers/pyfns.py
py_port=$(free_port)
"$PY" bench/peers/pool_server.py "$py_port" 2 2>>"$tmp/python.log" &
peers+=($!)
gu_port=$(free_port)
"$GUNICORN" -w 2 -b "127.0.0.1:$gu_port" --chdir bench/peers flask_app:app 2>>"$tmp/gunicorn.log" &
peers+=($!)

PYECHO='{"func":"pyecho","args":[1]}'
declare -A URL=([runtime]="$url/v1/apply" [free]="$free_url/v1/apply" [exec]="$exec_url/v1/apply" [gunicorn]="http://127.0.0.1:$gu_port/v1/apply"
                [pool]="http://127.0.0.1:$py_port/v1/apply" [builtin]="$url/v1/apply")
declare -A FN=([runtime]=pyecho [free]=pyecho [exec]=pyecho [gunicorn]=pyecho [pool]=echo [builtin]=echo)
for k in "${!URL[@]}"; do await "${URL[$k]}" "{\"func\":\"${FN[$k]}\",\"args\":[1]}"; done

# --- 1. apply, each in turn ---
declare -A RPS
for _ in $(seq "$ROUNDS"); do
    for k in runtime free exec gunicorn pool builtin; do
        FUNC=${FN[$k]} wrk -t2 -c64 -d2s -s bench/apply_func.lua "${URL[$k]}" >/dev/null # warm up
        RPS[$k]+="$(FUNC=${FN[$k]} wrk -t2 -c64 -d"${DUR}s" -s bench/apply_func.lua "${URL[$k]}" | rps)"$'\n'
    done
done
for k in "${!RPS[@]}"; do RPS[$k]=$(printf '%s' "${RPS[$k]}" | median); done

# --- 2. one connection ---
p50_py=$(FUNC=pyecho wrk -t1 -c1 -d"${DUR}s" --latency -s bench/apply_func.lua "$url/v1/apply" | pct 50%)
p50_c=$(FUNC=echo wrk -t1 -c1 -d"${DUR}s" --latency -s bench/apply_func.lua "$url/v1/apply" | pct 50%)

# --- 4. an idle runtime's memory (the load over) ---
rt_pid=$(pgrep -f 'poold.runtime' | head -n 1)
rt_rss=$(rss_kb "$rt_pid")

# --- 3. map of square over MAP_ITEMS integers ---
"$PY" -c "
import json, sys
json.dump({'func': 'square', 'iterable': list(range($MAP_ITEMS)), 'chunksize': 10000}, open(sys.argv[1], 'w'), separators=(',', ':'))
" "$tmp/map.json"
best_http=$(best_post "$url/v1/map" "$tmp/map.json" "$tmp/map.out")
sum_http=$(results_sum "$tmp/map.out")
best_py= sum_py=
for _ in 1 2 3; do
    read -r t sum_py < <(cd bench/peers && "$PY" pool_map.py "$MAP_ITEMS" 2)
    best_py=$(awk -v a="$t" -v b="${best_py:-1e9}" 'BEGIN {print (a < b) ? a : b}')
done
[ "$sum_http" = "$sum_py" ] || { echo "$0: map results differ: $sum_http against $sum_py" >&2; exit 1; }

mkdir -p bench/results
{
    echo "# poold's Python runtime beside its peers ($(nproc) CPUs, $(date -u +%Y-%m-%d), one run of bench/runtime.sh)"
    echo
    echo "| figure | poold --python | peer | peer's figure | poold ÷ peer |"
    echo "|---|---|---|---|---|"
    echo "| apply req/s of pyecho, wrk -t2 -c64 | ${RPS[runtime]} | the same code as an exec function | ${RPS[exec]} | $(ratio "${RPS[runtime]}" "${RPS[exec]}") |"
    echo "| apply req/s of pyecho, wrk -t2 -c64 | ${RPS[runtime]} | gunicorn, 2 sync workers, Flask | ${RPS[gunicorn]} | $(ratio "${RPS[runtime]}" "${RPS[gunicorn]}") |"
    echo "| apply req/s of pyecho, wrk -t2 -c64 | ${RPS[runtime]} | ThreadingHTTPServer + Pool(2) | ${RPS[pool]} | $(ratio "${RPS[runtime]}" "${RPS[pool]}") |"
    echo "| apply req/s of pyecho, wrk -t2 -c64 | ${RPS[runtime]} | poold --python --runtime-affinity free (worker and runtime where the kernel puts them) | ${RPS[free]} | $(ratio "${RPS[runtime]}" "${RPS[free]}") |"
    echo "| apply req/s, wrk -t2 -c64 | ${RPS[runtime]} | poold's C built-in echo | ${RPS[builtin]} | $(ratio "${RPS[runtime]}" "${RPS[builtin]}") |"
    echo "| p50 over one connection, µs | $p50_py | poold's C built-in echo | $p50_c | $(ratio "$p50_py" "$p50_c") |"
    echo "| map of square over $MAP_ITEMS ints, s (best of 3) | $best_http | Pool(2).map in one process | $best_py | $(ratio "$best_py" "$best_http") (speed) |"
    echo "| RSS of an idle Python runtime, KiB | $rt_rss | | | |"
} | tee bench/results/runtime.md
