#!/usr/bin/env bash
# tests/valgrind.sh UNIT... -- HTTP...: `make test-valgrind`. Runs the unit
# test binaries under valgrind's memcheck, and the HTTP test binaries with
# the poold they start under it ($POOLD_BIN is swapped for a wrapper that
# execs valgrind on it). A memory error or a leak (definite or possible)
# fails the run: a unit test's own process exits 1 (--error-exitcode), and
# each poold's log is read at the end, since poold's exit status is what
# its tests see. The fork server and the workers poold forks are not
# checked (--child-silent-after-fork): they run under valgrind, unheard.
# The last line is "N passed, N failed", counting each poold whose log
# shows an error, or no summary at all (it was killed before its exit), as
# one failure more.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
: "${POOLD_BIN:?POOLD_BIN names the poold under test}"
command -v valgrind >/dev/null || { echo "tests/valgrind.sh: no valgrind: run script/bootstrap"; echo "0 passed, 1 failed"; exit 1; }

dir=$(mktemp -d /tmp/poold-valgrind-XXXXXX)
keep=0
trap '[ "$keep" = 1 ] || rm -rf "$dir"' EXIT
mkdir -p "$dir/bin" "$dir/logs"
memcheck=(valgrind --leak-check=full --errors-for-leak-kinds=definite,possible --num-callers=30)

# One wrapper per binary, named as it is, so that tests/run.sh shows the
# names it knows.
unit=1 bins=()
for bin in "$@"; do
    if [ "$bin" = -- ]; then unit=0; continue; fi
    name=$(basename "$bin")
    if [ "$unit" = 1 ]; then
        printf '#!/bin/sh\nexec %s --error-exitcode=1 --log-file=%q/logs/%s.%%p.log %q "$@"\n' \
            "${memcheck[*]}" "$dir" "$name" "$(cd "$(dirname "$bin")" && pwd)/$name" >"$dir/bin/$name"
    else
        ln -s "$(cd "$(dirname "$bin")" && pwd)/$name" "$dir/bin/$name"
    fi
    chmod +x "$dir/bin/$name"
    bins+=("$dir/bin/$name")
done
# valgrind refuses poold's own raise of its descriptor limit: raise it here.
printf '#!/bin/sh\nulimit -Sn "$(ulimit -Hn)" 2>/dev/null\nexec %s --trace-children=no --child-silent-after-fork=yes --log-file=%q/logs/poold.%%p.log %q "$@"\n' \
    "${memcheck[*]}" "$dir" "$(cd "$(dirname "$POOLD_BIN")" && pwd)/$(basename "$POOLD_BIN")" >"$dir/poold"
chmod +x "$dir/poold"

out=$(mktemp)
POOLD_BIN=$dir/poold "$root/tests/run.sh" "${bins[@]}" | tee "$out" | grep -vE '^[0-9]+ passed, [0-9]+ failed$'
read -r passed _ failed _ < <(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
rm -f "$out"
: "${passed:=0}" "${failed:=1}"

# Every log that shows an error, or no summary: a poold killed (a failed
# test's SIGKILL) never got to its leak check. A unit test's errors have
# failed it already (its exit status); a poold's count here.
bad=0 checked=0 erred=0
for log in "$dir"/logs/*.log; do
    [ -e "$log" ] || continue
    checked=$((checked + 1))
    grep -q 'ERROR SUMMARY: 0 errors' "$log" && continue
    keep=1 erred=$((erred + 1))
    case $(basename "$log") in poold.*) bad=$((bad + 1)) ;; esac
    echo "-- valgrind: $(basename "$log"):"
    grep -A 30 -E '^==[0-9]+== (Invalid|Conditional|Syscall|Mismatched|Source and|Use of|.* (definitely|possibly) lost)' "$log" |
        head -n 80
    grep -q 'ERROR SUMMARY' "$log" || echo "   (no summary: the process did not exit by itself)"
done
if [ "$keep" = 1 ]; then
    echo "-- valgrind: $erred of $checked processes with errors; their logs are kept in $dir/logs"
else
    echo "-- valgrind: $checked processes checked, no errors and no leaks"
fi
failed=$((failed + bad))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
