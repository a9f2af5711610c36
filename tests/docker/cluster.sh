# tests/docker/cluster.sh: run.sh's section for docker-compose.cluster.yml,
# sourced by it once the single poold's compose is down, with its helpers
# (ok, fail, build, call, wait_healthy, matches, tail_of), its images, port
# and base URL. Redis with AOF, three replicas and nginx: calls and jobs
# through nginx, GET /v1/pool from each replica, a replica SIGKILLed and the
# jobs after it, and down -v.

redis_image=poold-redis:test lb_image=poold-lb:test cproj=${proj}cluster

cluster() {
    POOLD_IMAGE=$image POOLD_RECEIVER_IMAGE=$receiver_image POOLD_REDIS_IMAGE=$redis_image \
        POOLD_LB_IMAGE=$lb_image POOLD_PUBLISH_PORT=$port \
        timeout 300 docker-compose -p "$cproj" -f docker-compose.cluster.yml "$@"
}

# Replicas that share one Redis database need shared job numbers and the
# shared queue, which come with --replica: a poold without them refuses a
# second replica's writes, and the section would only say so 40 times.
if ! docker run --rm --network none "$image" --help 2>&1 | matches POOLD_REPLICA; then
    echo "-- the image's poold has no --replica: the cluster section is not run"
    return 0
fi

cs=$SECONDS
build redis "$redis_image" examples/redis
build lb "$lb_image" examples/lb

s=$SECONDS
cluster_up=1
unhealthy=
if cluster up -d --no-build >"$tmp/cluster-up.log" 2>&1; then
    for svc in redis poold-1 poold-2 poold-3 lb; do
        id=$(cluster ps -q "$svc" 2>/dev/null)
        [ -n "$id" ] && wait_healthy 60 "$id" || unhealthy+=" $svc"
    done
else
    unhealthy=" (up failed)"
fi
if [ -z "$unhealthy" ]; then
    ok "cluster up: redis, three poold replicas and nginx healthy ($((SECONDS - s)) s)"
else
    fail "cluster up: redis, three poold replicas and nginx healthy" "not healthy:$unhealthy"
    tail_of "$tmp/cluster-up.log"
    cluster logs --no-color --tail 10 >"$tmp/cluster-logs.txt" 2>&1; tail_of "$tmp/cluster-logs.txt" 40
    finish
fi

call "cluster: apply through nginx: pow(10, 10)" '{"result":10000000000}' POST /v1/apply '{"func":"pow","args":[10,10]}'

# submit_jobs N FIRST: N jobs pow(i, 2), i from FIRST, through nginx; the
# accepted ones (202 and an id) as "i:id" in cjobs.
submit_jobs() {
    local i body id
    cjobs=()
    for ((i = $2; i < $2 + $1; i++)); do
        body=$(curl -sS --max-time 10 -w '\n%{http_code}' "$base/v1/apply_async" -d "{\"func\":\"pow\",\"args\":[$i,2]}")
        id=$(sed -n '1s/^{"id":"\([0-9a-f]*\)".*/\1/p' <<<"$body")
        [ "$(tail -n 1 <<<"$body")" = 202 ] && [ -n "$id" ] && cjobs+=("$i:$id")
    done
}
# results_right: good, how many of cjobs answer i*i through nginx,
# whichever replica ran them and whichever answers; wrong, the last answer
# that did not.
results_right() {
    local e got
    good=0 wrong=
    for e in "${cjobs[@]}"; do
        got=$(curl -sS --max-time 40 "$base/v1/jobs/${e#*:}/result?timeout=30" 2>&1)
        if [ "$got" = "{\"result\":$((${e%%:*} ** 2))}" ]; then good=$((good + 1)); else wrong="${e#*:}: $got"; fi
    done
}

