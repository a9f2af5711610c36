/*
 * http_metrics.c: GET /metrics. The text passes Prometheus' own checker
 * (promtool check metrics), and each family moves with what it counts:
 * calls by function and outcome, task durations, requests by route and
 * status, worker restarts by cause, webhook attempts, the queue, the
 * workers and the jobs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"

/* The scrape's text (malloc'd), after checking its status and type. */
static char *
scrape(const Server *s)
{
    Resp r;
    char *text = NULL;

    if (req(s, "GET", "/metrics", NULL, &r) != 0)
        return NULL;
    CHECK_INT(r.status, 200);
    CHECK(strstr(resp_header(&r, "Content-Type") ?: "", "text/plain; version=0.0.4"));
    text = r.body ? strdup(r.body) : NULL;
    resp_free(&r);
    return text;
}

/* The value of the sample named exactly `series` (name{labels}), NAN when
 * there is none. */
static double
sample(const char *text, const char *series)
{
    size_t n = strlen(series);

    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
    return NAN;
}

static double
scrape_sample(const Server *s, const char *series)
{
    char *text = scrape(s);
    double v = text ? sample(text, series) : NAN;

    free(text);
    return v;
}

/* Waits up to `seconds` for a sample to reach want. */
static int
await_sample(const Server *s, const char *series, double want, double seconds)
{
    double until = now_seconds() + seconds;

    do {
        if (scrape_sample(s, series) == want)
            return 1;
        usleep(20000);
    } while (now_seconds() < until);
    return 0;
}

