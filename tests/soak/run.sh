#!/usr/bin/env bash
# tests/soak/run.sh: ten minutes (SOAK_SECONDS, 600) of mixed load against
# one poold: wrk posting sync apply, map and starmap (tests/soak/mixed.lua,
# one call in 200 past its timeout), and tests/soak/driver.py with async
# jobs whose webhooks go to a receiver it runs, imap streams, cancels, and
# a worker killed with SIGKILL every 15 s. It reports what was served,
# answers by status, poold's RSS each minute and its file descriptors, and
# passes when:
#   - no 5xx came but the expected 502s (killed workers) and 504s (timeouts);
#   - every accepted job's callback arrived;
#   - RSS after the warm-up (the first minute) grew less than 10%;
#   - poold holds no more file descriptors idle at the end than idle
#     before the load;
#   - no zombie is left under poold, and nothing of its process group
#     outlives it.
# `make soak` runs it; not part of make test. One line per check, then
# "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
need_wrk

SECONDS_TOTAL=${SOAK_SECONDS:-600}
PY=${PYTHON:-python3}
passed=0 failed=0
ok()   { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1${2:+: $2}"; failed=$((failed + 1)); }
tmp=$(mktemp -d)
wrk_pid=
cleanup() {
    [ -n "$wrk_pid" ] && kill "$wrk_pid" 2>/dev/null
    poold_stop
    rm -rf "$tmp"
}
trap cleanup EXIT

# Jobs expire after 30 s, so that the table (and RSS) reach a steady state.
poold_start --processes 2 --result-ttl 30 --webhook-allow-host 127.0.0.1 --webhook-backoff 0.2
# The fork server and the workers live in their own process group.
pgid=$(for f in /proc/[0-9]*/stat; do cat "$f" 2>/dev/null; echo; done |
       awk -v r="$pid" 'NF { s = $0; sub(/.*\) /, "", s); split(s, f, " "); if (f[2] == r) print f[3] }' | head -n 1)
echo "soak: poold pid $pid on $url for $SECONDS_TOTAL s"
start_fds=$(ls "/proc/$pid/fd" | wc -l) # idle, before any load: the end is compared with it
ls -l "/proc/$pid/fd" | awk 'NR > 1 {print $NF}' | sort >"$tmp/fds.start"

wrk -t1 -c8 -d"${SECONDS_TOTAL}s" -s tests/soak/mixed.lua "$url" >"$tmp/wrk.out" 2>&1 &
wrk_pid=$!
"$PY" tests/soak/driver.py "$url" "$pid" "$SECONDS_TOTAL" >"$tmp/driver.json"
wait "$wrk_pid"
wrk_pid=
sleep 3 # answers, webhooks and respawns settle
end_fds=$(ls "/proc/$pid/fd" | wc -l)
ls -l "/proc/$pid/fd" | awk 'NR > 1 {print $NF}' | sort >"$tmp/fds.end"
# libcurl keeps the webhook connections it may reuse; the receiver, gone
# now, closed its side (CLOSE_WAIT). Cached, bounded, not leaked.
cached=0
for inode in $(comm -13 "$tmp/fds.start" "$tmp/fds.end" | sed -n 's/^socket:\[\([0-9]*\)\]$/\1/p'); do
    awk -v i="$inode" '$10 == i && $4 == "08" {found = 1} END {exit !found}' /proc/net/tcp /proc/net/tcp6 &&
        cached=$((cached + 1))
done
echo "descriptors held at the end and not before: $(comm -13 "$tmp/fds.start" "$tmp/fds.end" | tr '\n' ' ')($cached of them webhook connections libcurl caches, closed by the receiver)"
end_fds=$((end_fds - cached))
end_rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
end_tree_rss=$("$PY" tests/soak/procs.py "$pid")

# --- the report ---
echo "wrk: $(awk '/requests in/ {print $1, "requests in", $4}' "$tmp/wrk.out")"
"$PY" - "$tmp/driver.json" "$tmp/wrk.out" "$end_rss" "$end_fds" "$start_fds" "$end_tree_rss" >"$tmp/verdict" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
wrk = {int(s): int(n) for s, n in re.findall(r"^status (\d+) (\d+)$", open(sys.argv[2]).read(), re.M)}
end_rss, end_fds, start_fds, end_tree = (int(a) for a in sys.argv[3:7])
print("report wrk answers by status: %s" % json.dumps(wrk, sort_keys=True))
for kind, c in sorted(d["statuses"].items()):
    print("report %s: %s" % (kind, json.dumps(c, sort_keys=True)))
for s in d["samples"]:
    print("report minute %d: RSS %.1f MiB (%.1f PSS with the fork server and workers), %d fds" %
          (s["t"] // 60, s["rss_kb"] / 1024, s["tree_rss_kb"] / 1024, s["fds"]))
print("report end: RSS %.1f MiB (%.1f PSS with the fork server and workers), %d fds" % (end_rss / 1024, end_tree / 1024, end_fds))
bad = {s: n for s, n in wrk.items() if s >= 500 and s not in (502, 504)}
for kind, c in d["statuses"].items():
    for s, n in c.items():
        if s.isdigit() and int(s) >= 500 and int(s) not in (502, 504):
            bad["%s %s" % (kind, s)] = n
        if not s.isdigit() and kind != "kill -9":
            bad["%s %s" % (kind, s)] = n
print("check no 5xx but 502 and 504, no connection errors|%s" % ("" if not bad else json.dumps(bad)))
print("check every accepted job's callback arrived (%d)|%s" % (d["callbacks_expected"],
      "" if d["callbacks_missing"] == 0 else "%d missing" % d["callbacks_missing"]))
print("check the driver saw nothing amiss|%s" % "; ".join(d["problems"]))
warm = d["samples"][1] if len(d["samples"]) > 1 else d["samples"][0]
growth = (end_rss - warm["rss_kb"]) / warm["rss_kb"]
print("check RSS after warm-up grew %.1f%% (under 10%%)|%s" % (growth * 100, "" if growth < 0.10 else "too much"))
# The processes under poold are reported, not judged: the soak kills a
# worker every 15 s, so a worker's memory says nothing of a leak, and a
# sum over processes that come and go moves by a worker's heap.
print("report PSS of poold, its fork server and workers: %.1f MiB after warm-up, %.1f at the end" %
      (warm["tree_rss_kb"] / 1024, end_tree / 1024))
print("check file descriptors: %d idle before the load, %d idle at the end (less libcurl's cached webhook connections)|%s" % (start_fds, end_fds,
      "" if end_fds <= start_fds else "leaked"))
PY
grep '^report ' "$tmp/verdict" | sed 's/^report /  /'
while IFS='|' read -r what why; do
    if [ -z "$why" ]; then ok "$what"; else fail "$what" "$why"; fi
done < <(sed -n 's/^check //p' "$tmp/verdict")

zombies=$(for f in /proc/[0-9]*/stat; do cat "$f" 2>/dev/null; echo; done |
          awk -v g="$pgid" -v r="$pid" 'NF { s = $0; sub(/.*\) /, "", s); split(s, f, " ");
                                             if (f[1] == "Z" && (f[3] == g || f[2] == r)) print $1 }')
[ -z "$zombies" ] && ok "no zombie under poold" || fail "no zombie under poold" "$zombies"
poold_pid=$pid
poold_stop
sleep 0.5
left=$(for f in /proc/[0-9]*/stat; do cat "$f" 2>/dev/null; echo; done |
       awk -v g="$pgid" 'NF { s = $0; sub(/.*\) /, "", s); split(s, f, " "); if (f[3] == g) print $1 }')
[ -n "$pgid" ] && [ -z "$left" ] && ok "nothing of poold's process group outlives it (pid $poold_pid)" ||
    fail "nothing of poold's process group outlives it" "pgid '${pgid}', left: $left"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
