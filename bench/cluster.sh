#!/usr/bin/env bash
# bench/cluster.sh: async jobs end to end (submit echo, read its result)
# per second, side by side in one run, as ratios:
#   poold on SQLite (one poold), poold on Redis (one replica), poold on
#   Redis (three replicas, each on its own port, the driver's clients
#   spread round-robin over them), and Celery 5 (Debian's python3-celery)
#   with Redis as broker and result backend, the same trivial task, its
#   worker at -c 2 --pool prefork.
# One driver for all four (bench/peers/cluster_driver.py: CLIENTS
# processes, each submitting WINDOW jobs then reading their results), for
# BENCH_SECONDS (10) a round, BENCH_ROUNDS (3) rounds in turn, medians.
# Each poold has --processes 2, as Celery's worker has 2. One
# redis-server, started here on a free port in a temporary directory with
# AOF and appendfsync everysec (a crash of Redis loses nothing, a power loss
# up to a second: as poold's SQLite default, --fsync normal), serves every
# Redis side, emptied between runs. Then Redis's memory per finished job
# (INFO used_memory before and after CLUSTER_MEM_JOBS (10,000) jobs),
# poold's and Celery's. Writes bench/results/cluster.md. Stops what it
# started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
ROUNDS=${BENCH_ROUNDS:-3}
MEM_JOBS=${CLUSTER_MEM_JOBS:-10000}
CLIENTS=${CLUSTER_CLIENTS:-4} WINDOW=${CLUSTER_WINDOW:-16}
"$PY" -c 'import celery, redis' 2>/dev/null ||
    { echo "$0: Celery is missing (apt-get install python3-celery python3-redis)" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "$0: redis-server is missing (apt-get install redis-server)" >&2; exit 1; }

dir=$(mktemp -d)
redis_pid= celery_pid= replicas=() urls=
cleanup() {
    set +e
    celery_stop
    replicas_stop
    if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null; fi
    rm -rf "$dir"
}
trap cleanup EXIT

rport=$(free_port)
redis_url=redis://127.0.0.1:$rport
redis-server --bind 127.0.0.1 --port "$rport" --dir "$dir" --appendonly yes --appendfsync everysec \
    --save '' >"$dir/redis.log" 2>&1 &
redis_pid=$!
rcli() { redis-cli -p "$rport" "$@"; }
for _ in $(seq 100); do [ "$(rcli ping 2>/dev/null)" = PONG ] && break; sleep 0.05; done
[ "$(rcli ping 2>/dev/null)" = PONG ] || { echo "$0: redis-server did not start" >&2; cat "$dir/redis.log" >&2; exit 1; }
used_memory() { rcli info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p'; }

# Each replica named, as replicas sharing one Redis must be.
named=(--replica 'poold-{i}')

# replicas_start N ARGS...: N poolds (poold_start's), --processes 2, with
# ARGS, where {i} is the replica's number from 1; their URLs,
# comma-separated, in urls.
replicas_start() {
    local n=$1 i a args
    shift
    urls=
    for ((i = 1; i <= n; i++)); do
        args=()
        for a in "$@"; do args+=("${a//\{i\}/$i}"); done
        poold_start --processes 2 "${args[@]}"
        replicas+=("$pid $log $data")
        urls+=${urls:+,}$url
        pid= log= data=
    done
}
replicas_stop() {
    local r
    for r in "${replicas[@]}"; do
        read -r pid log data <<<"$r"
        poold_stop
    done
    replicas=()
}
celery_start() {
    CELERY_REDIS=$redis_url/0 PYTHONPATH=bench/peers "$PY" -m celery -A celery_app worker -c 2 --pool prefork \
        --loglevel WARNING >"$dir/celery.log" 2>&1 &
    celery_pid=$!
}
# Its warm shutdown ends its two pool processes; a worker that will not
# stop is killed, and its pool with it.
celery_stop() {
    local p
    [ -n "$celery_pid" ] || return 0
    kill "$celery_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$celery_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$celery_pid" 2>/dev/null; then
        for p in $(descendants "$celery_pid"); do kill -9 "$p" 2>/dev/null || true; done
    fi
    wait "$celery_pid" 2>/dev/null || true
    celery_pid=
}

# start KIND: one of the four, on an empty Redis; kind and target are what
# the driver is pointed at. stop KIND stops it.
start() {
    rcli flushall >/dev/null
    case $1 in
    sqlite) replicas_start 1 ;;
    redis1) replicas_start 1 --store "$redis_url/0" "${named[@]}" ;;
    redis3) replicas_start 3 --store "$redis_url/0" "${named[@]}" ;;
    celery) celery_start ;;
    esac
    if [ "$1" = celery ]; then kind=celery target=$redis_url/0; else kind=poold target=$urls; fi
}
stop() { if [ "$1" = celery ]; then celery_stop; else replicas_stop; fi; }
drive() { "$PY" bench/peers/cluster_driver.py "$kind" "$target" --clients "$CLIENTS" --window "$WINDOW" "$@"; }

declare -A R=() M=()
for _ in $(seq "$ROUNDS"); do
    for k in sqlite redis1 redis3 celery; do
        start "$k"
        R[$k]+="$(drive --seconds "$DUR")"$'\n'
        stop "$k"
    done