/* promtool's verdict on text: its exit status. */
static int
promtool_check(const char *text)
{
    FILE *p = popen("promtool check metrics >/dev/null 2>&1", "w");

    if (!p)
        return -1;
    fputs(text, p);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(test_metrics_the_scrape_passes_promtool_check_metrics)
{
    static const char *const args[] = {"--processes", "2", NULL};
    Server s;
    Resp r;
    char *text;

    CHECK(system("command -v promtool >/dev/null") == 0); /* script/bootstrap installs it */
    server_start(&s, args);
    /* Some of every family first: calls, failures, a 404, a job. */
    post(&s, "/v1/apply", "{\"func\":\"echo\",\"args\":[1]}", 200, &r);
    resp_free(&r);
    post(&s, "/v1/map", "{\"func\":\"fib\",\"iterable\":[1,200],\"on_error\":\"collect\"}", 200, &r);
    resp_free(&r);
    req(&s, "GET", "/v1/nowhere", NULL, &r);
    resp_free(&r);
    post(&s, "/v1/apply_async", "{\"func\":\"sleep\",\"args\":[0.01]}", 202, &r);
    resp_free(&r);
    text = scrape(&s);
    CHECK(text != NULL);
    CHECK_INT(promtool_check(text), 0);
    /* The families the operators' dashboards are built on are all there. */
    static const char *const families[] = {
        "poold_tasks_total", "poold_task_duration_seconds", "poold_http_requests_total",
        "poold_http_request_duration_seconds", "poold_worker_restarts_total", "poold_webhook_attempts_total",
        "poold_webhook_failures_total", "poold_queue_depth", "poold_workers", "poold_jobs", "poold_ready",
        "process_resident_memory_bytes"};
    for (size_t i = 0; text && i < sizeof(families) / sizeof(families[0]); i++) {
        char type[128];
        snprintf(type, sizeof(type), "# TYPE %s ", families[i]);
        if (!strstr(text, type))
            fprintf(stderr, "    no family %s\n", families[i]);
        CHECK(strstr(text, type) != NULL);
    }
    free(text);
    server_stop(&s);
}

TEST(test_metrics_calls_are_counted_by_function_and_outcome_with_their_durations)
{
    static const char *const args[] = {"--processes", "2", NULL};
    Server s;
    Resp r;
    char *text;

    server_start(&s, args);
    for (int i = 0; i < 3; i++) {
        post(&s, "/v1/apply", "{\"func\":\"echo\",\"args\":[1]}", 200, &r);
        resp_free(&r);
    }
    /* Two of four items raise (fib past 92), kept in place. */
    post(&s, "/v1/map", "{\"func\":\"fib\",\"iterable\":[1,200,3,300],\"on_error\":\"collect\"}", 200, &r);
    resp_free(&r);
    post(&s, "/v1/apply", "{\"func\":\"sleep\",\"args\":[5],\"timeout\":0.2}", 504, &r);
    resp_free(&r);
    text = scrape(&s);
    CHECK(text != NULL);
    CHECK(sample(text, "poold_tasks_total{func=\"echo\",status=\"succeeded\"}") == 3);
    CHECK(sample(text, "poold_tasks_total{func=\"fib\",status=\"succeeded\"}") == 2);
    CHECK(sample(text, "poold_tasks_total{func=\"fib\",status=\"failed\"}") == 2);
    CHECK(sample(text, "poold_tasks_total{func=\"sleep\",status=\"timed_out\"}") == 1);
    CHECK(sample(text, "poold_tasks_total{func=\"pow\",status=\"succeeded\"}") == 0); /* every function has its series */
    CHECK(sample(text, "poold_task_duration_seconds_count{func=\"echo\"}") == 3);
    /* The timed-out task was held past its 0.2 s, not 5 s. */
    double slept = sample(text, "poold_task_duration_seconds_sum{func=\"sleep\"}");
    CHECK(slept >= 0.2 && slept < 4);
    CHECK(sample(text, "poold_task_duration_seconds_bucket{func=\"sleep\",le=\"0.1\"}") == 0);
    CHECK(sample(text, "poold_task_duration_seconds_bucket{func=\"sleep\",le=\"+Inf\"}") == 1);
    /* Requests by route and status. */
    CHECK(sample(text, "poold_http_requests_total{method=\"POST\",route=\"/v1/apply\",status=\"200\"}") == 3);
    CHECK(sample(text, "poold_http_requests_total{method=\"POST\",route=\"/v1/apply\",status=\"504\"}") == 1);
    CHECK(sample(text, "poold_http_requests_total{method=\"POST\",route=\"/v1/map\",status=\"200\"}") == 1);
    CHECK(sample(text, "poold_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/apply\"}") == 4);
    /* The worker stopped for the timeout was replaced: counted as such. */
    CHECK(sample(text, "poold_worker_restarts_total{cause=\"timeout\"}") == 1);
    CHECK(sample(text, "poold_worker_restarts_total{cause=\"crash\"}") == 0);
    free(text);
    server_stop(&s);
}

TEST(test_metrics_a_killed_worker_and_a_retired_one_count_as_restarts_by_cause)
{
    const char *args[] = {"--plugin", test_plugin(), "--processes", "1", "--max-tasks-per-child", "2", NULL};
    Server s;
    Resp r;

    server_start(&s, args);
    post(&s, "/v1/apply", "{\"func\":\"crash\",\"args\":[]}", 502, &r);
    resp_free(&r);
    CHECK(await_sample(&s, "poold_worker_restarts_total{cause=\"crash\"}", 1, 5));
    CHECK(scrape_sample(&s, "poold_tasks_total{func=\"crash\",status=\"worker_lost\"}") == 1);
    for (int i = 0; i < 2; i++) {
        post(&s, "/v1/apply", "{\"func\":\"echo\",\"args\":[1]}", 200, &r);
        resp_free(&r);
    }
    CHECK(await_sample(&s, "poold_worker_restarts_total{cause=\"max_tasks\"}", 1, 5));
    server_stop(&s);
}

TEST(test_metrics_the_queue_the_workers_and_the_jobs_are_gauged_at_scrape_time)
{
    static const char *const args[] = {"--processes", "1", NULL};
    Server s;
    Resp r;
    char *text;

    server_start(&s, args);
    /* One runs and holds the only worker; the other four wait. */
    for (int i = 0; i < 5; i++) {
        post(&s, "/v1/apply_async", "{\"func\":\"sleep\",\"args\":[0.6]}", 202, &r);
        resp_free(&r);
    }
    CHECK(await_sample(&s, "poold_workers{state=\"busy\"}", 1, 5));
    text = scrape(&s);
    CHECK(text != NULL);
    CHECK(sample(text, "poold_workers{state=\"idle\"}") == 0);
    /* A job is running once a worker starts it, not when its task is
     * written ahead to one: one runs, four wait, wherever they sit. */
    CHECK(sample(text, "poold_jobs{status=\"running\"}") == 1);
    CHECK(sample(text, "poold_jobs{status=\"queued\"}") == 4);
    CHECK(sample(text, "poold_queue_depth") == 4);
    CHECK(sample(text, "poold_tasks_in_flight{state=\"sent\"}") <= 4);
    CHECK(sample(text, "poold_tasks_in_flight{state=\"running\"}") == 1);
    CHECK(sample(text, "poold_ready") == 1);
    free(text);
    CHECK(await_sample(&s, "poold_jobs{status=\"succeeded\"}", 5, 10));
    text = scrape(&s);
    CHECK(sample(text, "poold_jobs{status=\"queued\"}") == 0);
    CHECK(sample(text, "poold_queue_depth") == 0);
    CHECK(sample(text, "poold_workers{state=\"idle\"}") == 1);
    CHECK(sample(text, "poold_http_requests_total{method=\"POST\",route=\"/v1/apply_async\",status=\"202\"}") == 5);
    /* Each ran 0.6 s: the time a task waited in its worker's socket, ahead
     * of its turn, is not counted as running. */
    double ran = sample(text, "poold_task_duration_seconds_sum{func=\"sleep\"}");
    CHECK(ran >= 2.95 && ran < 3.5);
    CHECK(sample(text, "poold_task_duration_seconds_bucket{func=\"sleep\",le=\"0.5\"}") == 0);
    CHECK(sample(text, "poold_task_duration_seconds_bucket{func=\"sleep\",le=\"1\"}") == 5);
    free(text);
    server_stop(&s);
}

TEST(test_metrics_webhook_attempts_and_failures_are_counted)
{
    /* A name is judged where it leads, at delivery: localhost is refused
     * (nothing leaves poold), which is one failed attempt and a delivery
     * given up. */
    static const char *const args[] = {"--processes", "1", NULL};
    Server s;
    Resp r;
    char *text;

    char body[160];

    server_start(&s, args);
    /* Its own port listens: the connection is made, then judged. */
    snprintf(body, sizeof(body), "{\"func\":\"echo\",\"args\":[1],\"callback\":\"http://localhost:%d/hook\"}",
             s.port);
    post(&s, "/v1/apply_async", body, 202, &r);
    resp_free(&r);
    CHECK(await_sample(&s, "poold_webhook_attempts_total", 1, 5));
    text = scrape(&s);
    CHECK(text != NULL);
    CHECK(sample(text, "poold_webhook_failures_total{reason=\"refused\"}") == 1);
    CHECK(sample(text, "poold_webhook_deliveries_total{result=\"given_up\"}") == 1);
    CHECK(sample(text, "poold_webhook_deliveries_total{result=\"delivered\"}") == 0);
    free(text);
    server_stop(&s);
}

TEST(test_metrics_want_the_api_key_like_v1)
{
    static const char *const args[] = {"--api-key", "m3trics-key-1", "--processes", "1", NULL};
    const char *auth[] = {"Authorization: Bearer m3trics-key-1", NULL};
    Server s;
    Resp r;

    server_start(&s, args);
    CHECK_INT(req(&s, "GET", "/metrics", NULL, &r), 0);
    CHECK_INT(r.status, 401);
    CHECK(strstr(resp_header(&r, "WWW-Authenticate") ?: "", "Bearer"));
    resp_free(&r);
    CHECK_INT(req_h(&s, "GET", "/metrics", NULL, auth, &r), 0);
    CHECK_INT(r.status, 200);
    CHECK(r.body && strstr(r.body, "poold_http_requests_total{method=\"GET\",route=\"/metrics\",status=\"401\"} 1"));
    resp_free(&r);
    server_stop(&s);
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
