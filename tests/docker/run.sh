#!/usr/bin/env bash
# tests/docker/run.sh: the Dockerfile and docker-compose.yml, end to end.
# Builds the image, brings the compose example up, runs the seed's calls
# against it, a webhook to the receiver service, a stop and a re-created
# container that still has the jobs, and takes everything down again.
# Then docker-compose.cluster.yml the same way (tests/docker/cluster.sh):
# Redis, three replicas and nginx, one replica killed.
# One line per check, then "N passed, N failed"; non-zero on any failure.
#
# With no Docker engine reachable it starts its own dockerd in a temporary
# directory (and stops it at the end); with no debian:bookworm-slim image it
# makes one with debootstrap from apt's own mirror, since no registry may
# be reachable. POOLD_DOCKER_CACHE (default ~/.cache/poold-docker) keeps
# that base for a week, so that a second run skips debootstrap.
# POOLD_TEST_KEEP_LOGS=1 keeps the logs (dockerd, builds, compose), as in
# the rest of the suite. POOLD_DOCKER_STORAGE_DRIVER picks the storage
# driver of the dockerd it starts (default: overlay2, else vfs).
set -uo pipefail
cd "$(dirname "$0")/../.."

# dockerd, its socket and the images are root's: a user with sudo runs the
# whole test as root, as script/bootstrap installs with sudo.
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    exec sudo -E "$0" "$@"
fi

passed=0 failed=0
t0=$SECONDS
tmp=$(mktemp -d /tmp/poold-docker.XXXXXX)
dockerd_pid= proj=poolddocker$$ compose_up=0 cluster_up=0 own_images=() tls_cid=
image=poold:test receiver_image=poold-receiver:test

ok()   { echo "ok   $1"; passed=$((passed + 1)); }
fail() {
    echo "FAIL $1"
    shift
    for line in "$@"; do printf '    %s\n' "$line" >&2; done
    failed=$((failed + 1))
}
# grep -q for a pipe: reads all its input first. Under pipefail, grep -q
# quitting at the first match makes the writer die of SIGPIPE, and the
# pipeline fails on a match when the writer had more to say.
matches() { local text; text=$(cat); grep -q -- "$1" <<<"$text"; }
# The last lines of a log, indented, for a failure's report.
tail_of() { [ -s "$1" ] && tail -n "${2:-15}" "$1" | sed 's/^/    | /' >&2; }

finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}

compose() {
    POOLD_IMAGE=$image POOLD_RECEIVER_IMAGE=$receiver_image POOLD_PUBLISH_PORT=${port:-8080} \
        timeout 300 docker-compose -p "$proj" -f docker-compose.yml "$@"
}

