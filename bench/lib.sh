# bench/lib.sh: what the benchmark scripts share. Each sources it after
# `set -euo pipefail` and `cd` to the project root.
BIN=${POOLD_BIN:-build/poold}
DUR=${BENCH_SECONDS:-10}
pid= log= data=

# poold_start ARGS...: serves poold with ARGS on a free loopback port
# (--port 0: the kernel picks one, and poold logs it), its job store in a
# fresh data dir (ARGS may name another store); sets pid, log, port and
# url. Exits, showing poold's log, when it does not start.
poold_start() {
    log=$(mktemp)
    data=$(mktemp -d)
    "$BIN" --host 127.0.0.1 --port 0 --data-dir "$data" "$@" 2>"$log" &
    pid=$!
    port=
    for _ in $(seq 100); do
        port=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$log")
        [ -n "$port" ] && break
        sleep 0.05
    done
    [ -n "$port" ] || { echo "$0: poold did not start" >&2; cat "$log" >&2; exit 1; }
    url=http://127.0.0.1:$port
}

# poold_stop: stops what poold_start started, by its PID, and forgets it,
# so that a second call (the EXIT trap's) signals no process that took
# the number since.
poold_stop() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    if [ -n "$log" ]; then rm -f "$log"; fi
    if [ -n "$data" ]; then rm -rf "$data"; fi
    pid= log= data=
}

need_wrk() {
    command -v wrk >/dev/null || { echo "$0: wrk is missing (apt-get install wrk)" >&2; exit 1; }
}

# Requests per second from wrk's report; the median of numbers, one a line.
rps() { awk '/Requests\/sec/ {print $2}'; }
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
