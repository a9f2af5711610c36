#!/usr/bin/env bash
# tests/run.sh ENTRY...: runs each test binary, shows its output, and ends
# with the total as "N passed, N failed" (the only line of that shape: each
# binary's own summary is shown prefixed with its name). Exits non-zero on
# any failure, and counts a binary that died without a summary as a failure.
#
# An ENTRY is a binary's path, or its path and words for it, in one
# argument: a test to run (then only those run) or, after a '-', one to
# leave out. A word that names no test of the binary (one renamed since) is
# a failure, not a test quietly left unchecked. RUN_LABEL, when set, goes
# before each binary's name in its summary, and each summary ends with the
# binary's time in seconds.
set -u
label=${RUN_LABEL:+$RUN_LABEL }
passed=0 failed=0
for entry in "$@"; do
    read -r -d "" -a words <<<"$entry" || true
    bin=${words[0]}
    name=$(basename "$bin")
    out=$(mktemp)
    began=$SECONDS
    "$bin" "${words[@]:1}" >"$out" 2>&1
    rc=$?
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
    lines=$(grep -vE '^[0-9]+ passed, [0-9]+ failed$' "$out")
    [ -n "$lines" ] && echo "$lines"
    rm -f "$out"
    if [ -z "$summary" ]; then
        echo "-- $label$name: no summary (exit status $rc)"
        failed=$((failed + 1))
        continue
    fi
    read -r p _ f _ <<<"$summary"
    [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
    for word in "${words[@]:1}"; do
        if ! grep -qE "^(ok  |FAIL|skip) ${word#-}( |$)" <<<"$lines"; then
            echo "tests/run.sh: $name has no test ${word#-}"
            f=$((f + 1))
        fi
    done
    # Its time, so that a suite that grows shows where (CI has a bound).
    echo "-- $label$name: $p passed, $f failed ($((SECONDS - began)) s)"
    passed=$((passed + p)); failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
