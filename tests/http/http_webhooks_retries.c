/*
 * http_webhooks_retries.c: a delivery that fails is retried, with one
 * webhook-id, until a 2xx or its attempts run out: a receiver that never
 * answers is timed out, Retry-After is honoured, a redirect is not
 * followed, a job stays while its delivery lives, a pending delivery is
 * made after a restart, and each failed attempt is logged (tests/lib/recv.c
 * is the receiver).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>
#include <sqlite3.h>

#include "client.h"
#include "harness.h"
#include "recv.h"

/* Waits up to 5 s until dir's store holds the job's delivery at n
 * attempts (the writer commits a moment after the state changes). */
static int
await_stored_attempts(const char *dir, const char *id, int n)
{
    char path[128];
    int got = -1;

    snprintf(path, sizeof(path), "%s/poold.db", dir);
    for (double end = now_seconds() + 5; got < n && now_seconds() < end; usleep(20 * 1000)) {
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
            sqlite3_prepare_v2(db, "SELECT json_extract(callback, '$.attempts') FROM jobs WHERE id = ?1", -1, &st,
                               NULL) == SQLITE_OK &&
            sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
            got = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    return got >= n;
}

TEST(test_webhooks_retries_keep_one_webhook_id_until_a_2xx)
{
    static const int statuses[] = {500, 500, 200, 0};
    Receiver rv = {.statuses = statuses};
    Server s;
    char body[256];
    const char *id;
    json_t *cb;

    recv_start(&rv);
    recv_server_start(&s, NULL);
    snprintf(body, sizeof(body), "{\"func\":\"echo\",\"args\":[7],\"callback\":\"%s\"}", recv_url(&rv, "/flaky"));
    id = job_submit(&s, "/v1/apply_async", body);
    CHECK((cb = recv_await_callback(&s, id, 3)) != NULL);
    CHECK(json_is_true(json_object_get(cb, "delivered")));
    CHECK_INT(json_integer_value(json_object_get(cb, "attempts")), 3);
    CHECK_INT(json_integer_value(json_object_get(cb, "last_status")), 200);
    json_decref(cb);
    CHECK_INT(recv_count(&rv), 3);
    CHECK_STR(rv.hits[1].id, rv.hits[0].id);
    CHECK_STR(rv.hits[2].id, rv.hits[0].id);
    CHECK_STR(rv.hits[2].body, rv.hits[0].body); /* the same message, signed anew */
    for (int i = 0; i < 3; i++)
        recv_check_signature(&rv.hits[i]);
    server_stop(&s);
    recv_stop(&rv);
}

/* The server log's line that holds every piece, or "" (static buffer). */
static const char *
log_line(const Server *s, const char *a, const char *b)
{
    static char line[4096];
    FILE *f;
    int found = 0;

    if (!server_log_has(s, a, 5) || !(f = fopen(s->log, "r")))
        return "";
    while (!found && fgets(line, sizeof(line), f))
        found = strstr(line, a) && strstr(line, b);
    fclose(f);
    return found ? line : "";
}

/* Each failed attempt leaves a line: the job, the attempt's number, the
 * receiver's status or the connection's error, and when the next comes. */
TEST(test_webhooks_each_failed_attempt_is_logged)
{
    static const int statuses[] = {500, 200, 0};
    static const char *const extra[] = {"--webhook-max-attempts", "2", NULL};
    Receiver rv = {.statuses = statuses}, closed = {0};
    Server s;
    char body[256], flaky[64], gone[64], url[128], want[512];
    json_t *cb;

    recv_start(&closed);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/gone", closed.port);
    recv_stop(&closed); /* its port, closed: every attempt fails to connect */
    recv_start(&rv);
    recv_server_start(&s, extra);
    snprintf(body, sizeof(body), "{\"func\":\"echo\",\"args\":[1],\"callback\":\"%s\"}", recv_url(&rv, "/flaky"));
    snprintf(flaky, sizeof(flaky), "%s", job_submit(&s, "/v1/apply_async", body));
    snprintf(body, sizeof(body), "{\"func\":\"echo\",\"args\":[2],\"callback\":\"%s\"}", url);
    snprintf(gone, sizeof(gone), "%s", job_submit(&s, "/v1/apply_async", body));
    CHECK((cb = recv_await_callback(&s, flaky, 2)) != NULL);
    CHECK(json_is_true(json_object_get(cb, "delivered")));
    json_decref(cb);
    CHECK((cb = recv_await_callback(&s, gone, 2)) != NULL);
    json_decref(cb);

    snprintf(want, sizeof(want),
             "job=%s webhook to %s: attempt=1 failed, status=500 (the receiver answered 500); next_attempt_at=20",
             flaky, recv_url(&rv, "/flaky"));
    CHECK(strstr(log_line(&s, want, "Z (in 0."), want) != NULL);
    snprintf(want, sizeof(want), "job=%s webhook to %s: attempt=2", flaky, recv_url(&rv, "/flaky"));
    CHECK(!server_log_has(&s, want, 0)); /* it was delivered */

    snprintf(want, sizeof(want), "job=%s webhook to %s: attempt=1 failed, ", gone, url);
    CHECK(strstr(log_line(&s, want, "onnect"), "; next_attempt_at=20") != NULL);
    /* The last attempt is the give-up's line, which says it all. */
    snprintf(want, sizeof(want), "job=%s webhook to %s not delivered after 2 attempts: ", gone, url);
    CHECK(strstr(log_line(&s, want, "onnect"), want) != NULL);
    server_stop(&s);
    recv_stop(&rv);
}

TEST(test_webhooks_a_receiver_that_never_answers_is_timed_out_and_retried)
{
    static const char *const extra[] = {"--webhook-timeout", "0.5", NULL};
    Receiver rv = {.delay = 3, .slow = 1};
    Server s;
    char body[256];
    const char *id;
    json_t *cb;
    double t0;

    recv_start(&rv);
    recv_server_start(&s, extra);
    snprintf(body, sizeof(body), "{\"func\":\"echo\",\"args\":[7],\"callback\":\"%s\"}", recv_url(&rv, "/slow"));
    t0 = now_seconds();
    id = job_submit(&s, "/v1/apply_async", body);
    CHECK((cb = recv_await_callback(&s, id, 2)) != NULL);
    CHECK(json_is_true(json_object_get(cb, "delivered")));
    CHECK_INT(json_integer_value(json_object_get(cb, "attempts")), 2);
    CHECK(now_seconds() - t0 < 2.5); /* the first attempt gave up at 0.5 s, not 3 */
    json_decref(cb);
    server_stop(&s);
    recv_stop(&rv);
}

TEST(test_webhooks_retry_after_is_honoured_and_redirects_are_not_followed)
{
    static const int busy[] = {503, 200, 0};
    static const int moved[] = {302, 0};
    static const char *const extra[] = {"--webhook-max-attempts", "2", NULL};
    Receiver rv = {.statuses = busy, .header = {"Retry-After", "1"}};
    Receiver mv = {.statuses = moved};
    Server s;
    char body[256], loc[128], id[64];
    json_t *cb;

    recv_start(&rv);
    recv_start(&mv);
    snprintf(loc, sizeof(loc), "http://127.0.0.1:%d/elsewhere", rv.port);
    mv.header[0] = "Location";
    mv.header[1] = loc;
    recv_server_start(&s, extra);
    snprintf(body, sizeof(body), "{\"func\":\"echo\",\"args\":[1],\"callback\":\"%s\"}", recv_url(&rv, "/busy"));
    snprintf(id, sizeof(id), "%s", job_submit(&s, "/v1/apply_async", body));
    CHECK((cb = recv_await_callback(&s, id, 2)) != NULL);
    CHECK(json_is_true(json_object_get(cb, "delivered")));
    json_decref(cb);
    /* --webhook-backoff is 0.1 s here: the wait is the receiver's 1 s. */
    CHECK(rv.hits[1].at - rv.hits[0].at >= 0.9);

    snprintf(body, sizeof(body), "{\"func\":\"echo\",\"args\":[1],\"callback\":\"%s\"}", recv_url(&mv, "/moved"));
    snprintf(id, sizeof(id), "%s", job_submit(&s, "/v1/apply_async", body));
    CHECK((cb = recv_await_callback(&s, id, 2)) != NULL);
    CHECK(!json_is_true(json_object_get(cb, "delivered")));
    CHECK_INT(json_integer_value(json_object_get(cb, "last_status")), 302);
    json_decref(cb);
    CHECK_INT(recv_count(&mv), 2);
    CHECK_INT(recv_count(&rv), 2); /* nothing went to the Location */
    server_stop(&s);
    recv_stop(&rv);
    recv_stop(&mv);
}

TEST(test_webhooks_a_job_stays_while_its_delivery_lives_even_with_no_ttl)
{
    static const char *const extra[] = {"--result-ttl", "0", "--webhook-backoff", "1", NULL};
    Receiver rv = {0};
    Server s;
    char body[256], id[64];
    double cpu0;
    json_t *j;

    recv_start(&rv);
    int port = rv.port;
    recv_stop(&rv); /* closed: every attempt fails, the delivery lives on */
    recv_server_start(&s, extra);
    snprintf(body, sizeof(body), "{\"func\":\"echo\",\"args\":[1],\"callback\":\"http://127.0.0.1:%d/x\"}", port);
    snprintf(id, sizeof(id), "%s", job_submit(&s, "/v1/apply_async", body));
    usleep(500 * 1000);
    cpu0 = cpu_seconds(s.pid);
    sleep_seconds(1.0);
    CHECK(cpu_seconds(s.pid) - cpu0 < 0.2); /* its clock does not spin over it */
    CHECK((j = job_get(&s, id)) != NULL);  /* kept, not expired */
    CHECK(json_integer_value(jpath(j, "callback.attempts")) >= 1);
    json_decref(j);
    server_stop(&s);
}

TEST(test_webhooks_a_pending_delivery_is_made_after_a_restart)
{
    char dir[64] = "/tmp/poold-test-hooks-XXXXXX", body[256], id[64], port[16];
    Receiver rv = {0};
    Server s;
    json_t *cb;

    CHECK(mkdtemp(dir) != NULL);
    recv_start(&rv);
    snprintf(port, sizeof(port), "%d", rv.port);
    recv_stop(&rv); /* its port, closed: the first attempt fails */
    const char *first[] = {"--data-dir", dir, "--webhook-backoff", "1", NULL};
    recv_server_start(&s, first);
    snprintf(body, sizeof(body), "{\"func\":\"echo\",\"args\":[5],\"callback\":\"http://127.0.0.1:%s/late\"}", port);
    snprintf(id, sizeof(id), "%s", job_submit(&s, "/v1/apply_async", body));
    CHECK((cb = recv_await_callback(&s, id, 1)) != NULL);
    CHECK(!json_is_true(json_object_get(cb, "delivered")));
    CHECK(json_is_string(json_object_get(cb, "next_attempt_at")));
    json_decref(cb);
    CHECK(await_stored_attempts(dir, id, 1)); /* on disk, then the crash */
    server_kill(&s, SIGKILL);

    /* The receiver comes back on the same port; so does poold. */
    Receiver again = {0};
    pthread_mutex_init(&again.lock, NULL);
    again.d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD,
                               (uint16_t)atoi(port), NULL, NULL, recv_access, &again, MHD_OPTION_NOTIFY_COMPLETED,
                               recv_done, &again, MHD_OPTION_END);
    CHECK(again.d != NULL);
    recv_server_start(&s, first);
    CHECK(recv_await(&again, 1, 10));
    CHECK_STR(again.hits[0].path, "/late");
    CHECK((cb = recv_await_callback(&s, id, 2)) != NULL);
    CHECK(json_is_true(json_object_get(cb, "delivered")));
    CHECK_INT(json_integer_value(json_object_get(cb, "attempts")), 2);
    json_decref(cb);
    server_stop(&s);
    recv_stop(&again);
    remove_tree(dir);
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
