/*
 * http_timeouts.c: tasks that run too long, workers that die under them,
 * and the limits each worker runs within: timeouts (504), retries, and
 * --worker-memory-limit / --worker-cpu-limit. The misbehaving functions
 * come from the test plugin (tests/plugin/misbehave.c).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"

/* Starts poold with the test plugin, two workers, and more arguments. */
static void
start(Server *s, const char *a1, const char *a2)
{
    const char *args[] = {"--plugin", test_plugin(), "--processes", "2", a1, a2, NULL};

    server_start(s, args);
}

TEST(test_timeouts_apply_past_its_timeout_is_504_soon_after_the_deadline)
{
    Server s;
    Resp r;
    double t0, took;

    start(&s, NULL, NULL);
    t0 = now_seconds();
    post(&s, "/v1/apply", "{\"func\":\"sleep\",\"args\":[30],\"timeout\":0.5}", 504, &r);
    took = now_seconds() - t0;
    CHECK(took >= 0.5 && took < 1.5);
    CHECK_STR(resp_header(&r, "Content-Type"), "application/problem+json");
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "TimedOut");
    CHECK(strstr(json_string_value(jpath(r.json, "detail")), "timeout of 0.5 s") != NULL);
    resp_free(&r);
    CHECK(await_idle_workers(&s, 2, 5));
    post(&s, "/v1/apply", "{\"func\":\"echo\",\"args\":[7],\"timeout\":0.5}", 200, &r);
    CHECK_INT(json_integer_value(jpath(r.json, "result")), 7);
    resp_free(&r);
    server_stop(&s);
}

TEST(test_timeouts_task_that_ignores_sigterm_is_killed_and_504)
{
    Server s;
    Resp r;
    double t0, took;
    const char *pid;

    start(&s, NULL, NULL);
    t0 = now_seconds();
    post(&s, "/v1/apply", "{\"func\":\"hang\",\"timeout\":0.3}", 504, &r);
    took = now_seconds() - t0;
    /* SIGTERM at 0.3 s is ignored; SIGKILL follows a second later. */
    CHECK(took >= 1.3 && took < 2.5);
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "TimedOut");
    /* The worker that ran it ("… (pid P) was stopped") is gone. */
    pid = strstr(json_string_value(jpath(r.json, "detail")), "(pid ");
    CHECK(pid != NULL);
    CHECK(kill(atoi(pid + 5), 0) != 0);
    resp_free(&r);
    CHECK(await_idle_workers(&s, 2, 5));
    server_stop(&s);
}

TEST(test_timeouts_task_timeout_flag_sets_the_default)
{
    Server s;
    Resp r;

    start(&s, "--task-timeout", "0.3");
    post(&s, "/v1/apply", "{\"func\":\"sleep\",\"args\":[30]}", 504, &r);
    resp_free(&r);
    /* A call may ask for longer. */
    post(&s, "/v1/apply", "{\"func\":\"sleep\",\"args\":[0.5],\"timeout\":2}", 200, &r);
    resp_free(&r);
    server_stop(&s);
}

TEST(test_timeouts_max_task_timeout_caps_what_a_call_may_ask)
{
    Server s;
    Resp r;

    start(&s, "--max-task-timeout", "0.5");
    post(&s, "/v1/apply", "{\"func\":\"echo\",\"args\":[1],\"timeout\":5}", 400, &r);
    CHECK_STR(json_string_value(jpath(r.json, "field")), "timeout");
    resp_free(&r);
    post(&s, "/v1/apply", "{\"func\":\"echo\",\"args\":[1],\"timeout\":0.4}", 200, &r);
    resp_free(&r);
    /* No timeout asked and no --task-timeout: the cap applies. */
    post(&s, "/v1/apply", "{\"func\":\"sleep\",\"args\":[30]}", 504, &r);
    resp_free(&r);
    server_stop(&s);
}

