#!/usr/bin/env bash
# bench/ab.sh REV: apply throughput of this tree's poold beside REV's, in
# one run (make bench-ab BASE=REV). A change that should cost nothing (a
# refactor) is checked here: REV's sources are exported to a temp dir and
# built there with the same flags, and the two servers are measured in
# turn, ROUNDS times each (5), with wrk -t2 -c64 on POST /v1/apply; the
# medians and their ratio are printed. The two never run at once.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
need_wrk
REV=${1:?usage: bench/ab.sh REV}
ROUNDS=${ROUNDS:-5}
NEW=$BIN
tmp=$(mktemp -d)
trap 'poold_stop; rm -rf "$tmp"' EXIT

git archive "$REV" | tar -x -C "$tmp"
nice make -s -C "$tmp" -j"$(nproc)" build/poold >/dev/null
OLD=$tmp/build/poold

declare -A R=([old]="" [new]="")
for _ in $(seq "$ROUNDS"); do
    for k in old new; do
        if [ "$k" = old ]; then BIN=$OLD; else BIN=$NEW; fi
        poold_start --processes 2 --store memory
        wrk -t2 -c64 -d2s -s bench/apply.lua "$url/v1/apply" >/dev/null # warm up
        R[$k]+="$(wrk -t2 -c64 -d"${DUR}s" -s bench/apply.lua "$url/v1/apply" | rps)"$'\n'
        poold_stop
    done
done
old=$(printf '%s' "${R[old]}" | median)
new=$(printf '%s' "${R[new]}" | median)
echo "# apply req/s, wrk -t2 -c64, ${DUR} s a round, $ROUNDS rounds in turn ($(nproc) CPUs)"
echo "| build | rounds | median |"
echo "|---|---|---|"
echo "| $REV | $(printf '%s' "${R[old]}" | awk '{printf "%s%d", (NR > 1 ? ", " : ""), $1}') | $old |"
echo "| this tree | $(printf '%s' "${R[new]}" | awk '{printf "%s%d", (NR > 1 ? ", " : ""), $1}') | $new |"
awk -v a="$new" -v b="$old" 'BEGIN {printf "this tree / %s: %.3f\n", "'"$REV"'", a / b}'
