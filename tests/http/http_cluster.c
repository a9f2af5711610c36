/*
 * http_cluster.c: poold replicas sharing one Redis (issue 21): three real
 * poolds on one real redis-server, each job run by whichever has room and
 * read through any; a replica killed with SIGKILL loses nothing; a long
 * job on a live replica is never run twice; long polls, cancels,
 * Idempotency-Keys and priorities across replicas.
 *
 * The jobs run `record` (a warm Python function, tests/runtime's way),
 * which appends its argument to a file each time it runs, so that the
 * test counts the executions of every job.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"
#include "rawhttp.h"
#include "redis.h"
#include "server.h"
#include "startup.h"

#define MAX_REPLICAS 3

typedef struct Cluster {
    RedisServer redis;
    Server s[MAX_REPLICAS];
    int n;
    char runs[128];   /* where record writes */
    char py[128];     /* the functions' file */
} Cluster;

/* Starts redis and n replicas with `processes` workers each and extra
 * flags (NULL-terminated, may be NULL). */
static void
cluster_start(Cluster *c, int n, const char *processes, const char *const *extra)
{
    char text[512], name[MAX_REPLICAS][16];

    snprintf(c->runs, sizeof(c->runs), "/tmp/poold-test-%d-runs", (int)getpid());
    unlink(c->runs);
    snprintf(text, sizeof(text),
             "import time\n\n"
             "def record(i, pause=0):\n"
             "    \"\"\"Appends i to the runs file (one line a run), then sleeps.\"\"\"\n"
             "    with open('%s', 'a') as f:\n"
             "        f.write('%%s\\n' %% i)\n"
             "    time.sleep(pause)\n"
             "    return i\n",
             c->runs);
    test_write_file(c->py, sizeof(c->py), "cluster.py", text);
    redis_start(&c->redis);
    c->n = n;
    for (int i = 0; i < n; i++) {
        const char *args[24] = {"--processes", processes, "--store", c->redis.url, "--python", c->py,
                                "--replica", name[i]};
        int k = 8;
        snprintf(name[i], sizeof(name[i]), "r%d", i);
        for (int e = 0; extra && extra[e] && k < 22; e++)
            args[k++] = extra[e];
        args[k] = NULL;
        server_start(&c->s[i], args);
    }
    /* Ready to take work, every one: a replica takes none while its
     * workers' runtimes start. */
    for (int i = 0; i < n; i++)
        CHECK(await_idle_workers(&c->s[i], atoi(processes), 20));
}

static void
cluster_stop(Cluster *c)
{
    for (int i = 0; i < c->n; i++)
        if (c->s[i].pid)
            server_stop(&c->s[i]);
    redis_free(&c->redis);
    unlink(c->runs);
    unlink(c->py);
}

/* The wall clock, which finished_at is in (one machine: one clock). */
static double
wall_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* How often each job value ran, by the runs file: counts[v] for v < n. */
static void
count_runs(const Cluster *c, int *counts, int n)
{
    FILE *f = fopen(c->runs, "r");
    int v;

    memset(counts, 0, sizeof(*counts) * (size_t)n);
    while (f && fscanf(f, "%d", &v) == 1)
        if (v >= 0 && v < n)
            counts[v]++;
    if (f)
        fclose(f);
}

/* The replica (index) a job runs on, by its view; -1 when none yet. */
static int
running_on(const Cluster *c, const char *id)
{
    json_t *j = job_get(&c->s[0], id);
    const char *rep = json_string_value(jpath(j, "replica"));
    int k = j && strcmp(json_string_value(jpath(j, "status")) ?: "", "running") == 0 && rep && rep[0] == 'r'
                ? rep[1] - '0' : -1;

    json_decref(j);
    return k;
}

/* --- submitting many jobs at once --- */

typedef struct Burst {
    Cluster *c;
    int from, to, step;   /* job values from, from+step, ... below to */
    double pause;
    char (*ids)[40];      /* by value */
    int *via;             /* the replica each was submitted to, or NULL */
    int alive[MAX_REPLICAS];
    int failed;
} Burst;