TEST(test_timeouts_are_validated)
{
    static const char *const bad[] = {
        "{\"func\":\"echo\",\"timeout\":0}", "{\"func\":\"echo\",\"timeout\":-1}",
        "{\"func\":\"echo\",\"timeout\":\"1\"}", "{\"func\":\"echo\",\"retries\":-1}",
        "{\"func\":\"echo\",\"retries\":11}", "{\"func\":\"echo\",\"retries\":1.5}",
    };
    Server s;
    Resp r;

    start(&s, NULL, NULL);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        post(&s, "/v1/apply", bad[i], 400, &r);
        resp_free(&r);
    }
    server_stop(&s);
}

TEST(test_timeouts_in_a_map_follow_on_error)
{
    Server s;
    Resp r;

    start(&s, NULL, NULL);
    post(&s, "/v1/map", "{\"func\":\"sleep\",\"iterable\":[0.01,0.01,30,0.01],\"chunksize\":1,\"timeout\":0.5}",
         504, &r);
    CHECK_INT(json_integer_value(jpath(r.json, "index")), 2);
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "TimedOut");
    resp_free(&r);
    post(&s, "/v1/map",
         "{\"func\":\"sleep\",\"iterable\":[0.01,0.01,30,0.01],\"chunksize\":1,\"timeout\":0.5,"
         "\"on_error\":\"collect\"}", 200, &r);
    CHECK(json_real_value(jpath(r.json, "results.0")) == 0.01);
    CHECK(json_real_value(jpath(r.json, "results.3")) == 0.01);
    CHECK_STR(json_string_value(jpath(r.json, "results.2.error.type")), "TimedOut");
    CHECK_INT(json_integer_value(jpath(r.json, "results.2.error.status")), 504);
    resp_free(&r);
    server_stop(&s);
}

TEST(test_timeouts_are_per_item_and_count_from_their_start)
{
    const char *args[] = {"--plugin", test_plugin(), "--processes", "1", NULL};
    Server s;
    Resp r;

    server_start(&s, args);
    /* One worker: the second and third chunks wait 0.4 and 0.8 s in line,
     * which their 0.6 s timeout does not count. */
    post(&s, "/v1/map", "{\"func\":\"sleep\",\"iterable\":[0.4,0.4,0.4],\"chunksize\":1,\"timeout\":0.6}",
         200, &r);
    resp_free(&r);
    /* One chunk of three 0.4 s items: each item gets its 0.6 s. */
    post(&s, "/v1/map", "{\"func\":\"sleep\",\"iterable\":[0.4,0.4,0.4],\"chunksize\":3,\"timeout\":0.6}",
         200, &r);
    CHECK_INT(json_array_size(jpath(r.json, "results")), 3);
    resp_free(&r);
    server_stop(&s);
}

TEST(test_timeouts_async_job_past_its_timeout_is_timed_out)
{
    Server s;
    Resp r;
    char path[128];

    start(&s, NULL, NULL);
    post(&s, "/v1/apply_async", "{\"func\":\"hang\",\"timeout\":0.2}", 202, &r);
    snprintf(path, sizeof(path), "/v1/jobs/%s/result?timeout=10", json_string_value(jpath(r.json, "id")));
    resp_free(&r);
    CHECK(req(&s, "GET", path, NULL, &r) == 0);
    CHECK_INT(r.status, 504);
    resp_free(&r);
    *strchr(path, '?') = '\0';
    *strrchr(path, '/') = '\0';
    CHECK(req(&s, "GET", path, NULL, &r) == 0);
    CHECK_STR(json_string_value(jpath(r.json, "status")), "timed_out");
    CHECK(jpath(r.json, "successful") == json_false());
    resp_free(&r);
    server_stop(&s);
}

/* Kills the first busy worker it sees within 5 s; its pid, or 0. */
static int
kill_busy_worker(const Server *s)
{
    for (double end = now_seconds() + 5; now_seconds() < end; usleep(5 * 1000)) {
        int pid = worker_in_state(s, "busy");
        if (pid > 0 && pool_number(s, "queue.running") > 0) {
            kill(pid, SIGKILL);
            return pid;
        }
    }
    return 0;
}