cleanup() {
    set +e
    if [ "$compose_up" = 1 ]; then
        compose logs --no-color >"$tmp/compose.log" 2>&1
        compose down -v --remove-orphans >"$tmp/down.log" 2>&1 || tail_of "$tmp/down.log"
    fi
    if [ "$cluster_up" = 1 ]; then
        cluster logs --no-color >"$tmp/cluster.log" 2>&1
        cluster down -v --remove-orphans >"$tmp/cluster-down.log" 2>&1 || tail_of "$tmp/cluster-down.log"
    fi
    [ -n "$tls_cid" ] && docker rm -f "$tls_cid" >/dev/null 2>&1
    if [ -n "$dockerd_pid" ]; then
        stop_dockerd
    elif [ ${#own_images[@]} -gt 0 ]; then
        docker image rm "${own_images[@]}" >/dev/null 2>&1
    fi
    if [ "${POOLD_TEST_KEEP_LOGS:-}" = 1 ]; then
        mkdir -p "/tmp/poold-docker-logs-$$" && cp "$tmp"/*.log "/tmp/poold-docker-logs-$$/" 2>/dev/null &&
            echo "tests/docker: logs kept in /tmp/poold-docker-logs-$$" >&2
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Stops the dockerd this script started and undoes what it may leave: its
# containerd when it had to be killed, and mounts (its root's bind mount,
# netns, overlays) that would make rm fail.
stop_dockerd() {
    [ -n "$dockerd_pid" ] && stop_pid "$dockerd_pid" 30
    dockerd_pid=
    local cpid
    cpid=$(cat "$tmp/exec/containerd/containerd.pid" 2>/dev/null)
    # Only while that pid is still our containerd, not a pid reused since.
    [ -n "$cpid" ] && grep -qaF "$tmp/" "/proc/$cpid/cmdline" 2>/dev/null && stop_pid "$cpid" 10
    grep -o " $tmp/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
}

stop_pid() {
    local pid=$1 wait=$2 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill "$pid"
    for ((i = 0; i < wait * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null
}

# --- tools, installed as script/bootstrap installs ---
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
    as_root=(env DEBIAN_FRONTEND=noninteractive)
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { fail "tools installed" "need root or sudo to install ${need[*]}"; finish; }
        as_root=(sudo env DEBIAN_FRONTEND=noninteractive)
    fi
    echo "tests/docker: installing ${need[*]}"
    if ! { timeout 300 "${as_root[@]}" apt-get update -q &&
           timeout 600 "${as_root[@]}" apt-get install -y -q --no-install-recommends "${need[@]}"; } \
        >"$tmp/apt.log" 2>&1; then
        fail "tools installed" "apt-get install ${need[*]} failed:"
        tail_of "$tmp/apt.log"
        finish
    fi
fi
command -v docker >/dev/null || { fail "tools installed" "no docker client after installing docker.io"; finish; }
ok "tools installed (dockerd, docker-compose, debootstrap)"

# --- an engine: the one configured, else our own ---
start_dockerd() {
    local pool
    # A /24 of its own for the compose network, one no route here uses yet,
    # so that it meets no network of the host's.
    for n in $(seq 0 255); do
        ip -4 route 2>/dev/null | matches "^172\.30\.$n\." && continue
        pool=172.30.$n.0/24
        break
    done
    # --bridge=none, --iptables=false, --ip-forward=false: the test needs
    # no docker0, no NAT and no forwarding (builds use the host's network,
    # the published port goes through docker-proxy), and the host's firewall
    # and sysctls stay as they were.
    dockerd --data-root "$tmp/root" --exec-root "$tmp/exec" -H "unix://$tmp/docker.sock" \
        --pidfile "$tmp/dockerd.pid" --storage-driver "$1" --bridge=none --iptables=false \
        --ip-forward=false --ip-masq=false ${pool:+--default-address-pool "base=$pool,size=28"} \
        >"$tmp/dockerd.log" 2>&1 &
    dockerd_pid=$!
    export DOCKER_HOST=unix://$tmp/docker.sock
    local deadline=$((SECONDS + 60))
    while [ "$SECONDS" -lt "$deadline" ]; do
        kill -0 "$dockerd_pid" 2>/dev/null || break
        timeout 5 docker info >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    stop_dockerd
    return 1
}

shared=0
if timeout 10 docker info >/dev/null 2>&1; then
    shared=1
    ok "a Docker engine is running ($(docker info -f '{{.ServerVersion}}, {{.Driver}}' 2>/dev/null))"
elif [ "$(id -u)" -ne 0 ]; then
    fail "dockerd starts" "no Docker engine answers (DOCKER_HOST='${DOCKER_HOST:-}'), and starting one needs root"
    finish
else
    unset DOCKER_HOST
    started=
    # overlay2 needs overlayfs on the data root's file system; vfs copies
    # every layer but works anywhere.
    for driver in ${POOLD_DOCKER_STORAGE_DRIVER:-overlay2 vfs}; do
        if start_dockerd "$driver"; then started=$driver; break; fi
        cp "$tmp/dockerd.log" "$tmp/dockerd-$driver.log"
        rm -rf "$tmp/root" "$tmp/exec"
    done
    if [ -z "$started" ]; then
        fail "dockerd starts" "dockerd would not start with any storage driver; its last words:"
        for d in ${POOLD_DOCKER_STORAGE_DRIVER:-overlay2 vfs}; do
            echo "    -- $d" >&2
            grep -E 'level=(error|fatal)|^failed' "$tmp/dockerd-$d.log" >"$tmp/why-$d.log" || cp "$tmp/dockerd-$d.log" "$tmp/why-$d.log"
            tail_of "$tmp/why-$d.log" 6
        done
        finish
    fi
    ok "dockerd starts (own, storage driver $started, $(dockerd --version | cut -d, -f1))"
fi

# --- the base image ---
apt_uri() { # apt_uri SUITE: the first URI apt uses for that suite
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk -v s="$1" '$1 == "deb" { for (i = 2; i < NF; i++) if ($i ~ /^https?:/ && $(i + 1) == s) { print $i; exit } }'
    cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
        awk -v s="$1" 'BEGIN { RS = "" } { u = ""; ok = 0
            for (i = 1; i <= NF; i++) { if ($i == "URIs:") u = $(i + 1)
                if ($i == "Suites:") for (j = i + 1; j <= NF && $j !~ /:$/; j++) if ($j == s) ok = 1 }
            if (ok && u) { print u; exit } }'
}

make_base() {
    local cache=${POOLD_DOCKER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/poold-docker} tar mirror security rootfs=$tmp/rootfs
    tar=$cache/bookworm-slim.tar
    if [ -z "$(find "$tar" -mtime -7 2>/dev/null)" ]; then
        mirror=$(apt_uri bookworm | head -n 1) security=$(apt_uri bookworm-security | head -n 1)
        mirror=${mirror:-http://deb.debian.org/debian} security=${security:-http://deb.debian.org/debian-security}
        echo "tests/docker: debootstrap bookworm from $mirror"
        timeout 600 debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$tmp/debootstrap.log" 2>&1 ||
            { tail_of "$tmp/debootstrap.log"; return 1; }
        # As Debian's slim image: no caches, lists, docs, man pages or
        # translations; and apt pointed at the same mirror for every suite.
        rm -rf "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
            "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* \
            "$rootfs"/etc/apt/sources.list
        cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
        cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
        mkdir -p "$cache" && tar -C "$rootfs" -cf "$tar.new" . && mv "$tar.new" "$tar" || return 1
        rm -rf "$rootfs"
    fi
    docker import --change 'CMD ["bash"]' "$tar" debian:bookworm-slim >/dev/null
}

if docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
    ok "debian:bookworm-slim is there"
elif [ "$shared" = 1 ] && timeout 120 docker pull -q debian:bookworm-slim >"$tmp/pull.log" 2>&1; then
    # An engine someone set up may reach a registry; the one started here is
    # for machines that reach none, so it does not try.
    ok "debian:bookworm-slim pulled"
else
    s=$SECONDS
    if make_base; then ok "debian:bookworm-slim made with debootstrap ($((SECONDS - s)) s)"
    else fail "debian:bookworm-slim made with debootstrap"; finish; fi
fi

# Namespaces, cgroups and mounts all at once: if this fails, nothing will.
if docker run --rm --network none debian:bookworm-slim true >"$tmp/run.log" 2>&1; then
    ok "a container runs"
else
    fail "a container runs" "docker run of debian:bookworm-slim failed; this sandbox may lack the privileges:"
    tail_of "$tmp/run.log"
    [ -n "$dockerd_pid" ] && tail_of "$tmp/dockerd.log" 8
    finish
fi

# --- the images ---
build() { # build NAME TAG DIR
    local s=$SECONDS
    # The host's network: an engine started here has no NAT for a build.
    if timeout 900 docker build --network host -t "$2" "$3" >"$tmp/build-$1.log" 2>&1; then
        ok "$1 image builds ($((SECONDS - s)) s)"
        own_images+=("$2")
    else
        fail "$1 image builds" "docker build -t $2 $3:"
        tail_of "$tmp/build-$1.log" 25
        finish
    fi
}
build poold "$image" .
build receiver "$receiver_image" examples/receiver

size=$(docker image inspect -f '{{.Size}}' "$image")
user=$(docker image inspect -f '{{.Config.User}}' "$image")
if [ "$user" = poold ]; then ok "the image runs as user poold ($((size / 1048576)) MiB)"
else fail "the image runs as user poold" "Config.User is '$user'"; fi
if docker run --rm --network none "$image" --help 2>&1 | matches POOLD_DATA_DIR; then ok "poold --help runs in the image"
else fail "poold --help runs in the image"; fi

# --- compose up ---
# Below the ephemeral range (32768 on), where a client's socket may hold a
# port that nothing listens on.
port=
for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 12000))
    if command -v ss >/dev/null; then
        [ -z "$(ss -Htan "sport = :$p" 2>/dev/null)" ] && { port=$p; break; }
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { port=$p; break; }
    fi
done
base=http://127.0.0.1:$port

wait_healthy() { # wait_healthy SECONDS [ID]: the container's (else compose's poold's) healthcheck passes
    local id=${2:-} i st=
    for ((i = 0; i < $1 * 2; i++)); do
        [ -n "${2:-}" ] || id=$(compose ps -q poold 2>/dev/null)
        st=$(docker inspect -f '{{.State.Health.Status}}' "$id" 2>/dev/null)
        [ "$st" = healthy ] && return 0
        sleep 0.5
    done
    echo "health: ${st:-no container}" >&2
    return 1
}

s=$SECONDS
compose_up=1
if compose up -d --no-build >"$tmp/up.log" 2>&1 && wait_healthy 60; then
    ok "docker-compose up: poold healthy ($((SECONDS - s)) s)"
else
    fail "docker-compose up: poold healthy"
    tail_of "$tmp/up.log"
    compose logs --no-color --tail 20 >"$tmp/logs.txt" 2>&1; tail_of "$tmp/logs.txt" 20
    finish
fi

test=$(docker inspect -f '{{json .Config.Healthcheck.Test}}' "$(compose ps -q poold)" 2>/dev/null)
if grep -q readyz <<<"$test"; then ok "compose's healthcheck is the image's (/readyz)"
else fail "compose's healthcheck is the image's (/readyz)" "test: $test"; fi

# The image's healthcheck when poold serves HTTPS (POOLD_TLS_CERT).
if command -v openssl >/dev/null; then
    mkdir -p "$tmp/tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=poold \
        -keyout "$tmp/tls/key.pem" -out "$tmp/tls/cert.pem" >"$tmp/openssl.log" 2>&1
    chmod 644 "$tmp/tls/key.pem" # read by the image's user, not the host's
    tls_cid=$(docker run -d --network none -v "$tmp/tls:/tls:ro" -e POOLD_TLS_CERT=/tls/cert.pem \
        -e POOLD_TLS_KEY=/tls/key.pem -e POOLD_STORE=memory --health-interval 1s "$image" 2>"$tmp/tls-run.log")
    if [ -n "$tls_cid" ] && wait_healthy 30 "$tls_cid"; then ok "the healthcheck follows POOLD_TLS_CERT to https"
    else fail "the healthcheck follows POOLD_TLS_CERT to https"; docker logs --tail 5 "$tls_cid" >>"$tmp/tls-run.log" 2>&1; tail_of "$tmp/tls-run.log"; fi
    docker rm -f "$tls_cid" >/dev/null 2>&1 && tls_cid=
else
    echo "-- no openssl: the HTTPS healthcheck is not tried"
fi

pid1=$(compose exec -T poold cat /proc/1/comm 2>/dev/null)
uid=$(compose exec -T poold id -u 2>/dev/null)
if [ "$pid1" = poold ] && [ -n "$uid" ] && [ "$uid" != 0 ]; then ok "poold is PID 1, not root (uid $uid)"
else fail "poold is PID 1, not root" "PID 1 is '$pid1', uid '$uid'"; fi

# --- the seed over HTTP ---
# call NAME EXPECTED METHOD PATH [BODY]: the body poold answers equals EXPECTED.
call() {
    local name=$1 want=$2 got
    got=$(curl -sS --max-time 30 -X "$3" "$base$4" ${5:+-d "$5"} 2>&1)
    if [ "$got" = "$want" ]; then ok "$name"; else fail "$name" "expected: $want" "got:      $got"; fi
}
call "apply: pow(10, 10)" '{"result":10000000000}' POST /v1/apply '{"func":"pow","args":[10,10]}'
call "apply: calc(10)" '{"result":10000000000}' POST /v1/apply '{"func":"calc","args":[10]}'

s=$(date +%s%N)
call "map: calc over [1, 2, 5, 10]" '{"results":[1,1024,9765625,10000000000]}' \
    POST /v1/map '{"func":"calc","iterable":[1,2,5,10],"chunksize":1}'
ms=$((($(date +%s%N) - s) / 1000000))
# One worker would take 4 s; the two of POOLD_PROCESSES take 2.
if [ "$ms" -lt 4000 ]; then ok "map ran on two workers at once (${ms} ms)"
else fail "map ran on two workers at once" "took ${ms} ms, one worker's time"; fi

# calc is examples/seed.py's, from the image's Python runtime.
fns=$(curl -sS --max-time 10 "$base/v1/functions" 2>&1)
if printf '%s' "$fns" | grep -q '{"name":"calc","doc":"[^"]*","source":"python"}'; then ok "calc is served by the Python runtime"
else fail "calc is served by the Python runtime" "got: $fns"; fi

# The dashboard is compiled into the binary from dashboard/: the image's
# build must have had those files, not an empty table.
page=$(curl -sS --max-time 10 "$base/dashboard" 2>&1)
if grep -q '<title>' <<<"$page" && curl -fsS --max-time 10 -o /dev/null "$base/dashboard/app.js"; then
    ok "the image serves the dashboard (GET /dashboard, /dashboard/app.js)"
else fail "the image serves the dashboard" "got: $(head -c 300 <<<"$page")"; fi

call "exec function from examples/functions.json" '{"result":["HI"]}' POST /v1/apply '{"func":"upper","args":["hi"]}'

# The seed's four apply_async(calc, (i,), callback=…), each to the receiver.
ids=()
for i in 1 2 3 4; do
    body=$(curl -sS --max-time 10 -w '\n%{http_code}' "$base/v1/apply_async" \
        -d "{\"func\":\"calc\",\"args\":[$i],\"callback\":\"http://receiver:9000/hooks/poold\"}")
    id=$(sed -n '1s/^{"id":"\([0-9a-f]*\)".*/\1/p' <<<"$body")
    [ "$(tail -n 1 <<<"$body")" = 202 ] && [ -n "$id" ] && ids+=("$id")
done
if [ ${#ids[@]} = 4 ]; then ok "apply_async: four jobs accepted (202)"
else fail "apply_async: four jobs accepted (202)" "last answer: $body"; fi

want=(x 1 1024 59049 1048576)
good=0
for i in "${!ids[@]}"; do
    got=$(curl -sS --max-time 40 "$base/v1/jobs/${ids[$i]}/result?timeout=30")
    [ "$got" = "{\"result\":${want[$((i + 1))]}}" ] && good=$((good + 1))
done
if [ "$good" = 4 ] && [ ${#ids[@]} = 4 ]; then ok "apply_async: results by GET /v1/jobs/{id}/result"
else fail "apply_async: results by GET /v1/jobs/{id}/result" "$good of 4 right; last: $got"; fi

# The error_callback of a job that fails.
body=$(curl -sS --max-time 10 "$base/v1/apply_async" \
    -d '{"func":"pow","args":["x"],"callback":"http://receiver:9000/hooks/poold","error_callback":"http://receiver:9000/hooks/failed"}')
bad=$(sed -n '1s/^{"id":"\([0-9a-f]*\)".*/\1/p' <<<"$body")

delivered() { # delivered ID: the job says its callback was delivered
    curl -sS --max-time 5 "$base/v1/jobs/$1" | matches '"delivered":true'
}
n=0
for ((i = 0; i < 60; i++)); do
    n=0
    for id in "${ids[@]}" ${bad:+"$bad"}; do delivered "$id" && n=$((n + 1)); done
    [ "$n" = $((${#ids[@]} + 1)) ] && break
    sleep 0.5
done
if [ "$n" = 5 ]; then ok "webhooks: poold reports five deliveries"
else fail "webhooks: poold reports five deliveries" "$n delivered; one job: $(curl -sS "$base/v1/jobs/${ids[0]:-none}")"; fi

# What the receiver recorded, read from inside the compose network.
got=$(compose exec -T poold curl -fsS --max-time 5 http://receiver:9000/ 2>&1)
n=0
for id in "${ids[@]}"; do
    grep -q "\"type\":\"job.succeeded\".*\"id\":\"$id\"" <<<"$got" && n=$((n + 1))
done
if [ "$n" = 4 ] && grep -q "\"type\":\"job.failed\".*\"id\":\"$bad\"" <<<"$got"; then
    ok "webhooks: the receiver got four job.succeeded and one job.failed"
else
    fail "webhooks: the receiver got four job.succeeded and one job.failed" "$n of 4 succeeded ones; received:"
    head -c 2000 <<<"$got" | sed 's/^/    | /' >&2
fi
if compose logs --no-color receiver 2>&1 | matches 'received POST /hooks/failed'; then ok "webhooks: the receiver logs each callback"
else fail "webhooks: the receiver logs each callback"; fi

# --- a stop, and a new container on the same volume ---
job=${ids[2]:-none}
before=$(curl -sS --max-time 5 "$base/v1/jobs/$job")
cid=$(compose ps -q poold)
s=$(date +%s%N)
compose stop poold >"$tmp/stop.log" 2>&1
ms=$((($(date +%s%N) - s) / 1000000))
code=$(docker inspect -f '{{.State.ExitCode}}' "$cid" 2>/dev/null)
# stop_grace_period is 10 s: a poold that ignored SIGTERM would be killed
# then, with 137.
if [ "$code" = 0 ] && [ "$ms" -lt 5000 ]; then ok "docker stop: poold exits 0 on SIGTERM as PID 1 (${ms} ms)"
else fail "docker stop: poold exits 0 on SIGTERM as PID 1" "exit code '$code' after ${ms} ms"
     docker logs --tail 10 "$cid" >"$tmp/stopped.txt" 2>&1; tail_of "$tmp/stopped.txt"; fi

s=$SECONDS
if compose up -d --no-build --no-deps --force-recreate poold >"$tmp/up2.log" 2>&1 && wait_healthy 60; then
    ok "a new poold container is healthy ($((SECONDS - s)) s)"
else
    fail "a new poold container is healthy"; tail_of "$tmp/up2.log"
fi
if [ "$(compose ps -q poold)" != "$cid" ]; then ok "the container was re-created"
else fail "the container was re-created" "same id $cid"; fi
after=$(curl -sS --max-time 5 "$base/v1/jobs/$job")
if [ -n "$before" ] && [ "$after" = "$before" ] && grep -q '"result":59049' <<<"$after"; then
    ok "the volume kept a finished job: GET /v1/jobs/{id} the same after re-creation"
else
    fail "the volume kept a finished job: GET /v1/jobs/{id} the same after re-creation" \
        "before: $before" "after:  $after"
fi
call "the kept job's result" '{"result":59049}' GET "/v1/jobs/$job/result"

# A stop in the middle of a task: the image's POOLD_SHUTDOWN_GRACE (8 s)
# ends before Docker's kill (10 s), and the job, left unfinished in the
# store, runs again in the next start.
body=$(curl -sS --max-time 10 "$base/v1/apply_async" -d '{"func":"sleep","args":[10]}')
long=$(sed -n '1s/^{"id":"\([0-9a-f]*\)".*/\1/p' <<<"$body")
for ((i = 0; i < 50; i++)); do
    curl -sS --max-time 5 "$base/v1/jobs/${long:-none}" | matches '"status":"running"' && break
    sleep 0.2
done
cid=$(compose ps -q poold)
s=$(date +%s%N)
compose stop poold >"$tmp/stop2.log" 2>&1
ms=$((($(date +%s%N) - s) / 1000000))
code=$(docker inspect -f '{{.State.ExitCode}}' "$cid" 2>/dev/null)
if [ -n "$long" ] && [ "$code" = 0 ] && [ "$ms" -lt 10000 ]; then
    ok "docker stop mid-task: poold's grace ends before Docker's kill (exit 0, ${ms} ms)"
else
    fail "docker stop mid-task: poold's grace ends before Docker's kill" "job '$long', exit code '$code' after ${ms} ms"
fi
if compose start poold >"$tmp/start.log" 2>&1 && wait_healthy 60; then
    call "the job cut short runs again after the restart" '{"result":10}' GET "/v1/jobs/$long/result?timeout=30"
else
    fail "the job cut short runs again after the restart" "poold did not come back"; tail_of "$tmp/start.log"
fi

# --- down ---
compose logs --no-color >"$tmp/compose.log" 2>&1
if compose down -v --remove-orphans >"$tmp/down.log" 2>&1; then
    compose_up=0
    if docker volume ls -q | matches "^${proj}_"; then fail "docker-compose down -v" "volumes left: $(docker volume ls -q | grep "^${proj}_")"
    else ok "docker-compose down -v removes the containers and volumes"; fi
else
    fail "docker-compose down -v"; tail_of "$tmp/down.log"
fi

# --- the cluster: docker-compose.cluster.yml ---
. tests/docker/cluster.sh

echo "-- docker: $((SECONDS - t0)) s"
finish
