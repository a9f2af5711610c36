/*
 * http_runtime.c: Python functions served warm (--python, issue 19), over
 * the real server: tests/runtime/fns.py listed with its docstrings, called
 * through apply, map, starmap, imap and async jobs; its exceptions as
 * problems with their tracebacks; what it prints in the log, never in the
 * answer; its initializer, state and worker name, as under Pool. How a
 * runtime dies, runs late or breaks the protocol, and the start-up errors,
 * are http_runtime_faults.c's.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"
#include "lines.h"

/* Starts poold serving fns.py on `processes` workers, with extra
 * arguments (NULL-terminated, or NULL). */
static void
start(Server *s, const char *processes, const char *const *extra)
{
    const char *args[32] = {"--processes", processes, "--python", test_runtime_file("fns.py")};
    size_t n = 4;

    for (size_t i = 0; extra && extra[i] && n < 31; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    server_start(s, args);
}

/* POSTs body to path, expecting status; the answer's JSON at `path_in`
 * as an integer. */
static long long
post_int(const Server *s, const char *path, const char *body, const char *at)
{
    Resp r;
    long long v;

    post(s, path, body, 200, &r);
    CHECK(json_is_integer(jpath(r.json, at)));
    v = json_integer_value(jpath(r.json, at));
    resp_free(&r);
    return v;
}

/* The pid of the runtime that answers the next call. */
static int
runtime_pid(const Server *s)
{
    return (int)post_int(s, "/v1/apply", "{\"func\":\"pid\"}", "result");
}

TEST(test_runtime_functions_are_listed_with_source_python_and_their_docstrings)
{
    Server s;
    json_t *j, *f;
    size_t i;
    int seen = 0;

    start(&s, "1", NULL);
    j = get_json(&s, "/v1/functions");
    CHECK(j != NULL);
    json_array_foreach(json_object_get(j, "functions"), i, f) {
        const char *name = json_string_value(json_object_get(f, "name"));
        const char *source = json_string_value(json_object_get(f, "source"));
        const char *doc = json_string_value(json_object_get(f, "doc"));
        /* Private names, classes and imported modules are not served. */
        CHECK(name[0] != '_' && strcmp(name, "Oops") != 0 && strcmp(name, "os") != 0 &&
              strcmp(name, "time") != 0);
        if (strcmp(name, "add") == 0) {
            CHECK_STR(source, "python");
            CHECK_STR(doc, "add(a, b): a + b.");
            seen |= 1;
        } else if (strcmp(name, "setup") == 0) {
            CHECK_STR(source, "python");
            CHECK_STR(doc, "setup(tag, path=None): the initializer; remembers tag, and appends\n"
                           "\"tag pid\" to the file path when given.");
            seen |= 2;
        } else if (strcmp(name, "sleepy") == 0) {
            CHECK_STR(source, "python");
            seen |= 4;
        } else if (strcmp(name, "pow") == 0) {
            CHECK_STR(source, "builtin"); /* the built-ins fns.py does not name stay */
            seen |= 8;
        }
    }
    CHECK_INT(seen, 15);
    json_decref(j);
    server_stop(&s);
}

TEST(test_runtime_apply_starmap_and_kwds_reach_the_python_function)
{
    Server s;
    Resp r;

    start(&s, "2", NULL);
    CHECK_INT(post_int(&s, "/v1/apply", "{\"func\":\"add\",\"args\":[2,3]}", "result"), 5);
    post(&s, "/v1/apply", "{\"func\":\"add\",\"args\":[\"po\",\"old\"]}", 200, &r);
    CHECK_STR(json_string_value(jpath(r.json, "result")), "poold");
    resp_free(&r);
    CHECK_INT(post_int(&s, "/v1/apply", "{\"func\":\"scale\",\"args\":[3]}", "result"), 6);
    CHECK_INT(post_int(&s, "/v1/apply", "{\"func\":\"scale\",\"args\":[3],\"kwds\":{\"k\":5}}", "result"), 15);
    post(&s, "/v1/apply", "{\"func\":\"scale\",\"kwds\":{\"x\":3,\"k\":0.5}}", 200, &r);
    CHECK(json_real_value(jpath(r.json, "result")) == 1.5);
    resp_free(&r);
    /* JSON round-trips as it came: nesting, null, non-ASCII text. */
    post(&s, "/v1/apply", "{\"func\":\"echo\",\"args\":[{\"k\":[1,null,true,\"\\u00e9\\u20ac\\n\"]}]}", 200, &r);
    CHECK(json_is_null(jpath(r.json, "result.k.1")));
    CHECK(json_is_true(jpath(r.json, "result.k.2")));
    CHECK_STR(json_string_value(jpath(r.json, "result.k.3")), "\xc3\xa9\xe2\x82\xac\n");
    resp_free(&r);
    post(&s, "/v1/starmap", "{\"func\":\"add\",\"iterable\":[[1,2],[3,4],[\"a\",\"b\"],[[1],[2]]]}", 200, &r);
    CHECK_INT(json_array_size(jpath(r.json, "results")), 4);
    CHECK_INT(json_integer_value(jpath(r.json, "results.0")), 3);
    CHECK_INT(json_integer_value(jpath(r.json, "results.1")), 7);
    CHECK_STR(json_string_value(jpath(r.json, "results.2")), "ab");
    CHECK_INT(json_integer_value(jpath(r.json, "results.3.1")), 2);
    resp_free(&r);
    /* A wrong call is the function's TypeError, as Python says it. */
    post(&s, "/v1/apply", "{\"func\":\"add\",\"args\":[1]}", 422, &r);
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "TypeError");
    CHECK(strstr(json_string_value(jpath(r.json, "error.message")), "missing 1 required positional") != NULL);
    resp_free(&r);
    server_stop(&s);
}

