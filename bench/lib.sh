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

# What the side-by-side scripts share. PY is the Python they run peers with.
PY=${PYTHON:-/usr/bin/python3}
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# await URL [BODY]: until a POST of BODY (the bench's echo call) answers
# 200 (10 s at most).
await() {
    local body=${2:-'{"func":"echo","args":[1]}'}
    for _ in $(seq 200); do
        curl -fs -o /dev/null -d "$body" "$1" && return 0
        sleep 0.05
    done
    echo "$0: $1 did not answer" >&2
    exit 1
}
# The RSS in KiB of a process and all its descendants.
tree_rss_kb() {
    local total=0 p
    for p in $(descendants "$1"); do
        total=$((total + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
    done
    echo "$total"
}
# PID and its descendants, from /proc: after the last ") " of a stat
# line come the state, then the parent.
descendants() {
    for f in /proc/[0-9]*/stat; do cat "$f" 2>/dev/null; echo; done | awk -v root="$1" '
        NF { s = $0; sub(/.*\) /, "", s); split(s, f, " "); parent[$1] = f[2] }
        END {
            keep[root] = 1; print root
            do { grew = 0; for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; print p; grew = 1 } } while (grew)
        }'
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# A latency of wrk's (8.00us, 1.77ms, 1.02s) in microseconds.
us() { awk '{v = $1 + 0; if ($1 ~ /ms$/) v *= 1000; else if ($1 ~ /[0-9]s$/) v *= 1e6; printf "%.0f", v}'; }
pct() { awk -v p="$1" '$1 == p {print $2}' | us; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }


# best_post URL BODY OUT: the best time_total of 3 POSTs of the JSON file
# BODY to URL; the last answer is left in OUT.
best_post() {
    local best= t
    for _ in 1 2 3; do
        t=$(curl -fs -o "$3" -w '%{time_total}' -H 'Content-Type: application/json' --data-binary @"$2" "$1")
        best=$(awk -v a="$t" -v b="${best:-1e9}" 'BEGIN {print (a < b) ? a : b}')
    done
    echo "$best"
}
# results_sum FILE: the sum of an answer's "results".
results_sum() { "$PY" -c "import json, sys; print(sum(json.load(open(sys.argv[1]))['results']))" "$1"; }
