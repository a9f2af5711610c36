/*
 * http_cluster.c: poold replicas sharing one Redis (issue 21): three real
 * poolds on one real redis-server, each job run by whichever has room and
 * read through any, each run once; a long job on a live replica is never
 * run twice; long polls, cancels, Idempotency-Keys, priorities and the
 * event stream across replicas. http_cluster_faults.c is what happens
 * when a replica or Redis fails.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "cluster.h"
#include "harness.h"
#include "rawhttp.h"
#include "recv.h"
#include "startup.h"

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
    int earlier = 0;

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
    /* Submitted last, on another replica than most, it started first: no
     * low one before it (one may start with it, on the other replica whose
     * worker freed at the same moment). */
    for (int i = 0; i < 4; i++) {
        started_at(&c.s[0], low[i], t_low, sizeof(t_low));
        earlier += strcmp(t_low, t_high) < 0;
        if (strcmp(t_low, t_high) < 0)
            fprintf(stderr, "    low %d started %s, before the high one %s\n", i, t_low, t_high);
    }
    CHECK_INT(earlier, 0);
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

TEST(test_cluster_any_replica_shows_and_redelivers_a_webhook_with_the_same_id)
{
    static const char *const hooks[] = {"--webhook-allow-host", "127.0.0.1", "--webhook-secret", RECV_SECRET,
                                         "--webhook-backoff", "0.1", NULL};
    Receiver rv = {0};
    Cluster c;
    char id[40], body[256], path[96];
    Resp r;

    recv_start(&rv);
    cluster_start(&c, 2, "1", hooks);
    snprintf(body, sizeof(body), "{\"func\":\"record\",\"args\":[0],\"callback\":\"%s\"}", recv_url(&rv, "/hook"));
    snprintf(id, sizeof(id), "%s", job_submit(&c.s[0], "/v1/apply_async", body));
    CHECK(recv_await(&rv, 1, 10));
    /* Both replicas show the delivery, whichever made it. */
    for (int k = 0; k < 2; k++) {
        json_t *cb = recv_await_callback(&c.s[k], id, 1);
        CHECK(cb && json_is_true(json_object_get(cb, "delivered")));
        json_decref(cb);
    }
    /* A redelivery asked of either goes out, with the same webhook-id. */
    snprintf(path, sizeof(path), "/v1/jobs/%s/callback", id);
    for (int k = 0; k < 2; k++) {
        CHECK_INT(req(&c.s[k], "POST", path, NULL, &r), 0);
        CHECK_INT(r.status, 202);
        resp_free(&r);
        CHECK(recv_await(&rv, 2 + k, 10));
    }
    pthread_mutex_lock(&rv.lock);
    CHECK_STR(rv.hits[1].id, rv.hits[0].id);
    CHECK_STR(rv.hits[2].id, rv.hits[0].id);
    pthread_mutex_unlock(&rv.lock);
    cluster_stop(&c);
    recv_stop(&rv);
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