TEST(test_runtime_map_keeps_order_at_each_chunksize)
{
    static const int chunks[] = {0, 1, 3, 7, 50};
    char body[1024];
    int n = 0;
    Server s;
    Resp r;

    start(&s, "2", NULL);
    for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        n = snprintf(body, sizeof(body), "{\"func\":\"calc\",\"iterable\":[");
        for (int i = 0; i < 50; i++)
            n += snprintf(body + n, sizeof(body) - (size_t)n, "%s%d", i ? "," : "", i);
        if (chunks[c])
            snprintf(body + n, sizeof(body) - (size_t)n, "],\"chunksize\":%d}", chunks[c]);
        else
            snprintf(body + n, sizeof(body) - (size_t)n, "]}");
        post(&s, "/v1/map", body, 200, &r);
        CHECK_INT(json_array_size(jpath(r.json, "results")), 50);
        for (int i = 0; i < 50; i++) {
            long long want = 1;
            char at[32];
            for (int k = 0; k < 10; k++)
                want *= i;
            snprintf(at, sizeof(at), "results.%d", i);
            if (json_integer_value(jpath(r.json, at)) != want)
                fprintf(stderr, "    chunksize %d: item %d\n", chunks[c], i);
            CHECK(json_integer_value(jpath(r.json, at)) == want);
        }
        resp_free(&r);
    }
    server_stop(&s);
}

/* One call that raises: its problem carries the exception's class, its
 * text, and a traceback ending at the raise in fns.py. */
static void
expect_exception(const Server *s, const char *path, const char *body, const char *type, const char *msg,
                 const char *frame)
{
    Resp r;
    const char *tb;

    post(s, path, body, 422, &r);
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), type);
    CHECK_STR(json_string_value(jpath(r.json, "error.message")), msg);
    tb = json_string_value(jpath(r.json, "error.traceback"));
    if (!tb || !strstr(tb, frame))
        fprintf(stderr, "    %s -> %s\n", body, r.body);
    CHECK(tb != NULL);
    CHECK(strncmp(tb, "Traceback (most recent call last):\n", 35) == 0);
    CHECK(strstr(tb, "fns.py\", line ") != NULL);
    CHECK(strstr(tb, frame) != NULL);
    CHECK(strstr(tb, msg) != NULL); /* its last line says it again */
    resp_free(&r);
}