done
for k in sqlite redis1 redis3 celery; do M[$k]=$(printf '%s' "${R[$k]}" | median); done

# mem_per_job KIND: Redis's used_memory per finished job, on an empty
# Redis, after a warm-up.
mem_per_job() {
    local before after
    start "$1"
    drive --jobs 1000 >/dev/null
    sleep 1
    before=$(used_memory)
    drive --jobs "$MEM_JOBS" >/dev/null
    sleep 1
    after=$(used_memory)
    stop "$1"
    echo $(((after - before) / MEM_JOBS))
}
poold_mem=$(mem_per_job redis1)
celery_mem=$(mem_per_job celery)

# claim_time C: two replicas with --claim-after C; a long job runs on one,
# which is killed (SIGKILL); the seconds until the job runs again on the
# other (its view: running, attempts 2), into CLAIM_S.
field() { "$PY" -c 'import json, sys; v = json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else v)' "$1"; }
claim_time() {
    local c=$1 id on victim other t0 i r vpid vlog vdata u
    rcli flushall >/dev/null
    replicas_start 2 --store "$redis_url/0" "${named[@]}" --claim-after "$c"
    IFS=, read -r -a u <<<"$urls"
    id=$(curl -fsS "${u[0]}/v1/apply_async" -d '{"func":"sleep","args":[60]}' | field id)
    for _ in $(seq 200); do
        [ "$(curl -fsS "${u[0]}/v1/jobs/$id" | field status)" = running ] && break
        sleep 0.02
    done
    on=$(curl -fsS "${u[0]}/v1/jobs/$id" | field replica)
    victim=$((${on#poold-} - 1)) other=$((2 - ${on#poold-}))
    read -r vpid vlog vdata <<<"${replicas[$victim]}"
    t0=$(date +%s.%N)
    kill -9 "$vpid"
    for ((i = 0; i < 6000; i++)); do
        r=$(curl -fsS "${u[$other]}/v1/jobs/$id")
        [ "$(field status <<<"$r")" = running ] && [ "$(field attempts <<<"$r")" = 2 ] && break
        sleep 0.01
    done
    CLAIM_S=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')
    wait "$vpid" 2>/dev/null || true
    rm -rf "$vlog" "$vdata"
    replicas=("${replicas[$other]}")
    replicas_stop
}
CLAIMS=()
for c in 1 2 5; do claim_time "$c"; CLAIMS+=("$c $CLAIM_S"); done

jps() { awk -v v="$1" 'BEGIN {printf "%.0f", v}'; }
mkdir -p bench/results
{
    echo "# Async jobs end to end: poold on Redis and on SQLite, and Celery ($(nproc) CPUs, $(date -u +%Y-%m-%d), bench/cluster.sh)"
    echo
    echo "Jobs per second, each submitted (\`echo\`) and its result read; $CLIENTS client processes"
    echo "of bench/peers/cluster_driver.py, each submitting $WINDOW jobs then reading their"
    echo "results, again and again; ${DUR} s a round, the median of $ROUNDS rounds taken in turn."
    echo "poold: \`POST /v1/apply_async\`, then \`GET /v1/jobs/{id}/result?timeout=30\`, over"
    echo "keep-alive connections from a bare-socket client, poold's C built-in \`echo\`,"
    echo "\`--processes 2\`. Celery $("$PY" -c 'import celery; print(celery.__version__)'): \`send_task\`, then"
    echo "\`AsyncResult.get()\`, Celery's own client; a Python \`echo\` task,"
    echo "\`worker -c 2 --pool prefork\`. One redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/'),"
    echo "\`appendonly yes\`, \`appendfsync everysec\`, emptied between runs."
    echo
    echo "| setup | jobs/s |"
    echo "| --- | --- |"
    echo "| poold, SQLite (default store), 1 poold | $(jps "${M[sqlite]}") |"
    echo "| poold, Redis, 1 replica | $(jps "${M[redis1]}") |"
    echo "| poold, Redis, 3 replicas (clients round-robin over them) | $(jps "${M[redis3]}") |"
    echo "| Celery, Redis broker and backend, 2 worker processes | $(jps "${M[celery]}") |"
    echo
    echo "| ratio | value |"
    echo "| --- | --- |"
    echo "| poold Redis 1 replica / Celery | $(ratio "${M[redis1]}" "${M[celery]}") |"
    echo "| poold Redis 3 replicas / Celery | $(ratio "${M[redis3]}" "${M[celery]}") |"
    echo "| poold Redis 1 replica / poold SQLite | $(ratio "${M[redis1]}" "${M[sqlite]}") |"
    echo
    echo "Redis memory per finished job (INFO used_memory after $MEM_JOBS jobs, less before):"
    echo "poold $poold_mem bytes, Celery $celery_mem bytes."
    if [ ${#CLAIMS[@]} -gt 0 ]; then
        echo
        echo "From \`kill -9\` of the replica running a job to the job running again on the other"
        echo "(its view on that replica: running, attempts 2), against \`--claim-after\`:"
        echo
        echo "| --claim-after | seconds to running elsewhere |"
        echo "| --- | --- |"
        for c in "${CLAIMS[@]}"; do echo "| ${c% *} s | ${c#* } |"; done
    fi
} | tee bench/results/cluster.md