TEST(test_timeouts_retries_run_a_lost_task_again_on_another_worker)
{
    Server s;
    BgCall c = {.path = "/v1/apply", .body = "{\"func\":\"sleep\",\"args\":[0.5],\"retries\":1}"};
    pthread_t t;

    start(&s, NULL, NULL);
    c.s = &s;
    CHECK(pthread_create(&t, NULL, bg_call_run, &c) == 0);
    CHECK(kill_busy_worker(&s) > 0);
    pthread_join(t, NULL);
    CHECK_INT(c.r.status, 200);
    CHECK(json_real_value(jpath(c.r.json, "result")) == 0.5);
    resp_free(&c.r);

    /* Without retries the same loss is a 502. */
    c.body = "{\"func\":\"sleep\",\"args\":[0.5]}";
    CHECK(pthread_create(&t, NULL, bg_call_run, &c) == 0);
    CHECK(kill_busy_worker(&s) > 0);
    pthread_join(t, NULL);
    CHECK_INT(c.r.status, 502);
    CHECK(strstr(json_string_value(jpath(c.r.json, "detail")), "signal 9") != NULL);
    resp_free(&c.r);
    server_stop(&s);
}

TEST(test_timeouts_retries_end_and_never_retry_a_function_error)
{
    Server s;
    Resp r;
    long before;

    start(&s, NULL, NULL);
    /* Three runs, three dead workers, then the loss is reported. */
    post(&s, "/v1/apply", "{\"func\":\"crash\",\"retries\":2}", 502, &r);
    CHECK(strstr(json_string_value(jpath(r.json, "detail")), "SIGSEGV") != NULL);
    resp_free(&r);
    CHECK(await_idle_workers(&s, 2, 5));
    {
        json_t *j = get_json(&s, "/v1/pool");
        int n1 = atoi(strrchr(json_string_value(jpath(j, "workers.0.name")), '-') + 1);
        int n2 = atoi(strrchr(json_string_value(jpath(j, "workers.1.name")), '-') + 1);
        CHECK_INT(n1 > n2 ? n1 : n2, 5); /* 2 first ones + 3 replacements */
        json_decref(j);
    }
    /* A function error is an answer, not a loss: it runs once. */
    before = pool_number(&s, "workers.0.tasks_done") + pool_number(&s, "workers.1.tasks_done");
    post(&s, "/v1/apply", "{\"func\":\"pow\",\"args\":[\"a\",2],\"retries\":3}", 422, &r);
    resp_free(&r);
    CHECK_INT(pool_number(&s, "workers.0.tasks_done") + pool_number(&s, "workers.1.tasks_done"),
              before + 1);
    server_stop(&s);
}

TEST(test_timeouts_each_way_a_worker_dies_is_a_502_that_says_how)
{
    static const char *const cases[][2] = {
        {"crash", "signal 11 (SIGSEGV)"}, {"abort", "signal 6 (SIGABRT)"}, {"exit", "exit status 3"},
    };
    Server s;
    Resp r;
    char body[64];

    start(&s, NULL, NULL);
    for (size_t i = 0; i < 3; i++) {
        snprintf(body, sizeof(body), "{\"func\":\"%s\"}", cases[i][0]);
        post(&s, "/v1/apply", body, 502, &r);
        CHECK_STR(json_string_value(jpath(r.json, "error.type")), "WorkerLost");
        if (!strstr(json_string_value(jpath(r.json, "detail")), cases[i][1]))
            fprintf(stderr, "    %s: %s\n", cases[i][0], json_string_value(jpath(r.json, "detail")));
        CHECK(strstr(json_string_value(jpath(r.json, "detail")), cases[i][1]) != NULL);
        resp_free(&r);
    }
    CHECK(await_idle_workers(&s, 2, 5));
    server_stop(&s);
}