TEST(test_runtime_each_exception_is_422_with_its_type_message_and_traceback)
{
    Server s;
    Resp r;

    start(&s, "2", NULL);
    expect_exception(&s, "/v1/apply", "{\"func\":\"raise_value\",\"args\":[\"bad value\"]}", "ValueError",
                     "bad value", "in raise_value\n    raise ValueError(msg)");
    expect_exception(&s, "/v1/apply", "{\"func\":\"raise_key\",\"args\":[\"missing\"]}", "KeyError", "'missing'",
                     "in raise_key");
    expect_exception(&s, "/v1/apply", "{\"func\":\"divide\",\"args\":[1,0]}", "ZeroDivisionError",
                     "division by zero", "in divide");
    expect_exception(&s, "/v1/apply", "{\"func\":\"raise_oops\",\"args\":[\"mine\"]}", "Oops", "mine",
                     "in _deeper\n    raise Oops(msg)");
    /* In a map, the first failed item's, with its index. */
    expect_exception(&s, "/v1/starmap", "{\"func\":\"divide\",\"iterable\":[[1,1],[1,0],[2,1]]}",
                     "ZeroDivisionError", "division by zero", "in divide");
    post(&s, "/v1/starmap", "{\"func\":\"divide\",\"iterable\":[[1,1],[1,0],[2,1]],\"chunksize\":1}", 422, &r);
    CHECK_INT(json_integer_value(jpath(r.json, "index")), 1);
    resp_free(&r);
    /* The runtime goes on after each. */
    CHECK_INT(post_int(&s, "/v1/apply", "{\"func\":\"add\",\"args\":[20,22]}", "result"), 42);
    server_stop(&s);
}

TEST(test_runtime_a_value_json_cannot_carry_is_422_typeerror_and_the_runtime_goes_on)
{
    Server s;
    Resp r;
    int pid;

    start(&s, "1", NULL);
    pid = runtime_pid(&s);
    post(&s, "/v1/apply", "{\"func\":\"aset\"}", 422, &r);
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "TypeError");
    CHECK(strstr(json_string_value(jpath(r.json, "error.message")), "set") != NULL);
    resp_free(&r);
    post(&s, "/v1/apply", "{\"func\":\"nan\"}", 422, &r);
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "TypeError");
    CHECK(strstr(json_string_value(jpath(r.json, "error.message")), "float") != NULL);
    resp_free(&r);
    CHECK_INT(runtime_pid(&s), pid); /* the same process: nothing was replaced */
    server_stop(&s);
}

/* 10**20 is valid JSON, but past what poold's parser holds as an integer:
 * a value of the item (a number, or a 422 naming it), never a runtime
 * taken for broken. */
TEST(test_runtime_an_integer_past_64_bits_is_an_item_outcome_not_a_protocol_break)
{
    Server s;
    Resp r;
    int pid;

    start(&s, "1", NULL);
    pid = runtime_pid(&s);
    /* 10**20: JSON can write it, poold's JSON holds 64 bits. */
    post(&s, "/v1/apply", "{\"func\":\"calc\",\"args\":[100]}", 422, &r);
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "OverflowError");
    CHECK(strstr(json_string_value(jpath(r.json, "error.message")) ?: "", "100000000000000000000") != NULL);
    resp_free(&r);
    CHECK_INT(runtime_pid(&s), pid);
    server_stop(&s);
}

TEST(test_runtime_prints_reach_the_log_tagged_with_the_worker_never_the_answer)
{
    char text[128];
    Server s;
    Resp r;
    int pid;

    start(&s, "1", NULL);
    pid = runtime_pid(&s);
    /* Enough to fill the stderr pipe many times over while the task runs. */
    post(&s, "/v1/apply", "{\"func\":\"noisy\",\"args\":[3000]}", 200, &r);
    CHECK_STR(r.body, "{\"result\":3000}");
    resp_free(&r);
    snprintf(text, sizeof(text), "ForkPoolWorker-1 python[%d]: noisy line 1 of 3000", pid);
    CHECK(server_log_has(&s, text, 3));
    snprintf(text, sizeof(text), "ForkPoolWorker-1 python[%d]: noisy line 3000 of 3000", pid);
    CHECK(server_log_has(&s, text, 3));
    post(&s, "/v1/map", "{\"func\":\"noisy\",\"iterable\":[2,1,0],\"chunksize\":3}", 200, &r);
    CHECK_STR(r.body, "{\"results\":[2,1,0]}");
    resp_free(&r);
    CHECK_INT(runtime_pid(&s), pid);
    server_stop(&s);
}

