#!/usr/bin/env bash
# bench/jobs.sh: async jobs, measured on this machine in one run:
#   - async submits per second (wrk -t2 -c64 POST /v1/apply_async echo),
#     beside sync apply in the same run, as a ratio;
#   - bytes of memory per queued job, at 100,000 queued echo jobs (RSS of
#     the poold process before and after, one worker held busy);
#   - long-poll wake-up latency: from a job's finished_at to the moment its
#     waiting GET …/result answers (median of 20).
# Writes bench/results/jobs.md. Stops what it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
need_wrk

trap poold_stop EXIT
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# 1. Submit rate, beside sync apply.
poold_start --processes 2
sync=$(wrk -t2 -c64 -d"${DUR}s" -s bench/apply.lua "$url/v1/apply" | rps)
async=$(wrk -t2 -c64 -d"${DUR}s" -s bench/apply_async.lua "$url/v1/apply_async" | rps)
poold_stop

# 2. Memory per queued job.
poold_start --processes 1 --max-queue 200000
curl -fs "$url/v1/apply_async" -d '{"func":"sleep","args":[600]}' >/dev/null
for _ in $(seq 8); do curl -fs "$url/v1/apply_async" -d '{"func":"sleep","args":[600]}' >/dev/null; done
sleep 0.5
before=$(rss_kb "$pid")
python3 - "$url" <<'PY'
import sys, http.client, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port)
for i in range(100000):
    c.request("POST", "/v1/apply_async", body='{"func":"echo","args":[%d]}' % i)
    r = c.getresponse(); r.read()
    assert r.status == 202, r.status
PY
after=$(rss_kb "$pid")
queued=$(curl -fs "$url/v1/pool" | python3 -c 'import json,sys; print(json.load(sys.stdin)["queue"]["queued"])')
poold_stop

# 3. Long-poll wake-up latency.
poold_start --processes 2
lat=$(python3 - "$url" <<'PY'
import sys, json, time, http.client, urllib.parse, datetime, statistics
u = urllib.parse.urlparse(sys.argv[1])
out = []
for i in range(20):
    c = http.client.HTTPConnection(u.hostname, u.port)
    c.request("POST", "/v1/apply_async", body='{"func":"sleep","args":[0.2]}')
    job = json.loads(c.getresponse().read())
    c.request("GET", "/v1/jobs/%s/result?timeout=10" % job["id"])
    r = c.getresponse(); r.read(); got = time.time()
    c.request("GET", "/v1/jobs/%s" % job["id"])
    fin = json.loads(c.getresponse().read())["finished_at"]
    t = datetime.datetime.strptime(fin, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
    out.append((got - t) * 1e6)
print("%.0f" % statistics.median(out))
PY
)
poold_stop

mkdir -p bench/results
{
    echo "# poold: async jobs ($(nproc) CPUs, $(date -u +%Y-%m-%d))"
    echo
    echo "| figure | value |"
    echo "| --- | --- |"
    echo "| POST /v1/apply_async echo, req/s (wrk -t2 -c64) | $async |"
    echo "| POST /v1/apply echo, req/s, same run | $sync |"
    echo "| async / sync | $(awk -v a="$async" -v s="$sync" 'BEGIN {printf "%.2f", a / s}') |"
    echo "| RSS growth per queued job, $queued queued | $(( (after - before) * 1024 / queued )) bytes |"
    echo "| long-poll wake-up, finished_at to answer, median of 20 | ${lat} us |"
} | tee bench/results/jobs.md
