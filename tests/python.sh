#!/usr/bin/env bash
# tests/python.sh: the Python client's pytest suite (tests/python/), against
# real poold servers it starts itself from $POOLD_BIN. Run by `make test`
# through tests/run.sh, so it ends as a test binary does: "N passed, N
# failed" (pytest's errors count as failures, its skips as neither).
set -u
cd "$(dirname "$0")/.." || exit 1
PY=${PYTHON:-/usr/bin/python3}
export POOLD_BIN=${POOLD_BIN:-$PWD/build/poold}
if ! "$PY" -c 'import pytest' 2>/dev/null; then
    echo "tests/python.sh: $PY has no pytest: run script/bootstrap (python3-pytest)"
    echo "0 passed, 1 failed"
    exit 1
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
PYTHONPATH=$PWD/python${PYTHONPATH:+:$PYTHONPATH} PYTHONDONTWRITEBYTECODE=1 \
    "$PY" -m pytest -q -p no:cacheprovider tests/python 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
last=$(grep -E '^=*\s*[0-9]+ (passed|failed|error)' "$out" | tail -n 1)
count() { grep -oE "[0-9]+ $1" <<<"$last" | grep -oE '^[0-9]+' || echo 0; }
passed=$(count passed)
failed=$(( $(count failed) + $(count 'errors?') ))
[ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
