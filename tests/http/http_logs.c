/*
 * http_logs.c: --log-format json writes one JSON object a line, with ts,
 * level, msg and the message's key=value words as fields.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"

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

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