TEST(test_runtime_a_functions_stdin_and_stdout_are_not_the_protocols)
{
    char text[128];
    Server s;
    Resp r;
    int pid;

    start(&s, "1", NULL);
    pid = runtime_pid(&s);
    /* input() reads /dev/null, not the requests. */
    post(&s, "/v1/apply", "{\"func\":\"ask\"}", 422, &r);
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "EOFError");
    resp_free(&r);
    /* Writes past print(), on fd 1 itself, reach the log, not the frames. */
    post(&s, "/v1/apply", "{\"func\":\"rawout\"}", 200, &r);
    CHECK_STR(r.body, "{\"result\":\"ok\"}");
    resp_free(&r);
    snprintf(text, sizeof(text), "ForkPoolWorker-1 python[%d]: raw line on fd 1", pid);
    CHECK(server_log_has(&s, text, 3));
    snprintf(text, sizeof(text), "ForkPoolWorker-1 python[%d]: a line on sys.__stdout__", pid);
    CHECK(server_log_has(&s, text, 3));
    CHECK_INT(runtime_pid(&s), pid);
    server_stop(&s);
}

/* POOLD_PYTHON names two files: each worker runs both runtimes, and a
 * replacement worker both again. */
TEST(test_runtime_two_files_from_poold_python_serve_side_by_side)
{
    char other[128], env[PATH_MAX + 160];
    const char *args[] = {"--processes", "1", NULL};
    Server s;
    Resp r;
    int first;

    test_write_file(other, sizeof(other), "other.py",
               "import os\n\ndef other(x):\n    \"\"\"other(x): x, from another file.\"\"\"\n"
               "    return [\"other\", x, os.getpid()]\n");
    snprintf(env, sizeof(env), "%s:%s", test_runtime_file("fns.py"), other);
    setenv("POOLD_PYTHON", env, 1);
    server_start(&s, args);
    unsetenv("POOLD_PYTHON");
    CHECK_INT(post_int(&s, "/v1/apply", "{\"func\":\"add\",\"args\":[1,2]}", "result"), 3);
    post(&s, "/v1/apply", "{\"func\":\"other\",\"args\":[5]}", 200, &r);
    CHECK_STR(json_string_value(jpath(r.json, "result.0")), "other");
    CHECK_INT(json_integer_value(jpath(r.json, "result.1")), 5);
    first = (int)json_integer_value(jpath(r.json, "result.2"));
    CHECK(first > 0 && first != runtime_pid(&s)); /* a runtime of its own */
    resp_free(&r);
    post(&s, "/v1/apply", "{\"func\":\"die\",\"args\":[3]}", 502, &r);
    resp_free(&r);
    CHECK(post_int(&s, "/v1/apply", "{\"func\":\"other\",\"args\":[6]}", "result.2") != first);
    server_stop(&s);
    unlink(other);
}

TEST(test_runtime_initializer_runs_once_per_process_and_state_lives_across_calls)
{
    char fns[128], initlog[128], marker[128], text[1024];
    const char *args[] = {"--processes", "1", "--functions", fns, NULL};
    int pids[4] = {0}, lines = 0, first;
    char tag[16];
    Server s;
    Resp r;
    FILE *f;

    snprintf(initlog, sizeof(initlog), "/tmp/poold-test-initlog-%d", (int)getpid());
    snprintf(marker, sizeof(marker), "/tmp/poold-test-main-%d", (int)getpid());
    unlink(initlog);
    unlink(marker);
    snprintf(text, sizeof(text),
             "{\"functions\": [{\"python\": \"%s\", \"initializer\": \"setup\", \"initargs\": [\"t1\", \"%s\"]}]}",
             test_runtime_file("fns.py"), initlog);
    test_write_file(fns, sizeof(fns), "initfns", text);
    setenv("FNS_MAIN_MARKER", marker, 1);
    server_start(&s, args);
    unsetenv("FNS_MAIN_MARKER");
    post(&s, "/v1/apply", "{\"func\":\"inits\"}", 200, &r);
    CHECK_INT(json_array_size(jpath(r.json, "result.0")), 1); /* once, not at the description */
    CHECK_STR(json_string_value(jpath(r.json, "result.0.0")), "t1");
    first = (int)json_integer_value(jpath(r.json, "result.1"));
    resp_free(&r);
    for (int i = 1; i <= 3; i++)
        CHECK_INT(post_int(&s, "/v1/apply", "{\"func\":\"count\"}", "result"), i);
    /* A replacement's runtime runs it again, with fresh state. */
    post(&s, "/v1/apply", "{\"func\":\"die\",\"args\":[3]}", 502, &r);
    resp_free(&r);
    CHECK_INT(post_int(&s, "/v1/apply", "{\"func\":\"count\"}", "result"), 1);
    post(&s, "/v1/apply", "{\"func\":\"inits\"}", 200, &r);
    CHECK_INT(json_array_size(jpath(r.json, "result.0")), 1);
    CHECK((int)json_integer_value(jpath(r.json, "result.1")) != first);
    resp_free(&r);
    CHECK((f = fopen(initlog, "r")) != NULL);
    while (lines < 4 && fscanf(f, "%15s %d", tag, &pids[lines]) == 2) {
        CHECK_STR(tag, "t1");
        lines++;
    }
    fclose(f);
    CHECK_INT(lines, 2);
    CHECK_INT(pids[0], first);
    CHECK(pids[1] != pids[0]);
    /* The file's main block never ran (it would have written marker). */
    CHECK(access(marker, F_OK) != 0);
    server_stop(&s);
    unlink(initlog);
    unlink(fns);
}

