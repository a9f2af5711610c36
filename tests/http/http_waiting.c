/*
 * http_waiting.c: work that waits is waiting wherever it sits. The
 * dispatcher writes tasks ahead to a busy worker (a burst then costs one
 * wake-up); those tasks still count against --max-queue, a task of a
 * higher priority still overtakes them, and a job written ahead is queued,
 * not running, until a worker starts it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "harness.h"

#define NSLOW 6

/* Submits n sleep jobs of `seconds` each, ids into ids[] (each strdup'd). */
static void
submit_sleeps(const Server *s, char **ids, int n, double seconds)
{
    char body[96];

    snprintf(body, sizeof(body), "{\"func\":\"sleep\",\"args\":[%g]}", seconds);
    for (int i = 0; i < n; i++)
        CHECK((ids[i] = strdup(job_submit(s, "/v1/apply_async", body))) != NULL);
}

static void
free_ids(char **ids, int n)
{
    for (int i = 0; i < n; i++)
        free(ids[i]);
}

/* How many of ids have status `status`. */
static int
count_status(const Server *s, char **ids, int n, const char *status)
{
    int c = 0;

    for (int i = 0; i < n; i++)
        c += strcmp(job_status(s, ids[i]), status) == 0;
    return c;
}

TEST(test_waiting_max_queue_counts_the_tasks_written_ahead)
{
    static const char *const args[] = {"--processes", "2", "--max-queue", "10", NULL};
    int accepted = 0;
    Server s;
    Resp r;

    server_start(&s, args);
    /* Two running, then ten waiting (however many were written ahead to
     * the two workers), then 503: not ten plus seven a worker. */
    for (; accepted < 40; accepted++) {
        CHECK(req(&s, "POST", "/v1/apply_async", "{\"func\":\"sleep\",\"args\":[3]}", &r) == 0);
        long status = r.status;
        resp_free(&r);
        if (status == 503)
            break;
        CHECK_INT(status, 202);
        if (accepted == 1)
            CHECK(await_pool_number(&s, "queue.running", 2, 5));
    }
    CHECK_INT(accepted, 12);
    CHECK_INT(pool_number(&s, "queue.queued"), 10);
    CHECK_INT(pool_number(&s, "queue.running"), 2);
    server_kill(&s, SIGKILL);
}

TEST(test_waiting_a_higher_priority_overtakes_tasks_written_ahead)
{
    static const char *const args[] = {"--processes", "1", NULL};
    char *slow[NSLOW];
    Server s;
    Resp r;

    server_start(&s, args);
    submit_sleeps(&s, slow, NSLOW, 0.5);
    CHECK(await_pool_number(&s, "queue.running", 1, 5));
    /* The others are written ahead to the one worker by now. */
    CHECK(await_pool_number(&s, "queue.sent", NSLOW - 1, 5));
    const char *id = job_submit(&s, "/v1/apply_async", "{\"func\":\"echo\",\"args\":[7],\"priority\":100}");
    char path[128];
    snprintf(path, sizeof(path), "/v1/jobs/%s/result?timeout=10", id);
    CHECK(req(&s, "GET", path, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    /* It ran after the task running when it came (and perhaps the next,
     * started meanwhile), not after all six. */
    CHECK(count_status(&s, slow, NSLOW, "succeeded") <= 2);
    CHECK(count_status(&s, slow, NSLOW, "queued") >= NSLOW - 3);
    free_ids(slow, NSLOW);
    server_kill(&s, SIGKILL);
}

TEST(test_waiting_a_job_written_ahead_is_queued_until_it_starts)
{
    static const char *const args[] = {"--processes", "1", NULL};
    char *ids[4];
    Server s;

    server_start(&s, args);
    submit_sleeps(&s, ids, 4, 1);
    CHECK(await_pool_number(&s, "queue.running", 1, 5));
    CHECK(await_pool_number(&s, "queue.sent", 3, 5));
    CHECK_INT(count_status(&s, ids, 4, "running"), 1);
    CHECK_INT(count_status(&s, ids, 4, "queued"), 3);
    json_t *running = get_json(&s, "/v1/jobs?status=running");
    CHECK(running != NULL);
    CHECK_INT(json_array_size(json_object_get(running, "jobs")), 1);
    json_decref(running);
    json_t *second = job_get(&s, ids[1]);
    CHECK(second != NULL);
    CHECK(json_is_null(json_object_get(second, "started_at")) || !json_object_get(second, "started_at"));
    json_decref(second);
    /* Once the first ends, the second starts: running now, with a start
     * no earlier than the first's end. */
    char path[128];
    Resp r;
    snprintf(path, sizeof(path), "/v1/jobs/%s/result?timeout=10", ids[0]);
    CHECK(req(&s, "GET", path, NULL, &r) == 0);
    resp_free(&r);
    for (int i = 0; i < 50 && strcmp(job_status(&s, ids[1]), "running") != 0; i++)
        sleep_seconds(0.02);
    json_t *first = job_get(&s, ids[0]);
    second = job_get(&s, ids[1]);
    CHECK(first && second);
    CHECK_STR(json_string_value(json_object_get(second, "status")), "running");
    CHECK(strcmp(json_string_value(json_object_get(second, "started_at")),
                 json_string_value(json_object_get(first, "finished_at"))) >= 0);
    json_decref(first);
    json_decref(second);
    free_ids(ids, 4);
    server_kill(&s, SIGKILL);
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
