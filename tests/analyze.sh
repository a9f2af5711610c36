#!/usr/bin/env bash
# tests/analyze.sh: static analysis of poold's C and its tests' (make analyze, CI):
# cppcheck, its false positives in tests/cppcheck-suppressions.txt, and
# clang-tidy with the checks of .clang-tidy. Every finding fails. Each
# tool that finds nothing counts one passed; the last line is
# "N passed, N failed". Niced: the machine is shared.
set -u
cd "$(dirname "$0")/.."
pkgs="libmicrohttpd jansson libcurl nettle sqlite3"
files=(server/*.c server/*/*.c handlers/*.c examples/plugin/*.c tests/fuzz/*.c)
tests=(tests/lib/*.c tests/unit/*.c tests/http/*.c tests/plugin/*.c)
passed=0 failed=0
report() { # tool status
    if [ "$2" -eq 0 ]; then
        echo "-- $1: clean"
        passed=$((passed + 1))
    else
        echo "-- $1: FAILED"
        failed=$((failed + 1))
    fi
}

# warning, portability and performance: the checks that find bugs, not
# style. jansson's and uthash's headers are read (their iteration macros
# open blocks), the system's are not: cppcheck cannot parse glibc's.
nice -n 19 cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance --std=c11 \
    --library=posix --max-configs=1 --inline-suppr --suppressions-list=tests/cppcheck-suppressions.txt \
    -D_GNU_SOURCE -Iinclude -Iserver -Ihandlers -Itests/lib -Itests/fuzz \
    --include=/usr/include/jansson.h --include=/usr/include/uthash.h "${files[@]}" "${tests[@]}"
report cppcheck $?

status=0
for f in "${files[@]}"; do
    nice -n 19 clang-tidy-14 --quiet "$f" -- -std=gnu11 -D_GNU_SOURCE -Iinclude -Iserver -Ihandlers \
        -Itests/fuzz $(pkg-config --cflags $pkgs) 2>/dev/null || status=1
done
report clang-tidy $status

# The tests too, less cert-err34-c: what they read with atoi or sscanf is
# poold's own answer or a number they wrote, and a wrong one fails the
# assertion that reads it.
status=0
for f in "${tests[@]}"; do
    nice -n 19 clang-tidy-14 --quiet --checks=-cert-err34-c "$f" -- -std=gnu11 -D_GNU_SOURCE -Iinclude -Iserver \
        -Ihandlers -Itests/lib $(pkg-config --cflags $pkgs) 2>/dev/null || status=1
done
report "clang-tidy (tests)" $status

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