/* Submits record(v) for its values, round-robin over the live replicas. */
static void *
burst_run(void *arg)
{
    Burst *b = arg;
    char body[96];
    Resp r;
    int turn = b->from;

    for (int v = b->from; v < b->to; v += b->step) {
        int k;
        do
            k = turn++ % b->c->n;
        while (!b->alive[k]);
        snprintf(body, sizeof(body), "{\"func\":\"record\",\"args\":[%d,%g]}", v, b->pause);
        if (req(&b->c->s[k], "POST", "/v1/apply_async", body, &r) != 0 || r.status != 202) {
            b->failed++;
        } else {
            snprintf(b->ids[v], sizeof(b->ids[v]), "%s", json_string_value(jpath(r.json, "id")));
            if (b->via)
                b->via[v] = k;
        }
        if (r.body)
            resp_free(&r);
    }
    return NULL;
}

/* Submits record(0..n-1) from four threads; 0 when all were accepted. */
static int
submit_many(Cluster *c, int n, double pause, char (*ids)[40])
{
    pthread_t th[4];
    Burst b[4];
    int failed = 0;

    for (int t = 0; t < 4; t++) {
        b[t] = (Burst){.c = c, .from = t, .to = n, .step = 4, .pause = pause, .ids = ids};
        for (int k = 0; k < c->n; k++)
            b[t].alive[k] = c->s[k].pid != 0;
        CHECK(pthread_create(&th[t], NULL, burst_run, &b[t]) == 0);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        failed += b[t].failed;
    }
    return failed;
}

/* Waits up to `seconds` until every job has succeeded on replica s: the
 * number that has not. */
static int
await_all(const Server *s, char (*ids)[40], int n, double seconds)
{
    int left = n, from = 0;
    char path[96];
    Resp r;

    /* Jobs end in about the order they came: each pass starts at the
     * first not yet done. */
    for (double end = now_seconds() + seconds; left && now_seconds() < end; sleep_seconds(0.05)) {
        left = 0;
        for (int v = from; v < n; v++) {
            snprintf(path, sizeof(path), "/v1/jobs/%s/result", ids[v]);
            if (req(s, "GET", path, NULL, &r) != 0 || r.status != 200) {
                if (!left)
                    from = v;
                left++;
            }
            resp_free(&r);
        }
    }
    return left;
}

TEST(test_cluster_1000_jobs_on_three_replicas_spread_and_read_anywhere_each_run_once)
{
    enum { N = 1000 };
    static char ids[N][40];
    static int runs[N];
    int by[MAX_REPLICAS] = {0}, twice = 0, never = 0, wrong = 0;
    Cluster c;
    char path[96];

    cluster_start(&c, 3, "2", NULL);
    /* 2 ms a job: the workers, not who takes fastest, set the pace. */
    CHECK_INT(submit_many(&c, N, 0.002, ids), 0);
    CHECK_INT(await_all(&c.s[0], ids, N, 60), 0);
    /* Every job, its status and result, through every replica. */
    for (int k = 0; k < 3; k++)
        for (int v = 0; v < N; v++) {
            json_t *j = job_get(&c.s[k], ids[v]);
            const char *replica = json_string_value(jpath(j, "replica"));
            if (!j || strcmp(json_string_value(jpath(j, "status")) ?: "", "succeeded") != 0 ||
                json_integer_value(jpath(j, "result")) != v || json_integer_value(jpath(j, "attempts")) != 1)
                wrong++;
            else if (k == 0 && replica && replica[0] == 'r' && replica[1] >= '0' && replica[1] <= '2')
                by[replica[1] - '0']++;
            json_decref(j);
        }
    snprintf(path, sizeof(path), "/v1/jobs?limit=1000");
    json_t *l = get_json(&c.s[2], path);
    CHECK_INT(json_array_size(json_object_get(l, "jobs")), N);
    json_decref(l);
    count_runs(&c, runs, N);
    for (int v = 0; v < N; v++)
        twice += runs[v] > 1, never += runs[v] == 0;
    fprintf(stderr, "    ran on r0 %d, r1 %d, r2 %d; run twice %d, never %d; wrong views %d\n", by[0], by[1],
            by[2], twice, never, wrong);
    CHECK_INT(wrong, 0);
    CHECK_INT(twice, 0); /* no replica died: exactly once */
    CHECK_INT(never, 0);
    for (int k = 0; k < 3; k++)
        CHECK(by[k] >= N / 10); /* the work went to all three */
    cluster_stop(&c);
}