TEST(test_timeouts_worker_memory_limit_makes_a_big_allocation_a_memory_error)
{
    Server s;
    Resp r;

    /* AddressSanitizer reserves terabytes of address space up front: under
     * it RLIMIT_AS cannot be tested. */
    if (getenv("POOLD_SANITIZED") && strcmp(getenv("POOLD_SANITIZED"), "1") == 0) {
        fprintf(stderr, "    skipped under the sanitizers\n");
        return;
    }
    start(&s, "--worker-memory-limit", "256M");
    post(&s, "/v1/apply", "{\"func\":\"alloc\",\"args\":[1024]}", 422, &r);
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "MemoryError");
    resp_free(&r);
    post(&s, "/v1/apply", "{\"func\":\"alloc\",\"args\":[16]}", 200, &r);
    resp_free(&r);
    server_stop(&s);

    start(&s, NULL, NULL); /* without the limit, the same allocation works */
    post(&s, "/v1/apply", "{\"func\":\"alloc\",\"args\":[1024]}", 200, &r);
    resp_free(&r);
    server_stop(&s);
}

TEST(test_timeouts_a_task_too_large_for_the_memory_limit_is_a_502_not_a_fork_storm)
{
    Server s;
    Resp r;
    static const char head[] = "{\"func\":\"echo\",\"args\":[\"";
    char *body;
    size_t n = 40u << 20;

    if (getenv("POOLD_SANITIZED") && strcmp(getenv("POOLD_SANITIZED"), "1") == 0) {
        fprintf(stderr, "    skipped under the sanitizers\n");
        return;
    }
    start(&s, "--worker-memory-limit", "64M");
    /* A 40 MiB argument: no worker can even read the task. */
    body = malloc(strlen(head) + n + 4);
    CHECK(body != NULL);
    memcpy(body, head, strlen(head));
    memset(body + strlen(head), 'x', n);
    strcpy(body + strlen(head) + n, "\"]}");
    post(&s, "/v1/apply", body, 502, &r);
    CHECK(strstr(json_string_value(jpath(r.json, "detail")), "ran out of memory") != NULL);
    resp_free(&r);
    /* Three workers tried, no more; the pool serves on. */
    CHECK(await_idle_workers(&s, 2, 5));
    {
        json_t *j = get_json(&s, "/v1/pool");
        int n1 = atoi(strrchr(json_string_value(jpath(j, "workers.0.name")), '-') + 1);
        int n2 = atoi(strrchr(json_string_value(jpath(j, "workers.1.name")), '-') + 1);
        CHECK((n1 > n2 ? n1 : n2) <= 5);
        json_decref(j);
    }
    /* Workers killed by tasks are no crash loop: three more such tasks (12
     * deaths in all) leave poold ready and serving. */
    for (int i = 0; i < 3; i++) {
        post(&s, "/v1/apply", body, 502, &r);
        resp_free(&r);
    }
    free(body);
    CHECK(req(&s, "GET", "/readyz", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    post(&s, "/v1/apply", "{\"func\":\"echo\",\"args\":[1]}", 200, &r);
    resp_free(&r);
    server_stop(&s);
}

TEST(test_timeouts_worker_cpu_limit_ends_a_spinning_task_and_is_per_task)
{
    const char *args[] = {"--plugin", test_plugin(), "--processes", "1", "--worker-cpu-limit", "1", NULL};
    Server s;
    Resp r;

    server_start(&s, args);
    /* Four 0.4 s tasks on one worker use 1.6 s of CPU in all: each has
     * its own second. */
    for (int i = 0; i < 4; i++) {
        post(&s, "/v1/apply", "{\"func\":\"spin\",\"args\":[0.4]}", 200, &r);
        resp_free(&r);
    }
    post(&s, "/v1/apply", "{\"func\":\"spin\",\"args\":[30]}", 502, &r);
    CHECK(strstr(json_string_value(jpath(r.json, "detail")), "SIGXCPU") != NULL);
    CHECK(strstr(json_string_value(jpath(r.json, "detail")), "--worker-cpu-limit") != NULL);
    resp_free(&r);
    server_stop(&s);
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
