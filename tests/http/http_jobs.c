/*
 * http_jobs.c: apply_async, map_async and starmap_async, and the jobs they
 * make: polling, long polls, cancellation, listing, idempotency, Prefer,
 * priorities and expiry, against a real poold.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "client.h"
#include "harness.h"

static Server srv; /* two workers */

/* POSTs body; checks the status; returns the job id (static buffer). */
static const char *
submit(const Server *s, const char *path, const char *body, long status, Resp *r)
{
    static char id[64];

    post(s, path, body, status, r);
    snprintf(id, sizeof(id), "%s", json_string_value(jpath(r->json, "id")) ?: "");
    return id;
}

/* Tasks all workers have run (tests here run one at a time). */
static long
tasks_done(const Server *s)
{
    json_t *p = get_json(s, "/v1/pool"), *w;
    size_t i;
    long n = 0;

    json_array_foreach(json_object_get(p, "workers"), i, w)
        n += (long)json_integer_value(json_object_get(w, "tasks_done"));
    json_decref(p);
    return n;
}

TEST(test_jobs_submit_answers_202_with_location_and_the_job)
{
    Resp r;
    const char *id = submit(&srv, "/v1/apply_async", "{\"func\":\"pow\",\"args\":[2,10]}", 202, &r);
    char loc[128];

    CHECK_INT(strlen(id), 32);
    CHECK_INT(strspn(id, "0123456789abcdef"), 32);
    snprintf(loc, sizeof(loc), "/v1/jobs/%s", id);
    CHECK_STR(resp_header(&r, "Location"), loc);
    CHECK_STR(json_string_value(jpath(r.json, "op")), "apply_async");
    CHECK_STR(json_string_value(jpath(r.json, "func")), "pow");
    CHECK(json_is_string(jpath(r.json, "created_at")));
    CHECK_INT(json_integer_value(jpath(r.json, "progress.total")), 1);
    resp_free(&r);
    /* Two submits never share an id. */
    char first[64];
    snprintf(first, sizeof(first), "%s", id);
    id = submit(&srv, "/v1/apply_async", "{\"func\":\"pow\",\"args\":[2,10]}", 202, &r);
    CHECK(strcmp(first, id) != 0);
    resp_free(&r);
}

TEST(test_jobs_long_poll_returns_at_job_end_not_at_the_timeout)
{
    Resp r;
    char path[128];
    const char *id = submit(&srv, "/v1/apply_async", "{\"func\":\"sleep\",\"args\":[0.5]}", 202, &r);
    double t0;

    snprintf(path, sizeof(path), "/v1/jobs/%s/result?timeout=20", id);
    resp_free(&r);
    t0 = now_seconds();
    CHECK(req(&srv, "GET", path, NULL, &r) == 0);
    CHECK(now_seconds() - t0 < 3);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "{\"result\":0.5}");
    resp_free(&r);
}

TEST(test_jobs_result_not_ready_in_time_is_202_with_retry_after)
{
    Resp r;
    char path[128];
    const char *id = submit(&srv, "/v1/apply_async", "{\"func\":\"sleep\",\"args\":[3]}", 202, &r);
    double t0;

    snprintf(path, sizeof(path), "/v1/jobs/%s/result?timeout=0.3", id);
    resp_free(&r);
    t0 = now_seconds();
    CHECK(req(&srv, "GET", path, NULL, &r) == 0);
    CHECK(now_seconds() - t0 >= 0.25 && now_seconds() - t0 < 2);
    CHECK_INT(r.status, 202);
    CHECK(resp_header(&r, "Retry-After") != NULL);
    CHECK_STR(json_string_value(jpath(r.json, "status")), "running");
    CHECK(json_is_false(jpath(r.json, "ready")));
    resp_free(&r);
}

TEST(test_jobs_failed_job_result_is_422_problem)
{
    Resp r;
    char path[128];
    const char *id = submit(&srv, "/v1/map_async", "{\"func\":\"fib\",\"iterable\":[1,-1]}", 202, &r);

    snprintf(path, sizeof(path), "/v1/jobs/%s/result?timeout=10", id);
    resp_free(&r);
    CHECK(req(&srv, "GET", path, NULL, &r) == 0);
    CHECK_INT(r.status, 422);
    CHECK_STR(resp_header(&r, "Content-Type"), "application/problem+json");
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "ValueError");
    CHECK_INT(json_integer_value(jpath(r.json, "index")), 1);
    resp_free(&r);
    json_t *j = job_get(&srv, id);
    CHECK_STR(json_string_value(jpath(j, "status")), "failed");
    CHECK(json_is_false(jpath(j, "successful")));
    CHECK_INT(json_integer_value(jpath(j, "error.status")), 422);
    json_decref(j);
}