TEST(test_cluster_a_replica_killed_mid_run_loses_no_job)
{
    enum { N = 1000 };
    static char ids[N][40];
    static int runs[N];
    static const char *const fast_claim[] = {"--claim-after", "1", NULL};
    int twice = 0, never = 0;
    Cluster c;

    cluster_start(&c, 3, "2", fast_claim);
    CHECK_INT(submit_many(&c, N, 0.02, ids), 0);
    /* 20 ms a job: a backlog of seconds. r1 dies with jobs in hand: its
     * workers run some, one more waits. */
    for (double end = now_seconds() + 10; pool_number(&c.s[1], "queue.running") < 1 && now_seconds() < end;)
        sleep_seconds(0.01);
    CHECK(pool_number(&c.s[1], "queue.running") >= 1);
    c.s[1].expect_exit = 0;
    server_kill(&c.s[1], SIGKILL);
    double killed = now_seconds();
    CHECK_INT(await_all(&c.s[0], ids, N, 60), 0);
    CHECK_INT(await_all(&c.s[2], ids, N, 10), 0);
    count_runs(&c, runs, N);
    for (int v = 0; v < N; v++)
        twice += runs[v] > 1, never += runs[v] == 0;
    fprintf(stderr, "    all %d done %.1f s after the kill; run twice: %d (r1's jobs in hand), never: %d\n", N,
            now_seconds() - killed, twice, never);
    CHECK_INT(never, 0);
    CHECK(twice <= 2 + 1 + 8); /* at most what r1 held: its workers' tasks, written ahead, prefetched */
    cluster_stop(&c);
}

TEST(test_cluster_a_job_longer_than_claim_after_on_a_live_replica_runs_once)
{
    static const char *const fast_claim[] = {"--claim-after", "1", NULL};
    int runs[1];
    Cluster c;
    char id[40], path[96];
    Resp r;

    cluster_start(&c, 2, "1", fast_claim);
    snprintf(id, sizeof(id), "%s", job_submit(&c.s[0], "/v1/apply_async", "{\"func\":\"record\",\"args\":[0,3.5]}"));
    snprintf(path, sizeof(path), "/v1/jobs/%s/result?timeout=20", id);
    CHECK_INT(req(&c.s[1], "GET", path, NULL, &r), 0);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    count_runs(&c, runs, 1);
    CHECK_INT(runs[0], 1);
    json_t *j = job_get(&c.s[0], id);
    CHECK_INT(json_integer_value(jpath(j, "attempts")), 1);
    json_decref(j);
    cluster_stop(&c);
}

