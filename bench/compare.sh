#!/usr/bin/env bash
# bench/compare.sh: poold side by side with what a user would pick instead,
# measured in one run on this machine and reported as ratios:
#   1. POST /v1/apply {"func":"echo","args":[1]}: wrk -t2 -c64 -d10s, and
#      one connection (-t1 -c1) for p50 and p99; beside nginx answering the
#      same JSON with `return 200` (the limit of HTTP here), Python's
#      ThreadingHTTPServer in front of multiprocessing.Pool(2)
#      (bench/peers/pool_server.py) and php-fpm (pm = static, 2 children)
#      behind nginx (bench/peers/apply.php). Every server gets 2 processes
#      (or workers) on this machine's CPUs; they are measured in turn,
#      ROUNDS times (1), keeping the medians.
#   2. POST /v1/starmap of pow over 1,000,000 [base, exp] pairs, end to end
#      through HTTP, against Python's in-process Pool(2).starmap(pow, ...)
#      on the same pairs (bench/peers/pool_starmap.py); best of 3, the
#      results' checksums compared.
#   3. Async submits per second, the SQLite store against memory.
#   4. The pool's cost per task: apply's time over one connection less
#      /healthz's (the same HTTP, no pool), against a raw pipe round trip
#      between two processes (bench/pipe.c), the floor of any process pool.
#   5. Memory: RSS of poold and its workers when idle and at 100,000
#      queued jobs, beside the Python service idle.
# Prints the table and writes it to bench/results/latest.md. Stops what it
# starts, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
need_wrk

PIPE_BIN=${PIPE_BIN:-build/bench/pipe}
PHP_FPM=${PHP_FPM:-$(command -v php-fpm8.2 || command -v php-fpm || true)}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
ROUNDS=${ROUNDS:-1}
PAIRS=${PAIRS:-1000000}
for tool in "$PY" "$PHP_FPM" "$NGINX" "$PIPE_BIN"; do
    [ -x "$tool" ] || { echo "$0: missing $tool (script/bootstrap bench installs the peers)" >&2; exit 1; }
done

tmp=$(mktemp -d)
chmod 755 "$tmp" # php-fpm's children read the script as nobody
peers=()
cleanup() {
    poold_stop
    for p in "${peers[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

# --- the peers ---
static_port=$(free_port)
php_port=$(free_port)
cp bench/peers/apply.php "$tmp/apply.php"
chmod 644 "$tmp/apply.php"
cat >"$tmp/php-fpm.conf" <<EOF
[global]
pid = $tmp/php-fpm.pid
error_log = $tmp/php-fpm.log
daemonize = no
[bench]
listen = $tmp/php.sock
listen.mode = 0666
user = nobody
pm = static
pm.max_children = 2
pm.max_requests = 0
EOF
cat >"$tmp/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/nginx.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 10000000;
    client_body_temp_path $tmp/body;
    fastcgi_temp_path $tmp/fastcgi;
    proxy_temp_path $tmp/proxy;
    uwsgi_temp_path $tmp/uwsgi;
    scgi_temp_path $tmp/scgi;
    server {
        # reuseport: the kernel spreads the connections over the two
        # workers. Without it the first to wake takes most of them, and
        # nginx's figure moved by a quarter from run to run (155k to 225k
        # req/s here) with the luck of that split.
        listen 127.0.0.1:$static_port reuseport;
        location / { default_type application/json; return 200 '{"result":1}'; }
    }
    server {
        listen 127.0.0.1:$php_port;
        location / {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $tmp/apply.php;
            fastcgi_pass unix:$tmp/php.sock;
        }
    }
}
EOF
"$PHP_FPM" --nodaemonize --allow-to-run-as-root --fpm-config "$tmp/php-fpm.conf" 2>>"$tmp/php-fpm.log" &
peers+=($!)
"$NGINX" -c "$tmp/nginx.conf" -p "$tmp" 2>>"$tmp/nginx.log" &
peers+=($!)
py_port=$(free_port)
"$PY" bench/peers/pool_server.py "$py_port" 2 2>>"$tmp/python.log" &
py_pid=$!
peers+=("$py_pid")
poold_start --processes 2