TEST(test_jobs_unknown_job_is_404)
{
    Resp r;

    CHECK(req(&srv, "GET", "/v1/jobs/00000000000000000000000000000000", NULL, &r) == 0);
    CHECK_INT(r.status, 404);
    CHECK_STR(resp_header(&r, "Content-Type"), "application/problem+json");
    resp_free(&r);
    CHECK(req(&srv, "GET", "/v1/jobs/nope/result?timeout=1", NULL, &r) == 0);
    CHECK_INT(r.status, 404);
    resp_free(&r);
    CHECK(req(&srv, "DELETE", "/v1/jobs/nope", NULL, &r) == 0);
    CHECK_INT(r.status, 404);
    resp_free(&r);
}

TEST(test_jobs_cancel_a_queued_job_and_a_running_one)
{
    static const char *const args[] = {"--processes", "1", NULL};
    Server s;
    Resp r;
    char running[64], queued[64], path[128];

    server_start(&s, args);
    snprintf(running, sizeof(running), "%s",
             submit(&s, "/v1/apply_async", "{\"func\":\"sleep\",\"args\":[30]}", 202, &r));
    resp_free(&r);
    /* Eight tasks fill the worker's write-ahead; the ninth waits in the queue. */
    for (int i = 0; i < 7; i++) {
        submit(&s, "/v1/apply_async", "{\"func\":\"sleep\",\"args\":[0.01]}", 202, &r);
        resp_free(&r);
    }
    snprintf(queued, sizeof(queued), "%s",
             submit(&s, "/v1/apply_async", "{\"func\":\"echo\",\"args\":[\"never\"]}", 202, &r));
    resp_free(&r);
    for (double end = now_seconds() + 5; strcmp(job_status(&s, running), "running") != 0 && now_seconds() < end;)
        usleep(10000);
    CHECK_STR(job_status(&s, running), "running");

    snprintf(path, sizeof(path), "/v1/jobs/%s", queued);
    CHECK(req(&s, "DELETE", path, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(json_string_value(jpath(r.json, "status")), "cancelled");
    resp_free(&r);

    json_t *before = get_json(&s, "/v1/pool");
    int old_pid = (int)json_integer_value(jpath(before, "workers.0.pid"));
    json_decref(before);
    snprintf(path, sizeof(path), "/v1/jobs/%s", running);
    CHECK(req(&s, "DELETE", path, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(json_string_value(jpath(r.json, "status")), "cancelled");
    resp_free(&r);
    CHECK(req(&s, "DELETE", path, NULL, &r) == 0);
    CHECK_INT(r.status, 409); /* already ended */
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/jobs/%s/result", running);
    CHECK(req(&s, "GET", path, NULL, &r) == 0);
    CHECK_INT(r.status, 410);
    resp_free(&r);

    /* The running task's worker was killed and replaced: the pool is at
     * full strength, and the other jobs still ran. */
    int fresh = await_worker_replaced(&s, old_pid, 5);
    CHECK(fresh);
    CHECK_STR(job_status(&s, queued), "cancelled");
    CHECK(req(&s, "POST", "/v1/apply", "{\"func\":\"echo\",\"args\":[1]}", &r) == 0);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    server_stop(&s);
}

TEST(test_jobs_map_job_reports_progress_while_it_runs)
{
    static const char *const args[] = {"--processes", "1", NULL};
    Server s;
    Resp r;
    char id[64];
    long seen_mid = 0;

    server_start(&s, args);
    snprintf(id, sizeof(id), "%s",
             submit(&s, "/v1/map_async", "{\"func\":\"sleep\",\"chunksize\":1,\"iterable\":[0.3,0.3,0.3,0.3,0.3,0.3]}",
                    202, &r));
    resp_free(&r);
    for (double end = now_seconds() + 10; now_seconds() < end; usleep(50 * 1000)) {
        json_t *j = job_get(&s, id);
        long done = (long)json_integer_value(jpath(j, "progress.done"));
        CHECK_INT(json_integer_value(jpath(j, "progress.total")), 6);
        if (done > 0 && done < 6)
            seen_mid = done;
        int finished = strcmp(json_string_value(jpath(j, "status")), "succeeded") == 0;
        json_decref(j);
        if (finished)
            break;
    }
    CHECK(seen_mid > 0);
    json_t *j = job_get(&s, id);
    CHECK_INT(json_integer_value(jpath(j, "progress.done")), 6);
    CHECK_INT(json_array_size(jpath(j, "result")), 6);
    json_decref(j);
    server_stop(&s);
}

TEST(test_jobs_idempotency_key_returns_the_same_job)
{
    static const char *const same[] = {"Idempotency-Key: order-42", NULL};
    Resp a, b, c, r;
    const char *body = "{\"func\":\"echo\",\"args\":[\"once\"]}";
    long before = tasks_done(&srv);
    char path[160];

    CHECK(req_h(&srv, "POST", "/v1/apply_async", body, same, &a) == 0);
    CHECK(req_h(&srv, "POST", "/v1/apply_async", body, same, &b) == 0);
    snprintf(path, sizeof(path), "/v1/jobs/%s/result?timeout=10", json_string_value(jpath(a.json, "id")));
    CHECK(req(&srv, "GET", path, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    CHECK_INT(tasks_done(&srv) - before, 1); /* the replay ran nothing */
    CHECK_INT(a.status, 202);
    CHECK_INT(b.status, 202);
    CHECK_STR(json_string_value(jpath(a.json, "id")), json_string_value(jpath(b.json, "id")));
    CHECK(req_h(&srv, "POST", "/v1/apply_async", "{\"func\":\"echo\",\"args\":[\"twice\"]}", same, &c) == 0);
    CHECK_INT(c.status, 422);
    CHECK_STR(resp_header(&c, "Content-Type"), "application/problem+json");
    CHECK_STR(json_string_value(jpath(c.json, "type")), "urn:poold:problem:idempotency-key-reused");
    resp_free(&a);
    resp_free(&b);
    resp_free(&c);
}

TEST(test_jobs_prefer_wait_and_respond_async_on_sync_calls)
{
    static const char *const quick[] = {"Prefer: wait=5", NULL};
    static const char *const slow[] = {"Prefer: wait=0.2", NULL};
    static const char *const async[] = {"Prefer: respond-async", NULL};
    Resp r;

    CHECK(req_h(&srv, "POST", "/v1/map", "{\"func\":\"pow\",\"iterable\":[2]}", quick, &r) == 0);
    CHECK_INT(r.status, 422); /* pow needs two arguments: as the sync call says */
    resp_free(&r);
    CHECK(req_h(&srv, "POST", "/v1/map", "{\"func\":\"fib\",\"iterable\":[10,20]}", quick, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "{\"results\":[55,6765]}");
    resp_free(&r);
    CHECK(req_h(&srv, "POST", "/v1/apply", "{\"func\":\"sleep\",\"args\":[2]}", slow, &r) == 0);
    CHECK_INT(r.status, 202);
    CHECK_STR(resp_header(&r, "Preference-Applied"), "wait=0.2");
    CHECK(resp_header(&r, "Location") != NULL);
    CHECK_STR(json_string_value(jpath(r.json, "op")), "apply_async");
    resp_free(&r);
    CHECK(req_h(&srv, "POST", "/v1/apply", "{\"func\":\"echo\",\"args\":[1]}", async, &r) == 0);
    CHECK_INT(r.status, 202);
    CHECK_STR(resp_header(&r, "Preference-Applied"), "respond-async");
    resp_free(&r);
}

TEST(test_jobs_higher_priority_runs_first)
{
    static const char *const args[] = {"--processes", "1", NULL};
    Server s;
    Resp r;
    char low[64], high[64];

    server_start(&s, args);
    /* One running and seven written ahead; the rest wait in the queue. */
    for (int i = 0; i < 9; i++) {
        submit(&s, "/v1/apply_async", "{\"func\":\"sleep\",\"args\":[0.1]}", 202, &r);
        resp_free(&r);
    }
    snprintf(low, sizeof(low), "%s", submit(&s, "/v1/apply_async", "{\"func\":\"echo\",\"args\":[\"low\"]}", 202, &r));
    resp_free(&r);
    snprintf(high, sizeof(high), "%s",
             submit(&s, "/v1/apply_async", "{\"func\":\"echo\",\"args\":[\"high\"],\"priority\":10}", 202, &r));
    resp_free(&r);
    char path[128];
    snprintf(path, sizeof(path), "/v1/jobs/%s/result?timeout=10", low);
    CHECK(req(&s, "GET", path, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    json_t *jl = job_get(&s, low), *jh = job_get(&s, high);
    CHECK_STR(json_string_value(jpath(jh, "status")), "succeeded");
    CHECK(strcmp(json_string_value(jpath(jh, "finished_at")), json_string_value(jpath(jl, "finished_at"))) <= 0);
    CHECK(strcmp(json_string_value(jpath(jh, "started_at")), json_string_value(jpath(jl, "started_at"))) <= 0);
    json_decref(jl);
    json_decref(jh);
    CHECK(req(&s, "POST", "/v1/apply_async", "{\"func\":\"echo\",\"args\":[1],\"priority\":\"high\"}", &r) == 0);
    CHECK_INT(r.status, 400);
    resp_free(&r);
    server_stop(&s);
}

TEST(test_jobs_results_expire_after_the_ttl)
{
    static const char *const args[] = {"--processes", "1", "--result-ttl", "0.5", NULL};
    Server s;
    Resp r;
    char id[64], path[128];

    server_start(&s, args);
    snprintf(id, sizeof(id), "%s", submit(&s, "/v1/apply_async", "{\"func\":\"echo\",\"args\":[1]}", 202, &r));
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/jobs/%s/result?timeout=5", id);
    CHECK(req(&s, "GET", path, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    sleep_seconds(1.2);
    snprintf(path, sizeof(path), "/v1/jobs/%s", id);
    CHECK(req(&s, "GET", path, NULL, &r) == 0);
    CHECK_INT(r.status, 404);
    resp_free(&r);
    server_stop(&s);
}

TEST(test_jobs_past_max_jobs_is_503)
{
    static const char *const args[] = {"--processes", "1", "--max-jobs", "2", NULL};
    Server s;
    Resp r;

    server_start(&s, args);
    for (int i = 0; i < 2; i++) {
        submit(&s, "/v1/apply_async", "{\"func\":\"sleep\",\"args\":[0.1]}", 202, &r);
        resp_free(&r);
    }
    CHECK(req(&s, "POST", "/v1/apply_async", "{\"func\":\"echo\",\"args\":[1]}", &r) == 0);
    CHECK_INT(r.status, 503);
    CHECK_STR(resp_header(&r, "Retry-After"), "1");
    resp_free(&r);
    server_stop(&s);
}

TEST(test_jobs_list_newest_first_with_filter_and_cursor)
{
    static const char *const args[] = {"--processes", "1", NULL};
    Server s;
    Resp r;
    char ids[5][64], path[160];

    server_start(&s, args);
    for (int i = 0; i < 5; i++) {
        char body[64];
        snprintf(body, sizeof(body), "{\"func\":\"%s\",\"args\":[%d]}", i == 2 ? "fib" : "echo", i == 2 ? -1 : i);
        snprintf(ids[i], sizeof(ids[i]), "%s", submit(&s, "/v1/apply_async", body, 202, &r));
        resp_free(&r);
    }
    snprintf(path, sizeof(path), "/v1/jobs/%s/result?timeout=5", ids[4]);
    CHECK(req(&s, "GET", path, NULL, &r) == 0);
    resp_free(&r);
    json_t *p1 = get_json(&s, "/v1/jobs?limit=2");
    CHECK_INT(json_array_size(jpath(p1, "jobs")), 2);
    CHECK_STR(json_string_value(jpath(p1, "jobs.0.id")), ids[4]);
    CHECK_STR(json_string_value(jpath(p1, "jobs.1.id")), ids[3]);
    snprintf(path, sizeof(path), "/v1/jobs?limit=2&cursor=%s", json_string_value(jpath(p1, "next_cursor")));
    json_t *p2 = get_json(&s, path);
    CHECK_STR(json_string_value(jpath(p2, "jobs.0.id")), ids[2]);
    CHECK_STR(json_string_value(jpath(p2, "jobs.1.id")), ids[1]);
    snprintf(path, sizeof(path), "/v1/jobs?limit=2&cursor=%s", json_string_value(jpath(p2, "next_cursor")));
    json_t *p3 = get_json(&s, path);
    CHECK_INT(json_array_size(jpath(p3, "jobs")), 1);
    CHECK(json_is_null(jpath(p3, "next_cursor")));
    json_t *failed = get_json(&s, "/v1/jobs?status=failed");
    CHECK_INT(json_array_size(jpath(failed, "jobs")), 1);
    CHECK_STR(json_string_value(jpath(failed, "jobs.0.id")), ids[2]);
    json_decref(p1);
    json_decref(p2);
    json_decref(p3);
    json_decref(failed);
    CHECK(req(&s, "GET", "/v1/jobs?status=pending", NULL, &r) == 0);
    CHECK_INT(r.status, 400);
    resp_free(&r);
    CHECK(req(&s, "GET", "/v1/jobs?limit=0", NULL, &r) == 0);
    CHECK_INT(r.status, 400);
    resp_free(&r);
    server_stop(&s);
}

/* 200 long polls on one job, driven by one curl multi handle. */
typedef struct Polls {
    const Server *s;
    char path[160];
    int ok, done;
} Polls;

static size_t
polls_sink(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

static void *
polls_run(void *arg)
{
    Polls *ps = arg;
    CURLM *m = curl_multi_init();
    CURL *h[200];
    char url[256];
    int running = 0;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", ps->s->port, ps->path);
    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
    for (int i = 0; i < 200; i++) {
        h[i] = curl_easy_init();
        curl_easy_setopt(h[i], CURLOPT_URL, url);
        curl_easy_setopt(h[i], CURLOPT_WRITEFUNCTION, polls_sink);
        curl_easy_setopt(h[i], CURLOPT_TIMEOUT, 30L);
        curl_easy_setopt(h[i], CURLOPT_FORBID_REUSE, 1L);
        curl_multi_add_handle(m, h[i]);
    }
    do {
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 100, NULL);
    } while (running);
    for (int i = 0; i < 200; i++) {
        long code = 0;
        curl_easy_getinfo(h[i], CURLINFO_RESPONSE_CODE, &code);
        ps->ok += code == 200;
        curl_multi_remove_handle(m, h[i]);
        curl_easy_cleanup(h[i]);
    }
    curl_multi_cleanup(m);
    __atomic_store_n(&ps->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

TEST(test_jobs_200_long_polls_on_one_job_while_a_sync_call_is_quick)
{
    Polls ps = {.s = &srv};
    pthread_t t;
    Resp r;
    const char *id = submit(&srv, "/v1/apply_async", "{\"func\":\"sleep\",\"args\":[2]}", 202, &r);
    double t0;

    snprintf(ps.path, sizeof(ps.path), "/v1/jobs/%s/result?timeout=20", id);
    resp_free(&r);
    CHECK(pthread_create(&t, NULL, polls_run, &ps) == 0);
    usleep(500 * 1000); /* the polls are waiting, suspended */
    CHECK(!__atomic_load_n(&ps.done, __ATOMIC_ACQUIRE));
    t0 = now_seconds();
    CHECK(req(&srv, "POST", "/v1/apply", "{\"func\":\"echo\",\"args\":[1]}", &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK(now_seconds() - t0 < 0.5);
    resp_free(&r);
    pthread_join(t, NULL);
    CHECK_INT(ps.ok, 200);
    CHECK(now_seconds() - t0 < 10); /* at the job's end (2 s), not the 20 s deadline */
}

TEST(test_jobs_long_poll_whose_client_leaves_frees_its_connection)
{
    static const char *const args[] = {"--processes", "1", "--max-connections", "4", NULL};
    Server s;
    Resp r;
    char id[64], path[160];
    CURLM *m = curl_multi_init();
    CURL *h[6];
    int running = 0;

    server_start(&s, args);
    snprintf(id, sizeof(id), "%s", submit(&s, "/v1/apply_async", "{\"func\":\"sleep\",\"args\":[30]}", 202, &r));
    resp_free(&r);
    snprintf(path, sizeof(path), "http://127.0.0.1:%d/v1/jobs/%s/result?timeout=300", s.port, id);
    for (int i = 0; i < 6; i++) {
        h[i] = curl_easy_init();
        curl_easy_setopt(h[i], CURLOPT_URL, path);
        curl_easy_setopt(h[i], CURLOPT_WRITEFUNCTION, polls_sink);
        curl_easy_setopt(h[i], CURLOPT_TIMEOUT_MS, 500L); /* they give up */
        curl_multi_add_handle(m, h[i]);
    }
    do {
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 100, NULL);
    } while (running);
    for (int i = 0; i < 6; i++) {
        curl_multi_remove_handle(m, h[i]);
        curl_easy_cleanup(h[i]);
    }
    curl_multi_cleanup(m);
    /* Their connections were freed when they left, not at the 300 s
     * deadline: with a limit of 4, new connections are served again. */
    usleep(300 * 1000);
    char health[96];
    snprintf(health, sizeof(health), "http://127.0.0.1:%d/healthz", s.port);
    for (int i = 0; i < 6; i++) {
        CURL *c = curl_easy_init();
        long code = 0;
        curl_easy_setopt(c, CURLOPT_URL, health);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, polls_sink);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 2L);
        curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
        curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_cleanup(c);
        CHECK_INT(code, 200);
    }
    server_stop(&s);
}

TEST(test_jobs_idempotency_key_is_per_endpoint_and_starmap_async_runs)
{
    static const char *const key[] = {"Idempotency-Key: same-key-two-ops", NULL};
    const char *body = "{\"func\":\"pow\",\"iterable\":[[2,3],[3,2]]}";
    Resp a, b, r;
    char path[160];

    CHECK(req_h(&srv, "POST", "/v1/starmap_async", body, key, &a) == 0);
    CHECK_INT(a.status, 202);
    CHECK_STR(json_string_value(jpath(a.json, "op")), "starmap_async");
    CHECK(req_h(&srv, "POST", "/v1/map_async", body, key, &b) == 0);
    CHECK_INT(b.status, 422); /* the key names a starmap, not this map */
    snprintf(path, sizeof(path), "/v1/jobs/%s/result?timeout=10", json_string_value(jpath(a.json, "id")));
    CHECK(req(&srv, "GET", path, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "{\"result\":[8,9]}");
    resp_free(&r);
    resp_free(&a);
    resp_free(&b);
}

TEST(test_jobs_result_timeout_must_be_seconds)
{
    static const char *const bad[] = {"abc", "-1", "1e309", "0x10", "%201", "nan"};
    Resp r;
    char path[160];
    const char *id = submit(&srv, "/v1/apply_async", "{\"func\":\"echo\",\"args\":[1]}", 202, &r);

    resp_free(&r);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(path, sizeof(path), "/v1/jobs/%s/result?timeout=%s", id, bad[i]);
        CHECK(req(&srv, "GET", path, NULL, &r) == 0);
        if (r.status != 400)
            fprintf(stderr, "    timeout=%s -> %ld\n", bad[i], r.status);
        CHECK_INT(r.status, 400);
        resp_free(&r);
    }
}

TEST(test_jobs_list_entries_leave_results_out)
{
    Resp r;
    char path[160];
    const char *id = submit(&srv, "/v1/apply_async", "{\"func\":\"echo\",\"args\":[\"big\"]}", 202, &r);

    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/jobs/%s/result?timeout=10", id);
    CHECK(req(&srv, "GET", path, NULL, &r) == 0);
    resp_free(&r);
    json_t *l = get_json(&srv, "/v1/jobs?limit=1");
    CHECK_STR(json_string_value(jpath(l, "jobs.0.status")), "succeeded");
    CHECK(jpath(l, "jobs.0.result") == NULL);
    json_decref(l);
    json_t *j = job_get(&srv, id);
    CHECK_STR(json_string_value(jpath(j, "result")), "big"); /* the job itself has it */
    json_decref(j);
}

int
main(int argc, char **argv)
{
    static const char *const args[] = {"--processes", "2", NULL};
    int rc;

    server_start(&srv, args);
    rc = harness_run(argc, argv);
    server_stop(&srv);
    return rc;
}
