#!/usr/bin/env bash
# tests/browser.sh: the dashboard in a real browser (tests/browser/*.mjs):
# Debian's chromium, headless, driven by playwright-core (package.json,
# installed by script/bootstrap's npm ci; it downloads no browser), against
# poold servers each test starts itself from $POOLD_BIN. Screenshots go to
# $BROWSER_ARTIFACTS (build/browser/). Run by `make test` through
# tests/run.sh, so it ends as a test binary does: "N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 1
export POOLD_BIN=${POOLD_BIN:-$PWD/build/poold}
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
export BROWSER_ARTIFACTS=${BROWSER_ARTIFACTS:-$PWD/build/browser}
if [ ! -x "$CHROMIUM" ] || [ ! -f node_modules/playwright-core/package.json ]; then
    echo "tests/browser.sh: $CHROMIUM or node_modules/playwright-core is missing: run script/bootstrap"
    echo "0 passed, 1 failed"
    exit 1
fi
mkdir -p "$BROWSER_ARTIFACTS"
passed=0 failed=0
for t in tests/browser/*.mjs; do
    out=$(mktemp)
    node "$t" >"$out" 2>&1
    rc=$?
    grep -vE '^[0-9]+ passed, [0-9]+ failed$' "$out"
    read -r p _ f _ <<<"$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)"
    rm -f "$out"
    p=${p:-0} f=${f:-0}
    [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
    passed=$((passed + p)) failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
