#!/usr/bin/env bash
# tests/readme.sh: the README's first steps, as a new user takes them from
# a checkout. `script/server` and `make run` are moved and set up by POOLD_*
# variables alone (a flag in the Makefile would win over its variable). The
# plugin example of "Your own functions: plugins" is cut out of README.md,
# source and commands as printed, and run both ways it shows: `make
# install` under a scratch PREFIX (what the README says to do without
# root), then its `cc` and `poold --plugin` lines in a scratch directory;
# and the checkout's own `cc -Iinclude` and `build/poold`. The `curl` line
# must answer what is printed under it. Prints "ok   NAME" or "FAIL NAME"
# a check, then "N passed, N failed" (tests/run.sh reads it).
#
# A nested make sees the test run's own build (MAKEFLAGS carries
# SANITIZE=1 or BUILD), so it runs the poold `make test` built.
set -u
cd "$(dirname "$0")/.." || exit 1
root=$PWD
tmp=$(mktemp -d /tmp/poold-test-readme-XXXXXX)
passed=0 failed=0
leaders=() # process groups started here (setsid), for the cleanup

cleanup() {
    for g in "${leaders[@]}"; do
        kill -KILL -- "-$g" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

ok() {
    echo "ok   $1"
    passed=$((passed + 1))
}

fail() {
    echo "FAIL $1"
    shift
    printf '    %s\n' "$@"
    failed=$((failed + 1))
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# up PORT: 0 once /healthz answers there, within 30 s (a first build of
# nothing, and script/bootstrap's look at the packages, come first).
up() {
    for _ in $(seq 300); do
        curl -fs -o /dev/null "http://127.0.0.1:$1/healthz" && return 0
        sleep 0.1
    done
    return 1
}

# start LOG CMD...: CMD in a process group of its own, output to LOG; its
# pid (the group's) in $pid.
start() {
    local log=$1
    shift
    setsid "$@" >"$log" 2>&1 &
    pid=$!
    leaders+=("$pid")
}

# stop PID: SIGTERM to the poold PID is or runs (make's child), once, and
# its exit status; 0 is poold's clean stop. A sanitizer's report in LOG
# is a failure too.
stop() {
    local pid=$1 log=$2 target=$1 rc
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = poold ] || target=$(ps -o pid= --ppid "$pid" | head -n 1 | tr -d " ")
    kill -TERM "${target:-$pid}" 2>/dev/null
    wait "$pid"
    rc=$?
    grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log" && rc=99
    return $rc
}

# serve NAME CMD...: CMD with POOLD_* variables only, which must move it
# to a free port, bound its workers, guard it with a key and keep its jobs
# in memory (no ./data in the checkout).
serve() {
    local name=$1 port log=$tmp/$1.log pool
    shift
    port=$(free_port)
    start "$log" env POOLD_PORT="$port" POOLD_PROCESSES=3 POOLD_API_KEY=readme-key-1 POOLD_STORE=memory "$@"
    if ! up "$port"; then
        fail "$name" "no poold on POOLD_PORT=$port:" "$(tail -n 5 "$log")"
        stop "$pid" "$log"
        return
    fi
    pool=$(curl -s -H 'Authorization: Bearer readme-key-1' "http://127.0.0.1:$port/v1/pool")
    # script/server execs poold: no parent of its keeps the key in its
    # environment, where the functions poold runs could read it.
    local comm
    comm=$(cat "/proc/$pid/comm" 2>/dev/null)
    local denied
    denied=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/pool")
    if ! stop "$pid" "$log"; then
        fail "$name" "did not stop cleanly:" "$(tail -n 5 "$log")"
    elif [[ $pool != *'"processes":3'* ]]; then
        fail "$name" "POOLD_PROCESSES=3 not applied: $pool"
    elif [ "$denied" != 401 ]; then
        fail "$name" "POOLD_API_KEY not applied: /v1/pool without the key answered $denied"
    elif [ "$1" = script/server ] && [ "$comm" != poold ]; then
        fail "$name" "poold is not what script/server became (its process is $comm): a parent holds POOLD_API_KEY"
    else
        ok "$name"
    fi
}

serve make_run_takes_every_poold_variable make run
serve script_server_takes_every_poold_variable script/server

# --- the plugin example, as README.md prints it ---

section=$(awk '/^### Your own functions: plugins/ { on = 1; next } on && /^### / { exit } on' README.md)
sed -n '/^    #include <poold.h>/,/^    POOLD_PLUGIN(/p' <<<"$section" | sed 's/^    //' >"$tmp/shout.c"
# The "    $ " lines: make install, cc, poold, curl; then the checkout's
# own cc and poold.
mapfile -t cmds < <(sed -n 's/^    \$ //p' <<<"$section")
# What curl prints: the indented line after it.
want=$(grep -A1 -F -- "    \$ ${cmds[3]:-?}" <<<"$section" | sed -n '2s/^    //p')

# shout NAME DIR CC POOLD: builds shout.so in DIR with the CC line, serves
# it with the POOLD line, and runs the README's curl line against it.
shout() {
    local name=$1 dir=$2 port log=$tmp/$1.log out
    port=$(free_port)
    cp "$tmp/shout.c" "$dir/" || return
    (cd "$dir" && bash -c "$3") >"$tmp/$name.cc.log" 2>&1 || {
        fail "$name" "\$ $3" "$(tail -n 5 "$tmp/$name.cc.log")"
        return
    }
    cd "$dir" || return
    start "$log" env POOLD_PORT="$port" POOLD_STORE=memory POOLD_PROCESSES=1 bash -c "exec $4"
    cd "$root" || return
    if ! up "$port"; then
        fail "$name" "\$ $4" "$(tail -n 5 "$log")"
        stop "$pid" "$log"
        return
    fi
    out=$(bash -c "${cmds[3]//localhost:8080/127.0.0.1:$port}" 2>&1)
    if ! stop "$pid" "$log"; then
        fail "$name" "poold did not stop cleanly:" "$(tail -n 5 "$log")"
    elif [ -z "$want" ] || [ "$out" != "$want" ]; then
        fail "$name" "\$ ${cmds[3]}" "printed: $want" "answered: $out"
    else
        ok "$name"
    fi
}

# Installed under a scratch PREFIX, found through PATH and PKG_CONFIG_PATH
# as the README says to do without root.
installed() {
    local prefix=$tmp/prefix
    mkdir -p "$tmp/installed"
    (cd "$root" && PREFIX=$prefix bash -c "${cmds[0]}") >"$tmp/install.log" 2>&1 || {
        fail plugin_example_runs_installed "\$ ${cmds[0]}" "$(tail -n 5 "$tmp/install.log")"
        return
    }
    PATH="$prefix/bin:$PATH" PKG_CONFIG_PATH="$prefix/lib/pkgconfig" \
        shout plugin_example_runs_installed "$tmp/installed" "${cmds[1]}" "${cmds[2]}"
}

# From a checkout, nothing installed: include/ and build/ are the
# checkout's (build/ the test run's own build: build-san under SANITIZE=1).
checkout() {
    local dir=$tmp/checkout
    mkdir -p "$dir"
    ln -s "$root/include" "$dir/include"
    ln -s "$(dirname "${POOLD_BIN:-$root/build/poold}")" "$dir/build"
    shout plugin_example_runs_from_the_checkout "$dir" "${cmds[4]}" "${cmds[5]}"
}

if [ ! -s "$tmp/shout.c" ] || [ ${#cmds[@]} -ne 6 ] || [[ ${cmds[0]} != "make install"* ]]; then
    fail plugin_example_runs_installed "README.md: no source, or not make install and 5 more commands:" "${cmds[@]}"
else
    installed
    checkout
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