TEST(test_runtime_current_process_name_is_the_workers_name)
{
    Server s;
    Resp r;
    json_t *pool;
    char name[64];

    start(&s, "1", NULL);
    post(&s, "/v1/apply", "{\"func\":\"name\"}", 200, &r);
    pool = get_json(&s, "/v1/pool");
    CHECK_STR(json_string_value(jpath(r.json, "result")), json_string_value(jpath(pool, "workers.0.name")));
    CHECK_STR(json_string_value(jpath(r.json, "result")), "ForkPoolWorker-1");
    json_decref(pool);
    resp_free(&r);
    post(&s, "/v1/apply", "{\"func\":\"kill9\"}", 502, &r);
    resp_free(&r);
    post(&s, "/v1/apply", "{\"func\":\"name\"}", 200, &r);
    snprintf(name, sizeof(name), "%s", json_string_value(jpath(r.json, "result")) ?: "");
    resp_free(&r);
    CHECK_STR(name, "ForkPoolWorker-2");
    server_stop(&s);
}

TEST(test_runtime_max_tasks_per_child_recycles_the_runtime_process)
{
    const char *extra[] = {"--max-tasks-per-child", "2", NULL};
    int pids[6];
    Server s;

    start(&s, "1", extra);
    for (int i = 0; i < 6; i++)
        pids[i] = runtime_pid(&s);
    for (int i = 0; i < 6; i += 2) {
        CHECK(pids[i] > 0);
        CHECK_INT(pids[i + 1], pids[i]); /* two tasks each */
        if (i > 0)
            CHECK(pids[i] != pids[i - 1]); /* then a new runtime */
    }
    server_stop(&s);
}

TEST(test_runtime_a_recycled_runtime_leaves_by_itself_after_eof)
{
    char file[128];
    const char *args[] = {"--processes", "1", "--max-tasks-per-child", "1", "--python", file, NULL};
    Server s;
    Resp r;

    /* Its atexit handler runs (and its line reaches the log) only when
     * it is let go at EOF, not killed at once. */
    test_write_file(file, sizeof(file), "leaving.py",
                    "import atexit, os, sys\n"
                    "atexit.register(lambda: print('leaving pid', os.getpid(), file=sys.stderr, flush=True))\n"
                    "def ping():\n    return os.getpid()\n");
    server_start(&s, args);
    post(&s, "/v1/apply", "{\"func\":\"ping\"}", 200, &r);
    char want[64];
    snprintf(want, sizeof(want), "leaving pid %lld", (long long)json_integer_value(jpath(r.json, "result")));
    resp_free(&r);
    CHECK(server_log_has(&s, want, 5));
    server_stop(&s);
    unlink(file);
}

TEST(test_runtime_a_function_named_like_a_builtin_hides_it_and_the_log_says_so)
{
    Server s;
    Resp r;
    json_t *j, *f;
    size_t i;
    int calcs = 0;
    double t0;

    start(&s, "1", NULL);
    CHECK(server_log_has(&s, "its function calc hides the built-in calc", 1));
    j = get_json(&s, "/v1/functions");
    json_array_foreach(json_object_get(j, "functions"), i, f)
        if (strcmp(json_string_value(json_object_get(f, "name")), "calc") == 0) {
            calcs++;
            CHECK_STR(json_string_value(json_object_get(f, "source")), "python");
            CHECK(strstr(json_string_value(json_object_get(f, "doc")), "hides the built-in") != NULL);
        }
    json_decref(j);
    CHECK_INT(calcs, 1);
    /* The built-in sleeps a second; fns.py's answers at once (timed once
     * the worker is up). */
    CHECK(runtime_pid(&s) > 0);
    t0 = now_seconds();
    CHECK_INT(post_int(&s, "/v1/apply", "{\"func\":\"calc\",\"args\":[2]}", "result"), 1024);
    CHECK(now_seconds() - t0 < 0.8);
    post(&s, "/v1/apply", "{\"func\":\"calc\",\"args\":[\"x\"]}", 422, &r);
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "TypeError");
    CHECK(strstr(json_string_value(jpath(r.json, "error.traceback")) ?: "", "in calc") != NULL);
    resp_free(&r);
    server_stop(&s);
}

