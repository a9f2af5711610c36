/*
 * http_logs.c: --log-format json writes one JSON object a line, with ts,
 * level, msg and the message's key=value words as fields; the text log
 * lets no client write a line or an escape sequence of its own; a job's
 * line says what became of it, at a stop too.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"
#include "rawhttp.h"

TEST(test_logs_in_json_are_one_object_a_line_with_fields)
{
    static const char *const args[] = {"--log-format", "json", "--log-level", "debug", "--processes", "1", NULL};
    char line[4096];
    int lines = 0, with_status = 0, with_worker = 0;
    Server s;
    Resp r;
    FILE *f;

    server_start(&s, args);
    post(&s, "/v1/apply", "{\"func\":\"echo\",\"args\":[1]}", 200, &r);
    resp_free(&r);
    usleep(100 * 1000);
    CHECK((f = fopen(s.log, "r")) != NULL);
    while (fgets(line, sizeof(line), f)) {
        json_t *o = json_loads(line, 0, NULL);
        if (!o)
            harness_fail(__FILE__, __LINE__, "not JSON: %s", line);
        CHECK(json_is_string(json_object_get(o, "ts")));
        CHECK(json_is_string(json_object_get(o, "level")));
        CHECK(json_is_string(json_object_get(o, "msg")));
        if (json_integer_value(json_object_get(o, "status")) == 200 && json_object_get(o, "duration_ms"))
            with_status++;
        if (strncmp(json_string_value(json_object_get(o, "worker")) ?: "", "ForkPoolWorker-", 15) == 0 &&
            json_is_integer(json_object_get(o, "pid")))
            with_worker++;
        json_decref(o);
        lines++;
    }
    fclose(f);
    CHECK(lines >= 3);
    CHECK(with_status >= 1); /* the request's line: status=200 duration_ms=… */
    CHECK(with_worker >= 1); /* a worker's ready line: worker=… pid=… */
    server_stop(&s);
}

/* What operators search their logs by: a timed-out task names its worker
 * and pid as fields, and a failed job its id, status and duration, at
 * the default level. */
TEST(test_logs_in_json_name_the_job_and_the_worker_at_info)
{
    static const char *const args[] = {"--log-format", "json", "--processes", "1", NULL};
    char line[4096], id[64];
    int timeout_line = 0, job_line = 0;
    Server s;
    Resp r;
    FILE *f;

    server_start(&s, args);
    post(&s, "/v1/apply_async", "{\"func\":\"sleep\",\"args\":[5],\"timeout\":0.2}", 202, &r);
    snprintf(id, sizeof(id), "%s", json_string_value(jpath(r.json, "id")));
    resp_free(&r);
    for (double end = now_seconds() + 5; strcmp(job_status(&s, id), "timed_out") != 0 && now_seconds() < end;)
        usleep(50 * 1000);
    CHECK_STR(job_status(&s, id), "timed_out");
    usleep(100 * 1000);
    CHECK((f = fopen(s.log, "r")) != NULL);
    while (fgets(line, sizeof(line), f)) {
        json_t *o = json_loads(line, 0, NULL);
        CHECK(o != NULL);
        const char *msg = json_string_value(json_object_get(o, "msg")) ?: "";
        if (strstr(msg, "past its timeout") && json_is_integer(json_object_get(o, "pid")) &&
            strncmp(json_string_value(json_object_get(o, "worker")) ?: "", "ForkPoolWorker-", 15) == 0)
            timeout_line++;
        if (strcmp(json_string_value(json_object_get(o, "job")) ?: "", id) == 0 &&
            strcmp(json_string_value(json_object_get(o, "status")) ?: "", "timed_out") == 0 &&
            json_is_number(json_object_get(o, "duration_ms")) &&
            strcmp(json_string_value(json_object_get(o, "level")) ?: "", "info") == 0)
            job_line++;
        json_decref(o);
    }
    fclose(f);
    CHECK_INT(timeout_line, 1);
    CHECK_INT(job_line, 1);
    server_stop(&s);
}

/* The whole of a log file, NUL-terminated (malloc'd). */
static char *
log_text(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = calloc(1, 1 << 20);
    size_t n = 0;

    CHECK(f != NULL && text != NULL);
    if (f && text)
        n = fread(text, 1, (1 << 20) - 1, f);
    text[n] = '\0';
    if (f)
        fclose(f);
    return text;
}

/* A request's path is the client's: in the text log, a %0a in it must not
 * start a line that looks like poold's, and an escape sequence must not
 * reach the terminal; both are written escaped, as the JSON log does. */
TEST(test_logs_in_text_escape_what_a_client_wrote)
{
    static const char *const args[] = {"--log-level", "debug", "--processes", "1", NULL};
    Server s;
    RawAnswer a;
    char *text;

    server_start(&s, args);
    raw_exchange(s.port, LIT("GET /v1/x%0a2026-01-01T00:00:00.000Z%20error%20forged%0d%1b%5b2J%c3%a9%5c HTTP/1.1\r\n"
                             "Host: x\r\n\r\n"), 5, &a);
    CHECK_INT(a.status, 404);
    raw_free(&a);
    CHECK(server_log_has(&s, "status=404", 5));
    text = log_text(s.log);
    CHECK(strstr(text, "\n2026-01-01T00:00:00.000Z error forged") == NULL);
    CHECK(strchr(text, '\x1b') == NULL && strchr(text, '\r') == NULL);
    CHECK(strstr(text, "GET /v1/x\\n2026-01-01T00:00:00.000Z error forged\\r\\x1b[2J\\xc3\\xa9\\\\ status=404") != NULL);
    free(text);
    server_stop(&s);
}

/* At a stop, a job cut short stays on disk for the next start to run:
 * its line says so, and not that it failed. */
TEST(test_logs_a_stop_says_which_jobs_stay_for_the_next_start)
{
    static const char *const args[] = {"--processes", "1", "--shutdown-grace", "0.2", NULL};
    char ids[2][64], line[160];
    Server s;
    int st;

    server_start(&s, args);
    for (int i = 0; i < 2; i++)
        snprintf(ids[i], sizeof(ids[i]), "%s", job_submit(&s, "/v1/apply_async", "{\"func\":\"sleep\",\"args\":[3]}"));
    CHECK(await_pool_number(&s, "queue.running", 1, 5));
    kill(s.pid, SIGTERM);
    CHECK(waitpid(s.pid, &st, 0) == s.pid);
    char *text = log_text(s.log);
    for (int i = 0; i < 2; i++) {
        snprintf(line, sizeof(line), "job=%s func=sleep status=", ids[i]);
        const char *at = strstr(text, line);
        CHECK(at != NULL);
        if (at)
            CHECK(strncmp(strchr(at, ' ') + 1, "func=sleep status=queued kept on disk", 37) == 0 ||
                  strncmp(strchr(at, ' ') + 1, "func=sleep status=running kept on disk", 38) == 0);
    }
    CHECK(strstr(text, "status=failed") == NULL && strstr(text, "ShuttingDown") == NULL);
    free(text);
    server_reaped(&s, st);
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
