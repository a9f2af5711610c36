#!/usr/bin/env bash
# tests/layers.sh: the include graph keeps the layering docs/ARCHITECTURE.md
# draws. Each folder of server/ (and handlers/) has a rank; a file may
# include a header of its own folder or of a lower rank, never a higher or
# an equal one elsewhere, so no two parts can include each other. Includes
# are by path under server/ ("pool/pool.h"), which is what this reads.
# Two rules more: a part's private header (*_impl.h) is its folder's own,
# and the parts below calls (functions, worker, pool, store, webhook)
# include nothing of http: they know no HTTP, not even its statuses.
# Prints each breach, and "N passed, N failed" (one check a file).
set -u
cd "$(dirname "$0")/.."

# Low to high; the order is ARCHITECTURE.md's.
declare -A rank=([core]=0 [events]=1 [http]=2 [functions]=3 [worker]=4 [pool]=5 [store]=6 [webhook]=7
                 [calls]=8 [jobs]=9 [config]=10 [handlers]=11 [main]=12)

# The part a path names: server/pool/pool.c and "pool/pool.h" are pool;
# server/config.[ch] config; server/main.c main; handlers/ and
# "handlers.h" handlers; include/poold.h, the functions' interface, core.
part() {
    case $1 in
    server/main.c) echo main ;;
    server/config*.[ch] | config.h | config_opts.h) echo config ;;
    handlers/* | handlers.h) echo handlers ;;
    poold.h) echo core ;;
    server/*/*) p=${1#server/}; echo "${p%%/*}" ;;
    */*) echo "${1%%/*}" ;;
    *) echo "?" ;;
    esac
}

passed=0 failed=0
while read -r file; do
    from=$(part "$file")
    bad=0
    while read -r inc; do
        to=$(part "$inc")
        if [ -z "${rank[$to]:-}" ] || [ -z "${rank[$from]:-}" ]; then
            echo "$file: includes \"$inc\", which is in no part (include it by its path under server/)"
            bad=1
        elif [ "$to" != "$from" ] && [ "${rank[$to]}" -ge "${rank[$from]}" ]; then
            echo "$file ($from) includes \"$inc\" ($to): $to is not below $from"
            bad=1
        elif [ "$to" != "$from" ] && [[ $inc == *_impl.h ]]; then
            echo "$file ($from) includes \"$inc\": a private header of $to"
            bad=1
        elif [ "$to" = http ] && [[ " functions worker pool store webhook " == *" $from "* ]]; then
            echo "$file ($from) includes \"$inc\": $from knows nothing of HTTP"
            bad=1
        fi
    done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$file")
    if [ "$bad" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done < <(ls server/*.[ch] server/*/*.[ch] handlers/*.[ch])
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