TEST(test_runtime_imap_streams_results_and_an_error_line_with_its_traceback)
{
    static const char *const bodies[] = {
        "{\"func\":\"calc\",\"iterable\":[1,\"x\",3,2],\"chunksize\":1}",
        "{\"func\":\"calc\",\"iterable\":[1,\"x\",3,2],\"chunksize\":3}",
    };
    Server s;

    start(&s, "2", NULL);
    for (size_t b = 0; b < 2; b++) {
        Lines l = {.path = "/v1/imap", .body = bodies[b], .keep = 1};
        const char *tb;
        CHECK_INT(lines_post(&s, &l), CURLE_OK);
        CHECK_INT(l.status, 200);
        CHECK_INT(l.count, 4);
        CHECK(l.in_order);
        CHECK_INT(json_integer_value(jpath(l.lines, "0.result")), 1);
        CHECK_STR(json_string_value(jpath(l.lines, "1.error.type")), "TypeError");
        CHECK_INT(json_integer_value(jpath(l.lines, "1.error.status")), 422);
        tb = json_string_value(jpath(l.lines, "1.error.traceback"));
        CHECK(tb && strstr(tb, "Traceback (most recent call last):") && strstr(tb, "in calc"));
        CHECK_INT(json_integer_value(jpath(l.lines, "2.result")), 59049);
        CHECK_INT(json_integer_value(jpath(l.lines, "3.result")), 1024);
        lines_free(&l);
    }
    {
        Lines l = {.path = "/v1/imap_unordered", .body = "{\"func\":\"sleepy\",\"iterable\":[0.6,0.05,0.05]}",
                   .keep = 1};
        CHECK_INT(lines_post(&s, &l), CURLE_OK);
        CHECK_INT(l.status, 200);
        CHECK_INT(l.count, 3);
        CHECK_INT(json_integer_value(jpath(l.lines, "2.index")), 0); /* the slow one last */
        lines_free(&l);
    }
    server_stop(&s);
}

/* Waits up to `seconds` for job id to end; its status. */
static const char *
await_job(const Server *s, const char *id, double seconds)
{
    const char *st = "?";

    for (double end = now_seconds() + seconds; now_seconds() < end; usleep(20 * 1000)) {
        st = job_status(s, id);
        if (strcmp(st, "succeeded") == 0 || strcmp(st, "failed") == 0)
            break;
    }
    return st;
}

TEST(test_runtime_async_jobs_succeed_and_fail_as_the_function_does)
{
    char id[64];
    Server s;
    json_t *j;

    start(&s, "2", NULL);
    snprintf(id, sizeof(id), "%s", job_submit(&s, "/v1/apply_async", "{\"func\":\"calc\",\"args\":[3]}"));
    CHECK_STR(await_job(&s, id, 10), "succeeded");
    j = job_get(&s, id);
    CHECK_INT(json_integer_value(jpath(j, "result")), 59049);
    json_decref(j);
    snprintf(id, sizeof(id), "%s", job_submit(&s, "/v1/map_async", "{\"func\":\"scale\",\"iterable\":[1,2,3]}"));
    CHECK_STR(await_job(&s, id, 10), "succeeded");
    j = job_get(&s, id);
    CHECK_INT(json_integer_value(jpath(j, "result.2")), 6);
    json_decref(j);
    snprintf(id, sizeof(id), "%s",
             job_submit(&s, "/v1/apply_async", "{\"func\":\"raise_value\",\"args\":[\"in a job\"]}"));
    CHECK_STR(await_job(&s, id, 10), "failed");
    j = job_get(&s, id);
    CHECK_STR(json_string_value(jpath(j, "error.type")), "ValueError");
    CHECK_STR(json_string_value(jpath(j, "error.message")), "in a job");
    json_decref(j);
    server_stop(&s);
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
