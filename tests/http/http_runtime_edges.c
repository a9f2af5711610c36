/*
 * http_runtime_edges.c: where a warm runtime could hang or take poold
 * along, over the real server: a runtime that dies leaving a child that
 * holds its stderr, a string UTF-8 cannot carry, "started" frames that
 * would outrun the timeout, and an exec function and a runtime on one
 * worker when a timeout stops it.
 */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"

/* tests/runtime/NAME as an absolute path (static buffer). */
/* Writes a functions file for this test process (static buffer). */
static const char *
functions_file(const char *text)
{
    static char path[128];
    FILE *f;

    snprintf(path, sizeof(path), "/tmp/poold-test-edges-%d.json", (int)getpid());
    CHECK((f = fopen(path, "w")) != NULL);
    fputs(text, f);
    fclose(f);
    return path;
}

static long long
apply_int(const Server *s, const char *body)
{
    Resp r;
    long long v;

    post(s, "/v1/apply", body, 200, &r);
    v = json_integer_value(jpath(r.json, "result"));
    resp_free(&r);
    return v;
}

TEST(test_runtime_one_that_dies_leaving_a_child_on_its_stderr_is_a_502_at_once)
{
    const char *args[] = {"--processes", "1", "--python", test_runtime_file("fns.py"), NULL};
    double began;
    Server s;
    Resp r;

    server_start(&s, args);
    began = now_seconds();
    post(&s, "/v1/apply", "{\"func\":\"orphan_die\"}", 502, &r);
    /* The child (sleep 300) held stderr: poold must not wait for it. */
    CHECK(now_seconds() - began < 10);
    CHECK(strstr(json_string_value(jpath(r.json, "error.message")) ?: "", "killed by signal 9") != NULL);
    resp_free(&r);
    CHECK(apply_int(&s, "{\"func\":\"pid\"}") > 0); /* a fresh runtime serves */
    server_stop(&s);
}

TEST(test_runtime_a_lone_surrogate_is_an_items_error_and_the_runtime_goes_on)
{
    const char *args[] = {"--processes", "1", "--python", test_runtime_file("fns.py"), NULL};
    long long before;
    Server s;
    Resp r;

    server_start(&s, args);
    before = apply_int(&s, "{\"func\":\"pid\"}");
    post(&s, "/v1/apply", "{\"func\":\"surrogate\"}", 422, &r);
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "UnicodeEncodeError");
    resp_free(&r);
    CHECK(apply_int(&s, "{\"func\":\"pid\"}") == before); /* the same runtime */
    server_stop(&s);
}

TEST(test_runtime_started_frames_out_of_turn_break_the_protocol_not_the_timeout)
{
    char text[PATH_MAX + 128];
    const char *args[] = {"--processes", "1", "--functions", NULL, NULL};
    double began;
    Server s;
    Resp r;

    snprintf(text, sizeof(text), "{\"functions\": [{\"runtime\": [\"python3\", \"%s\", \"restart\"], "
             "\"source\": \"fake\"}]}\n", test_runtime_file("fake_runtime.py"));
    args[3] = functions_file(text);
    server_start(&s, args);
    began = now_seconds();
    post(&s, "/v1/apply", "{\"func\":\"fake_restart\",\"args\":[],\"timeout\":30}", 502, &r);
    CHECK(now_seconds() - began < 10);
    CHECK(strstr(json_string_value(jpath(r.json, "error.message")) ?: "", "broke the protocol: {\"started\"") != NULL);
    resp_free(&r);
    server_stop(&s);
    unlink(args[3]);
}

TEST(test_runtime_and_exec_on_one_worker_a_timeout_takes_the_runtime_too)
{
    const char *args[] = {"--processes", "1", "--python", test_runtime_file("fns.py"), "--functions",
                          functions_file("{\"functions\": [{\"name\": \"upper\", \"exec\": [\"tr\", \"a-z\", \"A-Z\"]}]}\n"),
                          NULL};
    long long before, after;
    Server s;
    Resp r;

    server_start(&s, args);
    before = apply_int(&s, "{\"func\":\"pid\"}");
    post(&s, "/v1/apply", "{\"func\":\"upper\",\"args\":[\"x\"]}", 200, &r); /* an exec call first */
    resp_free(&r);
    post(&s, "/v1/apply", "{\"func\":\"sleepy\",\"args\":[30],\"timeout\":0.5}", 504, &r);
    resp_free(&r);
    after = apply_int(&s, "{\"func\":\"pid\"}");
    CHECK(after != before);
    CHECK(kill((pid_t)before, 0) != 0); /* the old runtime is gone */
    server_stop(&s);
    unlink(args[5]);
}

TEST(test_runtime_a_module_whose_import_starts_a_thread_is_served)
{
    char file[128];
    const char *args[] = {"--processes", "1", "--worker-start-timeout", "10", "--python", file, NULL};
    Server s;
    Resp r;
    double t0 = now_seconds();

    /* A thread that is no daemon holds a Python process at its end: the
     * description at start-up must not wait for it. */
    test_write_file(file, sizeof(file), "threaded.py",
                    "import threading, time\n"
                    "threading.Thread(target=time.sleep, args=(60,)).start()\n"
                    "def one():\n    return 1\n");
    server_start(&s, args);
    CHECK(now_seconds() - t0 < 8);
    post(&s, "/v1/apply", "{\"func\":\"one\"}", 200, &r);
    CHECK_INT(json_integer_value(jpath(r.json, "result")), 1);
    resp_free(&r);
    server_stop(&s);
    unlink(file);
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