declare -A URL=([poold]="$url/v1/apply" [nginx]="http://127.0.0.1:$static_port/v1/apply"
                [python]="http://127.0.0.1:$py_port/v1/apply" [php]="http://127.0.0.1:$php_port/v1/apply")
for k in poold nginx python php; do await "${URL[$k]}"; done

# --- 1. apply, every server in turn ---
declare -A RPS P50 P99
for k in poold nginx python php; do
    wrk -t2 -c64 -d2s -s bench/apply.lua "${URL[$k]}" >/dev/null # warm up
done
for _ in $(seq "$ROUNDS"); do
    for k in poold nginx python php; do
        RPS[$k]+="$(wrk -t2 -c64 -d"${DUR}s" -s bench/apply.lua "${URL[$k]}" | rps)"$'\n'
        lat=$(wrk -t1 -c1 -d"$((DUR / 2 + 1))s" --latency -s bench/apply.lua "${URL[$k]}")
        P50[$k]+="$(echo "$lat" | pct 50%)"$'\n'
        P99[$k]+="$(echo "$lat" | pct 99%)"$'\n'
    done
done
declare -A ROUND_RPS
for k in poold nginx python php; do
    ROUND_RPS[$k]=$(printf '%s' "${RPS[$k]}" | awk '{printf "%s%d", (NR > 1 ? ", " : ""), $1}')
    RPS[$k]=$(printf '%s' "${RPS[$k]}" | median)
    P50[$k]=$(printf '%s' "${P50[$k]}" | median)
    P99[$k]=$(printf '%s' "${P99[$k]}" | median)
done
py_idle=$(tree_rss_kb "$py_pid")

# --- 4. the pool's cost per task, beside the pipe in the same moments ---
# One connection's round trips depend on how fast an idle CPU wakes, which
# drifts on a VM: the three are taken in turn, ROUNDS + 2 times, medians.
task_all= pipe_all=
for _ in $(seq $((ROUNDS + 2))); do
    pipe_all+=$(awk -v ns="$("$PIPE_BIN")" 'BEGIN {printf "%.1f", ns / 1000}')$'\n'
    h=$(wrk -t1 -c1 -d3s "$url/healthz" | rps)
    a=$(wrk -t1 -c1 -d3s -s bench/apply.lua "$url/v1/apply" | rps)
    task_all+=$(awk -v a="$a" -v h="$h" 'BEGIN {printf "%.1f", 1e6 / a - 1e6 / h}')$'\n'
done
task_us=$(printf '%s' "$task_all" | median)
pipe_us=$(printf '%s' "$pipe_all" | median)

# --- 5a. memory when idle (the peers stopped: nothing else is running) ---
for p in "${peers[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
peers=()
idle_main=$(rss_kb "$pid")
idle_all=$(tree_rss_kb "$pid")

# --- 2. starmap of pow over PAIRS pairs ---
"$PY" -c "
import json, sys
json.dump({'func': 'pow', 'iterable': [[i % 1000, i % 7] for i in range($PAIRS)]}, open(sys.argv[1], 'w'), separators=(',', ':'))
" "$tmp/starmap.json"
best_http=$(best_post "$url/v1/starmap" "$tmp/starmap.json" "$tmp/starmap.out")
sum_http=$(results_sum "$tmp/starmap.out")
best_py= sum_py=
for _ in 1 2 3; do
    read -r t sum_py < <("$PY" bench/peers/pool_starmap.py "$PAIRS" 2)
    best_py=$(awk -v a="$t" -v b="${best_py:-1e9}" 'BEGIN {print (a < b) ? a : b}')
done
[ "$sum_http" = "$sum_py" ] || { echo "$0: starmap results differ: $sum_http against $sum_py" >&2; exit 1; }
poold_stop

