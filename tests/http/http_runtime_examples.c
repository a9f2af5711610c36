/*
 * http_runtime_examples.c: the runtimes a user meets first, over the real
 * server: the seed's program (examples/seed.py) served as it is, the
 * Node.js runtime (examples/runtimes/node/), the second language that
 * proves the protocol, and a Python function's job delivered to a webhook
 * with its traceback.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"
#include "recv.h"

/* path made absolute (static buffer): poold's cwd is the test's. */
static const char *
absolute(const char *path)
{
    static char abs[PATH_MAX];

    if (!realpath(path, abs))
        snprintf(abs, sizeof(abs), "%s", path);
    return abs;
}

/* The functions file that declares the Node.js runtime (static buffer). */
static const char *
node_functions(void)
{
    static char path[128];
    char text[2 * PATH_MAX + 256], runtime[PATH_MAX];
    FILE *f;

    snprintf(runtime, sizeof(runtime), "%s", absolute("examples/runtimes/node/runtime.js"));
    snprintf(text, sizeof(text),
             "{\"functions\": [{\"runtime\": [\"node\", \"%s\", \"%s\"], \"source\": \"node\"}]}\n", runtime,
             absolute("examples/runtimes/node/functions.js"));
    snprintf(path, sizeof(path), "/tmp/poold-test-node-%d.json", (int)getpid());
    CHECK((f = fopen(path, "w")) != NULL);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Checks that the JSON at `at` in r's answer is, compactly, want. */
static void
check_json(const Resp *r, const char *at, const char *want)
{
    char *text = json_dumps(jpath(r->json, at), JSON_COMPACT);

    CHECK_STR(text ? text : "", want);
    free(text);
}

TEST(test_runtime_the_seeds_program_is_served_as_it_is)
{
    const char *args[] = {"--processes", "2", "--python", absolute("examples/seed.py"), NULL};
    Server s;
    Resp r;

    server_start(&s, args);
    post(&s, "/v1/map", "{\"func\":\"calc\",\"iterable\":[1,2,5,10],\"chunksize\":1}", 200, &r);
    check_json(&r, "results", "[1,1024,9765625,10000000000]");
    resp_free(&r);
    /* The seed's logging, from the runtime, under the workers' names. */
    CHECK(server_log_has(&s, "calc started in process ForkPoolWorker-", 0));
    CHECK(server_log_has(&s, "hides the built-in calc", 0));
    /* Its `if __name__ == "__main__":` block never ran: no Pool, no end. */
    CHECK(!server_log_has(&s, "End program", 0));
    server_stop(&s);
}

TEST(test_runtime_node_serves_apply_map_starmap_and_its_errors)
{
    const char *args[] = {"--processes", "2", "--functions", node_functions(), NULL};
    json_t *fns, *f;
    size_t i;
    int listed = 0;
    Server s;
    Resp r;

    server_start(&s, args);
    CHECK((fns = get_json(&s, "/v1/functions")) != NULL);
    json_array_foreach(json_object_get(fns, "functions"), i, f)
        listed += strcmp(json_string_value(json_object_get(f, "source")), "node") == 0;
    json_decref(fns);
    CHECK_INT(listed, 5);
    post(&s, "/v1/apply", "{\"func\":\"shout\",\"args\":[\"hi\"]}", 200, &r);
    CHECK_STR(json_string_value(jpath(r.json, "result")), "HI!");
    resp_free(&r);
    post(&s, "/v1/map", "{\"func\":\"wordcount\",\"iterable\":[\"a b\",\"\",\"one two three\"],\"chunksize\":2}", 200,
         &r);
    check_json(&r, "results", "[2,0,3]");
    resp_free(&r);
    post(&s, "/v1/starmap", "{\"func\":\"hypot\",\"iterable\":[[3,4],[5,12]]}", 200, &r);
    check_json(&r, "results", "[5,13]");
    resp_free(&r);
    post(&s, "/v1/apply", "{\"func\":\"fail\",\"args\":[\"no\"]}", 422, &r);
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "RangeError");
    CHECK_STR(json_string_value(jpath(r.json, "error.message")), "fail(): no");
    CHECK(strstr(json_string_value(jpath(r.json, "error.traceback")) ?: "", "functions.js") != NULL);
    resp_free(&r);
    /* A NUL and half a surrogate pair are an item's error, the runtime
     * and its worker untouched; a whole pair goes through. */
    post(&s, "/v1/map", "{\"func\":\"textOf\",\"iterable\":[[97,0],[55357],[55357,56832],[98]],\"chunksize\":4,"
         "\"on_error\":\"collect\"}", 200, &r);
    CHECK(strstr(json_string_value(jpath(r.json, "results.0.error.message")) ?: "", "no NUL") != NULL);
    CHECK_STR(json_string_value(jpath(r.json, "results.1.error.type")), "TypeError");
    CHECK_STR(json_string_value(jpath(r.json, "results.2")), "\xF0\x9F\x98\x80");
    CHECK_STR(json_string_value(jpath(r.json, "results.3")), "b");
    resp_free(&r);
    server_stop(&s);
    unlink(node_functions());
}

TEST(test_runtime_a_python_jobs_webhooks_carry_its_result_and_its_traceback)
{
    const char *extra[] = {"--python", absolute("tests/runtime/fns.py"), NULL};
    char body[512], ok[256];
    json_t *payload;
    Receiver rv = {0};
    Server s;

    recv_start(&rv);
    recv_server_start(&s, extra);
    snprintf(ok, sizeof(ok), "%s", recv_url(&rv, "/ok"));
    snprintf(body, sizeof(body), "{\"func\":\"echo\",\"args\":[\"warm\"],\"callback\":\"%s\"}", ok);
    job_submit(&s, "/v1/apply_async", body);
    snprintf(body, sizeof(body), "{\"func\":\"raise_value\",\"args\":[\"cold\"],\"callback\":\"%s\"}", ok);
    job_submit(&s, "/v1/apply_async", body);
    CHECK(recv_await(&rv, 2, 20));
    for (int k = 0; k < 2; k++) {
        recv_check_signature(&rv.hits[k]);
        CHECK((payload = json_loads(rv.hits[k].body, 0, NULL)) != NULL);
        if (strcmp(json_string_value(jpath(payload, "type")) ?: "", "job.succeeded") == 0) {
            CHECK_STR(json_string_value(jpath(payload, "data.result")), "warm");
        } else {
            CHECK_STR(json_string_value(jpath(payload, "type")), "job.failed");
            CHECK_STR(json_string_value(jpath(payload, "data.error.type")), "ValueError");
            CHECK(strstr(json_string_value(jpath(payload, "data.error.traceback")) ?: "", "fns.py") != NULL);
        }
        json_decref(payload);
    }
    server_stop(&s);
    recv_stop(&rv);
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
