#!/usr/bin/env bash
# tests/run.sh BIN...: runs each test binary, shows its output, and ends
# with the total as "N passed, N failed" (the only line of that shape: each
# binary's own summary is shown prefixed with its name). Exits non-zero on
# any failure, and counts a binary that died without a summary as a failure.
set -u
passed=0 failed=0
for bin in "$@"; do
    name=$(basename "$bin")
    out=$(mktemp)
    "$bin" >"$out" 2>&1
    rc=$?
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
    grep -vE '^[0-9]+ passed, [0-9]+ failed$' "$out"
    rm -f "$out"
    if [ -z "$summary" ]; then
        echo "-- $name: no summary (exit status $rc)"
        failed=$((failed + 1))
        continue
    fi
    read -r p _ f _ <<<"$summary"
    [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
    echo "-- $name: $p passed, $f failed"
    passed=$((passed + p)); failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