TEST(test_cluster_a_replica_stopped_gives_back_its_jobs_at_once)
{
    static const char *const quick_stop[] = {"--shutdown-grace", "0.2", NULL};
    Cluster c;
    char id[40];
    int on = -1;

    cluster_start(&c, 2, "1", quick_stop); /* --claim-after stays 30 s */
    snprintf(id, sizeof(id), "%s", job_submit(&c.s[0], "/v1/apply_async", "{\"func\":\"record\",\"args\":[0,3]}"));
    for (double end = now_seconds() + 10; (on = running_on(&c, id)) < 0 && now_seconds() < end;)
        sleep_seconds(0.02);
    CHECK(on >= 0);
    double stopped = now_seconds();
    CHECK_INT(server_stop(&c.s[on]), 0); /* its grace cuts the task short */
    const Server *other = &c.s[1 - on];
    for (double end = now_seconds() + 15; strcmp(job_status(other, id), "succeeded") != 0 && now_seconds() < end;)
        sleep_seconds(0.05);
    CHECK_STR(job_status(other, id), "succeeded");
    json_t *j = job_get(other, id);
    fprintf(stderr, "    ran again on %s %.1f s after the stop, attempt %lld\n",
            json_string_value(jpath(j, "replica")), now_seconds() - stopped,
            (long long)json_integer_value(jpath(j, "attempts")));
    CHECK_INT(json_integer_value(jpath(j, "attempts")), 2);
    CHECK(now_seconds() - stopped < 10); /* not --claim-after's 30 s */
    json_decref(j);
    cluster_stop(&c);
}

TEST(test_cluster_long_poll_on_one_replica_wakes_within_100_ms_of_the_end_on_another)
{
    Cluster c;
    char id[40], path[96];
    Resp r;

    cluster_start(&c, 3, "1", NULL);
    for (int round = 0; round < 3; round++) {
        snprintf(id, sizeof(id), "%s",
                 job_submit(&c.s[round], "/v1/apply_async", "{\"func\":\"record\",\"args\":[0,0.5]}"));
        snprintf(path, sizeof(path), "/v1/jobs/%s/result?timeout=10", id);
        int poller = (round + 2) % 3;
        CHECK_INT(req(&c.s[poller], "GET", path, NULL, &r), 0);
        double woke = wall_now();
        CHECK_INT(r.status, 200);
        resp_free(&r);
        json_t *j = job_get(&c.s[poller], id);
        const char *fin = json_string_value(jpath(j, "finished_at"));
        struct tm tm = {0};
        double frac = 0;
        CHECK(fin && strptime(fin, "%Y-%m-%dT%H:%M:%S", &tm));
        sscanf(strchr(fin, '.'), "%lf", &frac);
        double lag = woke - ((double)timegm(&tm) + frac);
        fprintf(stderr, "    ran on %s, polled on r%d: woke %.1f ms after its end\n",
                json_string_value(jpath(j, "replica")), poller, lag * 1e3);
        CHECK(lag < 0.1);
        json_decref(j);
    }
    cluster_stop(&c);
}