submit_jobs 30 1
# One request between: nginx's round-robin then sends each read to another
# replica than the one its job was submitted to.
curl -sS --max-time 10 -o /dev/null "$base/healthz"
results_right
if [ ${#cjobs[@]} = 30 ] && [ "$good" = 30 ]; then ok "cluster: 30 apply_async through nginx, every result read through nginx (from another replica)"
else fail "cluster: 30 apply_async through nginx, every result read through nginx (from another replica)" \
    "${#cjobs[@]} of 30 accepted, $good results right; a wrong one: $wrong"; fi

# Round-robin: six calls reach all three (nginx's own healthcheck may slip
# one in between), and each answers for itself.
seen= pools=0
for _ in 1 2 3 4 5 6; do
    got=$(curl -sS --max-time 10 "$base/v1/pool" 2>&1)
    matches '"processes":2' <<<"$got" && pools=$((pools + 1))
    seen+=" $(grep -o 'poold-[123]' <<<"$got" | head -n 1)"
done
names=$(tr ' ' '\n' <<<"$seen" | sort -u | xargs)
if [ "$pools" = 6 ] && [ "$names" = "poold-1 poold-2 poold-3" ]; then
    ok "cluster: GET /v1/pool through nginx answers from each replica, by name"
else
    fail "cluster: GET /v1/pool through nginx answers from each replica, by name" \
        "$pools of 6 answered; replicas named:$seen" "last: $got"
fi

aof=$(cluster exec -T redis redis-cli config get appendonly 2>&1 | xargs)
fsync=$(cluster exec -T redis redis-cli config get appendfsync 2>&1 | xargs)
if [ "$aof" = "appendonly yes" ] && [ "$fsync" = "appendfsync always" ]; then ok "cluster: redis runs with appendonly yes, appendfsync always"
else fail "cluster: redis runs with appendonly yes, appendfsync always" "got: '$aof', '$fsync'"; fi

# SIGKILL, as a crash: nothing tells nginx, which finds out by a connect
# that fails or times out, and must pass the request to another replica.
victim=$(cluster ps -q poold-2)
if docker kill "$victim" >"$tmp/kill.log" 2>&1; then ok "cluster: docker kill (SIGKILL) of poold-2"
else fail "cluster: docker kill (SIGKILL) of poold-2"; tail_of "$tmp/kill.log"; fi
s=$SECONDS
submit_jobs 12 100
results_right
if [ ${#cjobs[@]} = 12 ] && [ "$good" = 12 ]; then
    ok "cluster: after the kill, 12 jobs through nginx all accepted and all succeed ($((SECONDS - s)) s)"
else
    fail "cluster: after the kill, 12 jobs through nginx all accepted and all succeed" \
        "${#cjobs[@]} of 12 accepted, $good results right; a wrong one: $wrong"
fi
good=0
for i in 1 2 3 4 5 6; do
    [ "$(curl -sS --max-time 10 "$base/v1/apply" -d "{\"func\":\"pow\",\"args\":[$i,3]}" 2>&1)" = "{\"result\":$((i ** 3))}" ] &&
        good=$((good + 1))
done
if [ "$good" = 6 ]; then ok "cluster: after the kill, 6 apply calls through nginx all answer"
else fail "cluster: after the kill, 6 apply calls through nginx all answer" "$good of 6 right"; fi

# The volumes, named and anonymous (the replicas' data dirs), that down -v
# must take.
vols=$(docker inspect -f '{{range .Mounts}}{{if .Name}}{{.Name}} {{end}}{{end}}' $(cluster ps -q) 2>/dev/null | xargs)
cluster logs --no-color >"$tmp/cluster.log" 2>&1
if cluster down -v --remove-orphans >"$tmp/cluster-down.log" 2>&1; then
    cluster_up=0
    left=
    for v in $vols; do docker volume inspect "$v" >/dev/null 2>&1 && left+=" $v"; done
    if [ -n "$vols" ] && [ -z "$left" ]; then ok "cluster: down -v removes the containers and volumes ($(wc -w <<<"$vols") volumes)"
    else fail "cluster: down -v removes the containers and volumes" "volumes: '$vols'; left:$left"; fi
else
    fail "cluster: down -v"; tail_of "$tmp/cluster-down.log"
fi
echo "-- cluster: $((SECONDS - cs)) s"
