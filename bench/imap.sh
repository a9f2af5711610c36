#!/usr/bin/env bash
# bench/imap.sh: imap streams. Time to the first line, and items per second
# for echo over 1,000,000 items sent as a JSON array and as an NDJSON body,
# beside Python's own Pool.imap over the same items in one process (the
# peer a user would otherwise write), when python3 is here.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
FIRST=${FIRSTLINE_BIN:-build/bench/firstline}
N=${IMAP_ITEMS:-1000000}
CS=${IMAP_CHUNKSIZE:-1}
trap poold_stop EXIT
poold_start --processes 2

work=$(mktemp -d)
trap 'poold_stop; rm -rf "$work"' EXIT
{ printf '{"func":"echo","chunksize":%s,"iterable":[' "$CS"; seq -s, 0 $((N - 1)); printf ']}'; } >"$work/array.json"
{ printf '{"func":"echo","chunksize":%s}\n' "$CS"; seq 0 $((N - 1)); } >"$work/lines.ndjson"
{ printf '{"func":"echo","iterable":['; seq -s, 0 99999; printf ']}'; } >"$work/100k.json"

echo "time to first line, ms (median, p90 of 50 fresh connections):"
echo "  imap of echo over 1 item:        $("$FIRST" "$url/v1/imap" '{"func":"echo","iterable":[1]}')"
echo "  imap of echo over 100,000 items: $("$FIRST" "$url/v1/imap" "@$work/100k.json" 20)"

# items/s: the best of three runs, reading every line.
rate() {
    local best=0 t0 t1
    for _ in 1 2 3; do
        t0=$(date +%s.%N)
        "$@"
        t1=$(date +%s.%N)
        best=$(awk -v n="$N" -v t="$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" -v b="$best" \
               'BEGIN {r = n / t; print (r > b) ? r : b}')
    done
    printf '%.0f' "$best"
}
count() { curl -sS --fail "$@" | wc -l | { read -r n; [ "$n" -eq "$N" ] || { echo "$0: $n lines, not $N" >&2; exit 1; }; }; }
export -f count
export N
# Each kind of body on a fresh poold, so that its peak RSS (VmHWM) is its own.
hwm() { awk '/VmHWM/ {printf "%.1f MiB", $2 / 1024}' "/proc/$pid/status"; }
fresh() { poold_stop; poold_start --processes 2; }
fresh
array=$(rate bash -c "count '$url/v1/imap' --data-binary @'$work/array.json'"); array_rss=$(hwm)
fresh
lines=$(rate bash -c "count '$url/v1/imap' -H 'Content-Type: application/x-ndjson' -T '$work/lines.ndjson' -X POST"); lines_rss=$(hwm)
fresh
unord=$(rate bash -c "count '$url/v1/imap_unordered' -H 'Content-Type: application/x-ndjson' -T '$work/lines.ndjson' -X POST"); unord_rss=$(hwm)
echo "echo over $N items, chunksize $CS, 2 workers (items/s, best of 3; poold's peak RSS):"
echo "  imap, JSON array body:          $array   ($array_rss)"
echo "  imap, NDJSON body:              $lines   ($lines_rss)"
echo "  imap_unordered, NDJSON body:    $unord   ($unord_rss)"
if command -v python3 >/dev/null; then
    py=$(python3 - "$N" "$CS" <<'PY'
import multiprocessing as mp, sys, time
def echo(x): return x
n, cs = int(sys.argv[1]), int(sys.argv[2])
with mp.Pool(2) as p:
    best = 0
    for _ in range(3):
        t = time.perf_counter(); k = sum(1 for _ in p.imap(echo, range(n), cs)); t = time.perf_counter() - t
        best = max(best, n / t)
print(int(best))
PY
)
    echo "  peer: Python Pool(2).imap in-process: $py"
    awk -v a="$lines" -v p="$py" 'BEGIN {printf "  ratio, poold NDJSON / Python imap: %.2f\n", a / p}'
fi