TEST(test_cluster_a_cancel_on_one_replica_stops_the_task_on_another)
{
    Cluster c;
    char id[40], path[96];
    int on = -1;
    Resp r;

    cluster_start(&c, 3, "1", NULL);
    snprintf(id, sizeof(id), "%s", job_submit(&c.s[0], "/v1/apply_async", "{\"func\":\"record\",\"args\":[0,30]}"));
    for (double end = now_seconds() + 10; (on = running_on(&c, id)) < 0 && now_seconds() < end;)
        sleep_seconds(0.02);
    CHECK(on >= 0);
    json_t *j = job_get(&c.s[on], id);
    int pid = (int)json_integer_value(jpath(j, "worker.pid"));
    json_decref(j);
    snprintf(path, sizeof(path), "/v1/jobs/%s", id);
    CHECK_INT(req(&c.s[(on + 1) % 3], "DELETE", path, NULL, &r), 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(json_string_value(jpath(r.json, "status")), "cancelled");
    resp_free(&r);
    CHECK(await_worker_replaced(&c.s[on], pid, 5)); /* its task was killed there */
    for (int k = 0; k < 3; k++)
        CHECK_STR(job_status(&c.s[k], id), "cancelled");
    CHECK_INT(req(&c.s[(on + 2) % 3], "DELETE", path, NULL, &r), 0);
    CHECK_INT(r.status, 409);
    resp_free(&r);
    cluster_stop(&c);
}

TEST(test_cluster_an_idempotency_key_is_one_job_across_replicas)
{
    static const char *const key[] = {"Idempotency-Key: across-1", NULL};
    const char *body = "{\"func\":\"record\",\"args\":[0]}";
    Cluster c;
    Resp a, b, d;
    int runs[1];

    cluster_start(&c, 2, "1", NULL);
    CHECK_INT(req_h(&c.s[0], "POST", "/v1/apply_async", body, key, &a), 0);
    CHECK_INT(req_h(&c.s[1], "POST", "/v1/apply_async", body, key, &b), 0);
    CHECK_INT(a.status, 202);
    CHECK_INT(b.status, 202);
    CHECK_STR(json_string_value(jpath(a.json, "id")), json_string_value(jpath(b.json, "id")));
    CHECK_INT(req_h(&c.s[1], "POST", "/v1/apply_async", "{\"func\":\"record\",\"args\":[1]}", key, &d), 0);
    CHECK_INT(d.status, 422);
    CHECK_STR(json_string_value(jpath(d.json, "type")), "urn:poold:problem:idempotency-key-reused");
    char id[40];
    snprintf(id, sizeof(id), "%s", json_string_value(jpath(a.json, "id")));
    resp_free(&a);
    resp_free(&b);
    resp_free(&d);
    for (double end = now_seconds() + 10; strcmp(job_status(&c.s[1], id), "succeeded") != 0 && now_seconds() < end;)
        sleep_seconds(0.02);
    count_runs(&c, runs, 1);
    CHECK_INT(runs[0], 1);
    cluster_stop(&c);
}

/* started_at of a job, as seconds (its view's text compares in order). */
static void
started_at(const Server *s, const char *id, char *out, size_t len)
{
    json_t *j = job_get(s, id);

    snprintf(out, len, "%s", json_string_value(jpath(j, "started_at")) ?: "");
    json_decref(j);
}

/* Whether every job of ids[0..n) was taken by a replica. */
static int
all_taken(const Server *s, char (*ids)[40], int n)
{
    int taken = 0;

    for (int i = 0; i < n; i++) {
        json_t *j = job_get(s, ids[i]);
        taken += json_is_string(jpath(j, "replica"));
        json_decref(j);
    }
    return taken == n;
}

TEST(test_cluster_priorities_hold_across_replicas)
{
    static char busy[4][40], low[4][40];
    Cluster c;
    char high[40], t_high[40], t_low[40];
    int later = 0;

    cluster_start(&c, 2, "1", NULL);
    /* Each replica's one worker busy and one job prefetched: what comes
     * next waits in Redis's queue, for whichever frees first. */
    for (int i = 0; i < 4; i++)
        snprintf(busy[i], sizeof(busy[i]), "%s",
                 job_submit(&c.s[i % 2], "/v1/apply_async", "{\"func\":\"record\",\"args\":[0,2]}"));
    for (double end = now_seconds() + 10; !all_taken(&c.s[0], busy, 4) && now_seconds() < end;)
        sleep_seconds(0.02);
    CHECK(all_taken(&c.s[0], busy, 4));
    for (int i = 0; i < 4; i++)
        snprintf(low[i], sizeof(low[i]), "%s",
                 job_submit(&c.s[i % 2], "/v1/apply_async", "{\"func\":\"record\",\"args\":[1,0.1],\"priority\":-5}"));
    snprintf(high, sizeof(high), "%s",
             job_submit(&c.s[1], "/v1/apply_async", "{\"func\":\"record\",\"args\":[2,0.1],\"priority\":5}"));
    CHECK_INT(await_all(&c.s[0], low, 4, 20), 0);
    started_at(&c.s[0], high, t_high, sizeof(t_high));
    for (int i = 0; i < 4; i++) {
        started_at(&c.s[0], low[i], t_low, sizeof(t_low));
        later += strcmp(t_low, t_high) > 0;
    }
    CHECK_INT(later, 4); /* submitted last, on another replica than most, it ran first */
    cluster_stop(&c);
}

/* Waits up to `seconds` for replica s's /readyz to answer want. */
static int
await_ready(const Server *s, int want, double seconds)
{
    Resp r;
    int got = 0;

    for (double end = now_seconds() + seconds; got != want && now_seconds() < end; sleep_seconds(0.05)) {
        CHECK_INT(req(s, "GET", "/readyz", NULL, &r), 0);
        got = r.status;
        resp_free(&r);
    }
    return got == want;
}

/* Redis away for longer than --claim-after, with jobs running and queued:
 * every lease has lapsed by Redis's clock when it comes back, and still
 * no running job is taken from its live replica. */
TEST(test_cluster_redis_away_past_claim_after_loses_nothing_and_runs_nothing_twice)
{
    enum { N = 12 };
    static char ids[N][40];
    static const char *const fast_claim[] = {"--claim-after", "1", NULL};
    int runs[N], twice = 0;
    Cluster c;
    Resp r;
    char path[96];

    cluster_start(&c, 2, "1", fast_claim);
    CHECK_INT(submit_many(&c, N, 0.6, ids), 0);
    for (double end = now_seconds() + 10; pool_number(&c.s[0], "queue.running") < 1 && now_seconds() < end;)
        sleep_seconds(0.02);
    redis_kill(&c.redis, SIGKILL); /* appendfsync always: every 202 is on its disk */
    CHECK(await_ready(&c.s[0], 503, 10));
    snprintf(path, sizeof(path), "/v1/jobs/%s", ids[N - 1]);
    CHECK_INT(req(&c.s[1], "GET", path, NULL, &r), 0);
    CHECK_INT(r.status, 503);
    resp_free(&r);
    post(&c.s[1], "/v1/apply", "{\"func\":\"echo\",\"args\":[1]}", 200, &r); /* sync calls go on */
    resp_free(&r);
    sleep_seconds(2.5); /* past --claim-after: every lease lapses */
    redis_restart(&c.redis);
    CHECK(await_ready(&c.s[0], 200, 15));
    CHECK(await_ready(&c.s[1], 200, 15));
    CHECK_INT(await_all(&c.s[0], ids, N, 60), 0);
    CHECK_INT(await_all(&c.s[1], ids, N, 10), 0);
    count_runs(&c, runs, N);
    for (int v = 0; v < N; v++)
        twice += runs[v] > 1;
    CHECK_INT(twice, 0);
    cluster_stop(&c);
}

TEST(test_cluster_a_replica_stopped_with_a_backlog_fails_none_of_it)
{
    enum { N = 10 };
    static char ids[N][40];
    static const char *const quick_stop[] = {"--shutdown-grace", "0.2", NULL};
    Cluster c;

    cluster_start(&c, 2, "1", quick_stop);
    CHECK_INT(submit_many(&c, N, 0.3, ids), 0);
    CHECK_INT(server_stop(&c.s[0]), 0); /* with most of the backlog still queued */
    CHECK_INT(await_all(&c.s[1], ids, N, 30), 0);
    cluster_stop(&c);
}

TEST(test_cluster_a_cancel_right_after_the_submit_wins_on_every_replica)
{
    Cluster c;
    char id[40], path[96];
    int runs[1];
    Resp r;

    cluster_start(&c, 2, "1", NULL);
    for (int round = 0; round < 5; round++) {
        snprintf(id, sizeof(id), "%s",
                 job_submit(&c.s[round % 2], "/v1/apply_async", "{\"func\":\"record\",\"args\":[0,0.3]}"));
        snprintf(path, sizeof(path), "/v1/jobs/%s", id);
        CHECK_INT(req(&c.s[1 - round % 2], "DELETE", path, NULL, &r), 0);
        CHECK_INT(r.status, 200);
        resp_free(&r);
        sleep_seconds(0.5); /* what would have run has run */
        for (int k = 0; k < 2; k++)
            CHECK_STR(job_status(&c.s[k], id), "cancelled");
    }
    count_runs(&c, runs, 1);
    fprintf(stderr, "    5 jobs cancelled at once: %d began before their cancel reached them\n", runs[0]);
    cluster_stop(&c);
}

TEST(test_cluster_a_replica_silent_past_claim_after_gives_its_job_up_without_ending_it)
{
    static const char *const fast_claim[] = {"--claim-after", "1", NULL};
    Cluster c;
    char id[40];
    int on = -1;

    cluster_start(&c, 2, "1", fast_claim);
    snprintf(id, sizeof(id), "%s", job_submit(&c.s[0], "/v1/apply_async", "{\"func\":\"record\",\"args\":[0,3]}"));
    for (double end = now_seconds() + 10; (on = running_on(&c, id)) < 0 && now_seconds() < end;)
        sleep_seconds(0.02);
    CHECK(on >= 0);
    kill(c.s[on].pid, SIGSTOP); /* silent: no heartbeat */
    const Server *other = &c.s[1 - on];
    json_t *j = NULL;
    for (double end = now_seconds() + 10; now_seconds() < end; sleep_seconds(0.05)) {
        json_decref(j);
        j = job_get(other, id);
        if (json_integer_value(jpath(j, "attempts")) == 2 &&
            strcmp(json_string_value(jpath(j, "status")) ?: "", "running") == 0)
            break;
    }
    kill(c.s[on].pid, SIGCONT);
    CHECK_INT(json_integer_value(jpath(j, "attempts")), 2); /* taken back, running again there */
    CHECK_STR(json_string_value(jpath(j, "status")), "running");
    json_decref(j);
    /* The silent one learns it lost the job, stops its attempt, and ends
     * nothing itself: both show the end of the attempt that ran on. */
    for (double end = now_seconds() + 10; strcmp(job_status(&c.s[on], id), "succeeded") != 0 && now_seconds() < end;)
        sleep_seconds(0.05);
    CHECK_STR(job_status(&c.s[on], id), "succeeded");
    CHECK_STR(job_status(other, id), "succeeded");
    j = job_get(&c.s[on], id);
    CHECK_INT(json_integer_value(jpath(j, "attempts")), 2);
    json_decref(j);
    cluster_stop(&c);
}

/* Reads the event stream on fd until needle comes: 1, or 0 after
 * `seconds`. */
static int
stream_until(int fd, const char *needle, double seconds)
{
    static char seen[65536];
    static size_t len;
    struct pollfd p = {.fd = fd, .events = POLLIN};

    for (double end = now_seconds() + seconds; !memmem(seen, len, needle, strlen(needle)) && now_seconds() < end;) {
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = read(fd, seen + len, sizeof(seen) - 1 - len);
        if (n <= 0)
            return 0;
        len += (size_t)n;
    }
    return memmem(seen, len, needle, strlen(needle)) != NULL;
}

TEST(test_cluster_the_event_stream_of_one_replica_shows_jobs_run_on_another)
{
    Cluster c;
    char id[40], req_text[256];
    int fd, on = -1;

    cluster_start(&c, 2, "1", NULL);
    snprintf(id, sizeof(id), "%s", job_submit(&c.s[0], "/v1/apply_async", "{\"func\":\"record\",\"args\":[0,1]}"));
    for (double end = now_seconds() + 10; (on = running_on(&c, id)) < 0 && now_seconds() < end;)
        sleep_seconds(0.02);
    CHECK(on >= 0);
    fd = raw_connect(NULL, c.s[1 - on].port); /* the replica it does not run on */
    CHECK(fd >= 0);
    int n = snprintf(req_text, sizeof(req_text),
                     "GET /v1/events?job=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n", id);
    CHECK_INT(raw_send(fd, req_text, (size_t)n), 0);
    CHECK(stream_until(fd, "event: job.succeeded", 10));
    close(fd);
    cluster_stop(&c);
}

TEST(test_cluster_bad_replica_names_are_startup_errors)
{
    expect_startup_error("--store redis://127.0.0.1:6379 --replica ''", "invalid value");
    expect_startup_error("--store redis://127.0.0.1:6379 --replica 'a b'", "invalid value");
    expect_startup_error("--claim-after 0.1", "invalid value");
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
