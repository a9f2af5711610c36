#!/usr/bin/env bash
# tests/fuzz/run.sh BIN...: runs each libFuzzer target for FUZZ_SECONDS
# (30 by default), one after the other and at the lowest priority (the
# machine is shared), from its committed corpus tests/fuzz/corpus/<name>/,
# crashing inputs of the past included. The corpus is only read: what a
# run finds goes to corpus/<name>/ in the target's build directory (the
# one above its fuzz/, build-fuzz/ by default), a crash to crashes/<name>/
# there. tests/fuzz/<name>.dict, when there is one,
# lists the tokens its inputs are made of. Shows libFuzzer's figures for
# each, and ends with "N passed, N failed": one passed per target that
# ran clean.
set -u
cd "$(dirname "$0")/../.."
seconds=${FUZZ_SECONDS:-30}
passed=0 failed=0
for bin in "$@"; do
    name=$(basename "$bin")
    out=$(dirname "$(dirname "$bin")")
    work=$out/corpus/$name crashes=$out/crashes/$name log=$out/$name.log
    mkdir -p "$work" "$crashes"
    dict=() # the tokens its inputs are made of, when it has a list
    [ -f "tests/fuzz/$name.dict" ] && dict=(-dict="tests/fuzz/$name.dict")
    # A fixed seed (FUZZ_SEED) makes a run repeat the mutations of the last
    # one that passed, further or less far with the machine's speed: CI
    # meets what was fuzzed before it, and a crash found can be met again.
    nice -n 19 "$bin" -seed="${FUZZ_SEED:-1}" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 "${dict[@]}" \
        -artifact_prefix="$crashes/" "$work" "tests/fuzz/corpus/$name" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -n 1)
    if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
        echo "-- $name: ${runs} runs in ${seconds} s (${rate}/s), ${cov}"
        passed=$((passed + 1))
    else
        grep -E '^(==[0-9]+==|SUMMARY|.*FUZZ_CHECK|.*runtime error|artifact_prefix|Test unit written)' "$log" | head -n 20
        echo "-- $name: FAILED (exit status $rc; full log $log)"
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
