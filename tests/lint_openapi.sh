#!/usr/bin/env bash
# tests/lint_openapi.sh: `redocly lint` on openapi.yaml, held to the rules
# of redocly.yaml (and .redocly.lint-ignore.yaml's reasoned exceptions).
# Run by `make test` through tests/run.sh, so it ends as a test binary
# does: "1 passed, 0 failed" or "0 passed, 1 failed".
set -u
cd "$(dirname "$0")/.." || exit 1
redocly=node_modules/.bin/redocly
if [ ! -x "$redocly" ]; then
    echo "tests/lint_openapi.sh: $redocly is missing: run script/bootstrap"
    echo "0 passed, 1 failed"
    exit 1
fi
if REDOCLY_SUPPRESS_UPDATE_NOTICE=true "$redocly" lint --format=stylish 2>&1; then
    echo "1 passed, 0 failed"
else
    echo "0 passed, 1 failed"
    exit 1
fi