# --- 3. async submits: SQLite against memory ---
poold_start --processes 2
async_sqlite=$(wrk -t2 -c64 -d"${DUR}s" -s bench/apply_async.lua "$url/v1/apply_async" | rps)
poold_stop
poold_start --processes 2 --store memory
async_memory=$(wrk -t2 -c64 -d"${DUR}s" -s bench/apply_async.lua "$url/v1/apply_async" | rps)
poold_stop

# --- 5b. memory at 100,000 queued jobs (one worker held by a long job) ---
poold_start --processes 1 --max-queue 200000
curl -fs -o /dev/null "$url/v1/apply_async" -d '{"func":"sleep","args":[600]}'
"$PY" - "$port" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
for i in range(100000):
    c.request("POST", "/v1/apply_async", body='{"func":"echo","args":[%d]}' % i)
    r = c.getresponse()
    r.read()
    assert r.status == 202, r.status
PY
queued=$(curl -fs "$url/v1/pool" | "$PY" -c 'import json, sys; q = json.load(sys.stdin)["queue"]; print(q["queued"] + q["sent"])')
q_main=$(rss_kb "$pid")
q_all=$(tree_rss_kb "$pid")
poold_stop

mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
mkdir -p bench/results
{
    echo "# poold beside its peers ($(nproc) CPUs, $(date -u +%Y-%m-%d), one run of bench/compare.sh)"
    echo
    echo "| figure | poold | peer | peer's figure | poold ÷ peer |"
    echo "| --- | --- | --- | --- | --- |"
    echo "| apply req/s, wrk -t2 -c64 | ${RPS[poold]} | nginx \`return 200\` | ${RPS[nginx]} | $(ratio "${RPS[poold]}" "${RPS[nginx]}") |"
    echo "| apply req/s, wrk -t2 -c64 | ${RPS[poold]} | Python ThreadingHTTPServer + Pool(2) | ${RPS[python]} | $(ratio "${RPS[poold]}" "${RPS[python]}") |"
    echo "| apply req/s, wrk -t2 -c64 | ${RPS[poold]} | php-fpm static 2 behind nginx | ${RPS[php]} | $(ratio "${RPS[poold]}" "${RPS[php]}") |"
    for k in nginx python php; do
        echo "| apply p50 / p99 µs, wrk -t1 -c1 | ${P50[poold]} / ${P99[poold]} | $k | ${P50[$k]} / ${P99[$k]} | $(ratio "${P50[poold]}" "${P50[$k]}") (p50) |"
    done
    echo "| starmap pow, $PAIRS pairs, seconds (best of 3) | $best_http (HTTP, end to end) | Python Pool(2).starmap in-process | $best_py | $(ratio "$best_py" "$best_http")× as fast |"
    echo "| async submits/s, wrk -t2 -c64 | $async_sqlite (SQLite) | poold --store memory | $async_memory | $(ratio "$async_sqlite" "$async_memory") |"
    echo "| the pool's cost per task, µs (apply less /healthz, one connection) | $task_us | pipe round trip between two processes | $pipe_us | $(ratio "$task_us" "$pipe_us") |"
    echo "| RSS idle, MiB (main / with fork server and workers) | $(mib "$idle_main") / $(mib "$idle_all") | Python service with Pool(2), all processes | $(mib "$py_idle") | $(ratio "$idle_all" "$py_idle") |"
    echo "| RSS at $queued queued jobs, MiB (main / all) | $(mib "$q_main") / $(mib "$q_all") | | | |"
    echo
    echo "apply req/s in each of the $ROUNDS rounds (medians above): poold ${ROUND_RPS[poold]}; nginx ${ROUND_RPS[nginx]};"
    echo "Python ${ROUND_RPS[python]}; php-fpm ${ROUND_RPS[php]}."
    echo
    echo "Targets: apply ≥ 0.4× nginx (aim 0.6×), p50 ≤ 100 µs, ≥ 10× the Python service, ≥ 2× php-fpm;"
    echo "starmap faster than Python's in-process Pool; the pool's cost per task within 3× a pipe round trip."
} | tee bench/results/latest.md
