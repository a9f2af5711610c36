/*
 * http_redis.c: --store redis://: the job suites (http_jobs, http_webhooks)
 * run again with each poold on a redis-server of its own
 * (POOLD_TEST_STORE=redis, tests/lib/server.c), the URL's checks, the
 * start-up errors of a Redis that cannot be had or holds something else,
 * and the jobs a restart of poold or of Redis (AOF) must not lose.
 */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"
#include "redis.h"
#include "startup.h"

/* Runs the sibling test binary `suite` with every poold on Redis; its
 * exit status. */
static int
run_suite_on_redis(const char *suite)
{
    char self[PATH_MAX], cmd[PATH_MAX + 128];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash;

    CHECK(n > 0);
    self[n] = '\0';
    CHECK((slash = strrchr(self, '/')) != NULL);
    *slash = '\0';
    snprintf(cmd, sizeof(cmd), "POOLD_TEST_STORE=redis %s/%s", self, suite);
    fflush(NULL);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

TEST(test_redis_http_jobs_suite_passes_on_redis)
{
    CHECK_INT(run_suite_on_redis("http_jobs"), 0);
}

TEST(test_redis_http_webhooks_suite_passes_on_redis)
{
    CHECK_INT(run_suite_on_redis("http_webhooks"), 0);
}

TEST(test_redis_malformed_urls_are_startup_errors)
{
    expect_startup_error("--store redis://", "malformed Redis URL");
    expect_startup_error("--store redis://localhost", "malformed Redis URL");
    expect_startup_error("--store redis://localhost:0", "malformed Redis URL");
    expect_startup_error("--store redis://localhost:65536", "malformed Redis URL");
    expect_startup_error("--store redis://localhost:6379/x", "malformed Redis URL");
    expect_startup_error("--store redis://:6379", "malformed Redis URL");
    expect_startup_error("--store 'redis://[::1:6379'", "malformed Redis URL");
    expect_startup_error("--store rediss://localhost:6379", "rediss:// (TLS) is not supported");
    expect_startup_error("--store redis:localhost", "unknown store");
}

/* Answers 503 with detail containing want (a problem document). */
static void
expect_503(const Server *s, const char *method, const char *path, const char *body, const char *want)
{
    Resp r;

    CHECK_INT(req(s, method, path, body, &r), 0);
    CHECK_INT(r.status, 503);
    if (!strstr(json_string_value(jpath(r.json, "detail")) ?: "", want))
        fprintf(stderr, "    %s %s: %s\n", method, path, r.body);
    CHECK(strstr(json_string_value(jpath(r.json, "detail")) ?: "", want) != NULL);
    resp_free(&r);
}

TEST(test_redis_unreachable_at_start_serves_sync_calls_and_job_calls_503_until_it_comes)
{
    RedisServer r;
    Server s;
    Resp resp;
    const char *args[] = {"--processes", "1", "--store", r.url, NULL};

    redis_start(&r);
    redis_stop(&r); /* its port, free again: nothing answers there */
    server_start(&s, args);
    CHECK(await_ready(&s, 503, 5));
    post(&s, "/v1/apply", "{\"func\":\"echo\",\"args\":[1]}", 200, &resp);
    resp_free(&resp);
    expect_503(&s, "POST", "/v1/apply_async", "{\"func\":\"echo\",\"args\":[1]}", "cannot connect");
    expect_503(&s, "GET", "/v1/jobs", NULL, "cannot");
    expect_503(&s, "GET", "/v1/jobs/0123456789abcdef0123456789abcdef", NULL, "cannot");
    /* It comes: poold connects by itself, reads the jobs, serves them. */
    redis_restart(&r);
    CHECK(await_ready(&s, 200, 15));
    const char *id = job_submit(&s, "/v1/apply_async", "{\"func\":\"echo\",\"args\":[2]}");
    CHECK(id[0] != '\0');
    server_stop(&s);
    redis_free(&r);
}

TEST(test_redis_key_of_another_type_is_a_clear_503_never_a_crash)
{
    RedisServer r;
    Server s;
    const char *args[] = {"--processes", "1", "--store", r.url, NULL};

    redis_start(&r);
    freeReplyObject(redis_cmd(&r, "SET poold:jobs not-a-zset"));
    server_start(&s, args);
    CHECK(await_ready(&s, 503, 5));
    expect_503(&s, "GET", "/readyz", NULL, "poold:jobs holds a string, not a zset");
    expect_503(&s, "POST", "/v1/apply_async", "{\"func\":\"echo\",\"args\":[1]}", "poold:jobs holds a string");
    /* The other application's key gone, poold serves again by itself. */
    freeReplyObject(redis_cmd(&r, "DEL poold:jobs"));
    CHECK(await_ready(&s, 200, 15));
    server_stop(&s);
    redis_free(&r);
}

TEST(test_redis_rows_of_another_shape_are_skipped_at_start)
{
    RedisServer r;
    Server s;
    char store[80];
    const char *args[] = {"--processes", "1", "--store", store, NULL};

    redis_start(&r);
    snprintf(store, sizeof(store), "%s/2", r.url);
    redisReply *x = redis_cmd(&r, "EVAL %s 0", "redis.call('SELECT', 2);"
                                               "redis.call('ZADD', 'poold:jobs', 7, '7', 8, '8', 9, '9', 10, '10');"
                                               "redis.call('HSET', 'poold:job:7', 'id', 'x');"
                                               "redis.call('SET', 'poold:job:8', 'str');"
                                               /* whole rows whose contents poold never writes */
                                               "redis.call('HSET', 'poold:job:9', 'id', 'i9', 'op', 'apply_async',"
                                               "  'func', 'echo', 'status', 'succeeded', 'result', '[1,2');"
                                               "redis.call('HSET', 'poold:job:10', 'id', 'i10', 'op', 'apply_async',"
                                               "  'func', 'echo', 'status', 'queued', 'total', '3', 'done', '7');"
                                               "return 1");
    CHECK(x && x->type == REDIS_REPLY_INTEGER);
    freeReplyObject(x);
    server_start(&s, args);
    CHECK(server_log_has(&s, "poold:job:7 is not a job's row", 5));
    CHECK(server_log_has(&s, "poold:job:8 is not a job's row (WRONGTYPE", 5));
    CHECK(server_log_has(&s, "poold:job:9 is not a job's row", 5));
    CHECK(server_log_has(&s, "poold:job:10 is not a job's row", 5));
    json_t *l = get_json(&s, "/v1/jobs");
    CHECK_INT(json_array_size(json_object_get(l, "jobs")), 0);
    json_decref(l);
    /* And new jobs go on beside them. */
    const char *id = job_submit(&s, "/v1/apply_async", "{\"func\":\"echo\",\"args\":[1]}");
    CHECK(id[0] != '\0');
    server_stop(&s);
    redis_free(&r);
}

/* Waits up to `seconds` for the job to reach status. */
static int
await_status(const Server *s, const char *id, const char *status, double seconds)
{
    for (double end = now_seconds() + seconds; now_seconds() < end; sleep_seconds(0.02))
        if (strcmp(job_status(s, id), status) == 0)
            return 1;
    return 0;
}

TEST(test_redis_jobs_survive_a_kill_of_poold)
{
    RedisServer r;
    Server s;
    Resp resp;
    char done[64], slow[64];
    /* The same name again after the kill: what it held goes back to the
     * queue at its start, not --claim-after later. */
    const char *args[] = {"--processes", "1", "--store", r.url, "--replica", "r1", NULL};
    static const char *const key[] = {"Idempotency-Key: k-restart", NULL};

    redis_start(&r);
    server_start(&s, args);
    CHECK_INT(req_h(&s, "POST", "/v1/apply_async", "{\"func\":\"echo\",\"args\":[42]}", key, &resp), 0);
    CHECK_INT(resp.status, 202);
    snprintf(done, sizeof(done), "%s", json_string_value(jpath(resp.json, "id")));
    resp_free(&resp);
    CHECK(await_status(&s, done, "succeeded", 5));
    snprintf(slow, sizeof(slow), "%s", job_submit(&s, "/v1/apply_async", "{\"func\":\"sleep\",\"args\":[0.3]}"));
    CHECK(await_status(&s, slow, "running", 5));
    s.expect_exit = 0;
    server_kill(&s, SIGKILL);

    server_start(&s, args);
    CHECK_STR(job_status(&s, done), "succeeded");
    json_t *j = job_get(&s, done);
    CHECK_INT(json_integer_value(jpath(j, "result")), 42);
    json_decref(j);
    CHECK(await_status(&s, slow, "succeeded", 5)); /* run again: at least once */
    /* The key still names the job: the same one, not a new one. */
    CHECK_INT(req_h(&s, "POST", "/v1/apply_async", "{\"func\":\"echo\",\"args\":[42]}", key, &resp), 0);
    CHECK_INT(resp.status, 202);
    CHECK_STR(json_string_value(jpath(resp.json, "id")), done);
    CHECK_STR(json_string_value(jpath(resp.json, "status")), "succeeded");
    resp_free(&resp);
    server_stop(&s);
    redis_free(&r);
}

/* Two poolds on one database are two replicas of one: each numbers its
 * jobs from Redis's counter, so neither writes over the other's, and a new
 * start reads both back. */
TEST(test_redis_two_poolds_on_one_database_share_it)
{
    RedisServer r;
    Server a, b;
    char id[64], other[64];
    const char *args[] = {"--processes", "1", "--store", r.url, NULL};

    redis_start(&r);
    server_start(&a, args);
    server_start(&b, args);
    snprintf(id, sizeof(id), "%s", job_submit(&a, "/v1/apply_async", "{\"func\":\"echo\",\"args\":[7]}"));
    snprintf(other, sizeof(other), "%s", job_submit(&b, "/v1/apply_async", "{\"func\":\"echo\",\"args\":[8]}"));
    CHECK(await_status(&b, id, "succeeded", 5));
    CHECK(await_status(&a, other, "succeeded", 5));
    server_stop(&b);
    server_stop(&a);
    server_start(&a, args);
    json_t *j = job_get(&a, id), *k = job_get(&a, other);
    if (!j || !k)
        fprintf(stderr, "    first %s, second %s\n", j ? "kept" : "lost", k ? "kept" : "lost");
    CHECK(j != NULL && k != NULL);
    CHECK_INT(json_integer_value(jpath(j, "result")), 7);
    CHECK_INT(json_integer_value(jpath(k, "result")), 8);
    json_decref(j);
    json_decref(k);
    server_stop(&a);
    redis_free(&r);
}

TEST(test_redis_down_refuses_jobs_503_and_a_restart_with_aof_loses_nothing)
{
    RedisServer r;
    Server s;
    Resp resp;
    char id[64];
    const char *args[] = {"--processes", "1", "--store", r.url, NULL};

    redis_start(&r);
    server_start(&s, args);
    snprintf(id, sizeof(id), "%s", job_submit(&s, "/v1/apply_async", "{\"func\":\"echo\",\"args\":[7]}"));
    CHECK(await_status(&s, id, "succeeded", 5));
    redis_kill(&r, SIGKILL); /* appendfsync always: what it answered is on disk */

    post(&s, "/v1/apply_async", "{\"func\":\"echo\",\"args\":[8]}", 503, &resp);
    resp_free(&resp);
    CHECK_INT(req(&s, "GET", "/readyz", NULL, &resp), 0);
    CHECK_INT(resp.status, 503);
    resp_free(&resp);
    post(&s, "/v1/apply", "{\"func\":\"echo\",\"args\":[9]}", 200, &resp); /* sync calls go on */
    resp_free(&resp);

    redis_restart(&r);
    int ready = 0;
    for (double end = now_seconds() + 10; !ready && now_seconds() < end; sleep_seconds(0.1)) {
        CHECK_INT(req(&s, "GET", "/readyz", NULL, &resp), 0);
        ready = resp.status == 200;
        resp_free(&resp);
    }
    CHECK(ready);
    const char *again = job_submit(&s, "/v1/apply_async", "{\"func\":\"echo\",\"args\":[10]}");
    CHECK(again[0] != '\0');
    server_stop(&s);

    server_start(&s, args); /* what the first Redis had, its AOF gave back */
    json_t *j = job_get(&s, id);
    CHECK_INT(json_integer_value(jpath(j, "result")), 7);
    json_decref(j);
    server_stop(&s);
    redis_free(&r);
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
