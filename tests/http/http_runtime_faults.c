/*
 * http_runtime_faults.c: warm runtimes (issue 19) going wrong, over the
 * real server: a runtime that exits, is killed, or loses its worker
 * mid-task; a runtime that breaks the protocol
 * (tests/runtime/fake_runtime.py, one mode a server); one that cannot
 * start in the workers (a crash loop); and those poold refuses at
 * start-up. Each call that meets one gets its error, and the next call
 * works. The calls that go right are http_runtime.c's; the limits
 * (timeouts, cancel, memory, CPU, --max-result) http_runtime_limits.c's.
 */
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"
#include "startup.h"

static void
start_fns(Server *s, const char *processes)
{
    const char *args[] = {"--processes", processes, "--python", test_runtime_file("fns.py"), NULL};

    server_start(s, args);
}

/* The pid of the runtime that answers the next call. */
static int
runtime_pid(const Server *s)
{
    Resp r;
    int pid;

    post(s, "/v1/apply", "{\"func\":\"pid\"}", 200, &r);
    pid = (int)json_integer_value(jpath(r.json, "result"));
    resp_free(&r);
    CHECK(pid > 0);
    return pid;
}

/* The call is a 502 WorkerLost whose message holds each of the texts
 * (NULL-terminated). */
static void
expect_lost(const Resp *r, const char *const *texts)
{
    const char *m = json_string_value(jpath(r->json, "error.message"));

    CHECK_INT(r->status, 502);
    CHECK_STR(json_string_value(jpath(r->json, "error.type")), "WorkerLost");
    for (size_t i = 0; texts[i]; i++) {
        if (!m || !strstr(m, texts[i]))
            fprintf(stderr, "    wanted \"%s\" in: %s\n", texts[i], r->body);
        CHECK(m && strstr(m, texts[i]));
    }
}

/* --- deaths mid-task --- */

TEST(test_runtime_os_exit_and_self_kill_mid_task_are_502_naming_how)
{
    char pidtext[32];
    Server s;
    Resp r;
    int pid;

    start_fns(&s, "1");
    pid = runtime_pid(&s);
    snprintf(pidtext, sizeof(pidtext), "(pid %d)", pid);
    post(&s, "/v1/apply", "{\"func\":\"die\",\"args\":[3]}", 502, &r);
    expect_lost(&r, (const char *const[]){"lost its runtime while running the task", "fns.py", pidtext,
                                          "exited with status 3", NULL});
    resp_free(&r);
    pid = runtime_pid(&s);
    snprintf(pidtext, sizeof(pidtext), "(pid %d)", pid);
    post(&s, "/v1/apply", "{\"func\":\"kill9\"}", 502, &r);
    expect_lost(&r, (const char *const[]){"lost its runtime while running the task", pidtext,
                                          "was killed by signal 9 (SIGKILL)", NULL});
    resp_free(&r);
    CHECK(runtime_pid(&s) != pid);
    server_stop(&s);
}

/* Starts sleepy(5) on the one worker in the background; returns once it
 * runs (the worker busy, the request surely with the runtime). */
static void
start_sleepy(const Server *s, BgCall *c, pthread_t *t)
{
    *c = (BgCall){.s = s, .path = "/v1/apply", .body = "{\"func\":\"sleepy\",\"args\":[5]}"};
    CHECK(pthread_create(t, NULL, bg_call_run, c) == 0);
    for (int i = 0; i < 300 && !worker_in_state(s, "busy"); i++)
        usleep(10 * 1000);
    CHECK(worker_in_state(s, "busy") > 0);
    usleep(300 * 1000);
}

TEST(test_runtime_kill_9_of_the_runtime_mid_task_is_502_naming_the_signal)
{
    char pidtext[32];
    Server s;
    BgCall c;
    pthread_t t;
    int pid;
    double t0;

    start_fns(&s, "1");
    pid = runtime_pid(&s);
    snprintf(pidtext, sizeof(pidtext), "(pid %d)", pid);
    start_sleepy(&s, &c, &t);
    t0 = now_seconds();
    CHECK(kill(pid, SIGKILL) == 0);
    pthread_join(t, NULL);
    CHECK(now_seconds() - t0 < 2); /* at once, not when the sleep would end */
    expect_lost(&c.r, (const char *const[]){"lost its runtime while running the task", pidtext,
                                            "was killed by signal 9 (SIGKILL)", NULL});
    resp_free(&c.r);
    CHECK(runtime_pid(&s) != pid);
    server_stop(&s);
}

TEST(test_runtime_kill_9_of_the_worker_mid_task_is_502_and_its_runtime_goes_too)
{
    Server s;
    BgCall c;
    pthread_t t;
    int pid, worker;

    start_fns(&s, "1");
    pid = runtime_pid(&s);
    start_sleepy(&s, &c, &t);
    worker = worker_in_state(&s, "busy");
    CHECK(worker > 0 && worker != pid);
    CHECK(kill(worker, SIGKILL) == 0);
    pthread_join(t, NULL);
    expect_lost(&c.r, (const char *const[]){"killed by signal 9 (SIGKILL)", NULL});
    resp_free(&c.r);
    CHECK(test_pid_gone(pid, 3)); /* no orphaned runtime */
    CHECK(runtime_pid(&s) != pid);
    server_stop(&s);
}

TEST(test_runtime_retries_run_a_task_whose_runtime_died_again_and_never_an_exception)
{
    BgCall c;
    pthread_t t;
    Server s;
    Resp r;
    int pid;

    start_fns(&s, "1");
    pid = runtime_pid(&s);
    c = (BgCall){.s = &s, .path = "/v1/apply", .body = "{\"func\":\"sleepy\",\"args\":[1],\"retries\":1}"};
    CHECK(pthread_create(&t, NULL, bg_call_run, &c) == 0);
    for (int i = 0; i < 300 && !worker_in_state(&s, "busy"); i++)
        usleep(10 * 1000);
    usleep(300 * 1000);
    CHECK(kill(pid, SIGKILL) == 0);
    pthread_join(t, NULL);
    CHECK_INT(c.r.status, 200); /* run again by a fresh runtime */
    CHECK_INT(json_integer_value(jpath(c.r.json, "result")), 1);
    resp_free(&c.r);
    pid = runtime_pid(&s);
    post(&s, "/v1/apply", "{\"func\":\"raise_value\",\"args\":[\"once\"],\"retries\":2}", 422, &r);
    resp_free(&r);
    CHECK_INT(runtime_pid(&s), pid); /* an exception ran once: no worker was lost */
    server_stop(&s);
}

/* --- the protocol, broken: the fake runtime --- */

/* Starts poold with the fake runtime in `mode` and in "good" (with env
 * and cwd), on two workers, --max-result 256K. */
static void
start_fake(Server *s, const char *mode, char *fns, size_t len)
{
    const char *args[] = {"--processes", "2", "--functions", fns, "--max-result", "256K", NULL};
    const char *fake = test_runtime_file("fake_runtime.py");
    char text[2048];

    snprintf(text, sizeof(text),
             "{\"functions\": [\n"
             " {\"runtime\": [\"python3\", \"%s\", \"%s\"], \"source\": \"fake\"},\n"
             " {\"runtime\": [\"python3\", \"%s\", \"good\"], \"source\": \"fake\","
             " \"env\": {\"FAKE_TAG\": \"tagged\"}, \"cwd\": \"/tmp\"}\n"
             "]}\n", fake, mode, fake);
    test_write_file(fns, len, "fakefns", text);
    server_start(s, args);
}

/* fake_good's answer: [args, kwds, FAKE_TAG, cwd, worker's name, protocol,
 * leaked POOLD_* names]; checks them. */
static void
expect_good(const Server *s)
{
    Resp r;

    post(s, "/v1/apply", "{\"func\":\"fake_good\",\"args\":[1],\"kwds\":{\"a\":2}}", 200, &r);
    CHECK_INT(json_integer_value(jpath(r.json, "result.0.0")), 1);
    CHECK_INT(json_integer_value(jpath(r.json, "result.1.a")), 2);
    CHECK_STR(json_string_value(jpath(r.json, "result.2")), "tagged");
    CHECK_STR(json_string_value(jpath(r.json, "result.3")), "/tmp");
    CHECK(strncmp(json_string_value(jpath(r.json, "result.4")) ?: "", "ForkPoolWorker-", 15) == 0);
    CHECK_STR(json_string_value(jpath(r.json, "result.5")), "1");
    if (json_array_size(jpath(r.json, "result.6")))
        fprintf(stderr, "    the runtime was given poold's settings: %s\n", r.body);
    CHECK_INT(json_array_size(jpath(r.json, "result.6")), 0);
    resp_free(&r);
}

/* With a long call on one worker, fake_MODE on the other is a 502 whose
 * message holds `want`; the long call ends well, and the next calls work. */
static void
expect_protocol_break(const char *mode, const char *want)
{
    char fns[128], body[128], label[64];
    Server s;
    BgCall c = {.s = &s, .path = "/v1/apply", .body = "{\"func\":\"fake_good\",\"args\":[],\"kwds\":{\"sleep\":2}}"};
    pthread_t t;
    Resp r;

    start_fake(&s, mode, fns, sizeof(fns));
    CHECK(await_idle_workers(&s, 2, 20));
    CHECK(pthread_create(&t, NULL, bg_call_run, &c) == 0);
    for (int i = 0; i < 300 && !worker_in_state(&s, "busy"); i++)
        usleep(10 * 1000);
    snprintf(body, sizeof(body), "{\"func\":\"fake_%s\",\"args\":[1]}", mode);
    post(&s, "/v1/apply", body, 502, &r);
    snprintf(label, sizeof(label), "fake %s (pid", mode); /* its label: the source, its last argument */
    expect_lost(&r, (const char *const[]){"lost its runtime while running the task", label, want, NULL});
    resp_free(&r);
    pthread_join(t, NULL);
    CHECK_INT(c.r.status, 200); /* the other worker's call was not touched */
    resp_free(&c.r);
    expect_good(&s);
    CHECK(await_idle_workers(&s, 2, 20));
    server_stop(&s);
    unlink(fns);
}

TEST(test_runtime_protocol_a_line_that_is_not_json_is_502)
{
    expect_protocol_break("garbage", "broke the protocol: a line on stdout that is not a JSON object");
}

TEST(test_runtime_protocol_an_answer_with_another_id_is_502)
{
    expect_protocol_break("wrongid", "broke the protocol: a frame for request");
}

TEST(test_runtime_protocol_a_frame_over_max_result_is_502)
{
    expect_protocol_break("huge", "broke the protocol: a frame longer than --max-result");
}

TEST(test_runtime_protocol_an_answer_missing_its_result_is_502)
{
    expect_protocol_break("short", "broke the protocol: an answer without one result for each");
}

TEST(test_runtime_protocol_a_result_that_is_no_outcome_is_502)
{
    expect_protocol_break("notoutcome", "broke the protocol: result 0 is neither");
}

TEST(test_runtime_protocol_an_exit_mid_task_is_502)
{
    expect_protocol_break("exit", "exited with status 7");
}

TEST(test_runtime_protocol_silence_past_the_timeout_is_504)
{
    char fns[128];
    Server s;
    Resp r;
    double t0;

    start_fake(&s, "silent", fns, sizeof(fns));
    CHECK(await_idle_workers(&s, 2, 20));
    t0 = now_seconds();
    post(&s, "/v1/apply", "{\"func\":\"fake_silent\",\"timeout\":1}", 504, &r);
    CHECK(now_seconds() - t0 < 4);
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "TimedOut");
    resp_free(&r);
    expect_good(&s);
    server_stop(&s);
    unlink(fns);
}

TEST(test_runtime_protocol_writing_while_idle_ends_the_worker_not_a_call)
{
    char fns[128];
    Server s;
    Resp r;

    start_fake(&s, "idle", fns, sizeof(fns));
    CHECK(await_idle_workers(&s, 2, 20));
    post(&s, "/v1/apply", "{\"func\":\"fake_idle\",\"args\":[1]}", 200, &r);
    CHECK_INT(json_integer_value(jpath(r.json, "result.0.0")), 1);
    resp_free(&r);
    CHECK(server_log_has(&s, "broke the protocol: it wrote on stdout while no task ran", 5));
    CHECK(await_idle_workers(&s, 2, 20)); /* replaced */
    expect_good(&s);
    server_stop(&s);
    unlink(fns);
}

/* POSTs a map of fake_values (all its items one request to the runtime),
 * whose answer of bare values has the shape its first item names
 * (tests/runtime/fake_runtime.py's values_line). */
static void
values_map(const Server *s, const char *items, long status, Resp *r)
{
    char body[512];

    snprintf(body, sizeof(body), "{\"func\":\"fake_values\",\"iterable\":%s,\"chunksize\":100}", items);
    post(s, "/v1/map", body, status, r);
}

/* The results of a call, as compact JSON, are want. */
static void
expect_results(const Resp *r, const char *want)
{
    char *text = json_dumps(jpath(r->json, "results"), JSON_COMPACT);

    CHECK_STR(text ? text : "", want);
    free(text);
}

/* The Python runtime's fast answer, {"id":N,"values":[...]}, which the
 * worker takes as the runtime's text when the scanner vouches for it: as
 * text only in exactly that shape, as jansson reads it in any other, and a
 * 502 naming the break for what the protocol refuses. */
TEST(test_runtime_protocol_an_answer_of_bare_values_is_taken_as_jansson_reads_it_or_refused)
{
    static const struct { const char *items, *want; } breaks[] = {
        {"[\"tail\",1]", "not a JSON object"},          /* {...}} */
        {"[\"wrongid\",1]", "a frame for request"},     /* id N0 for N */
        {"[\"few\",1,2]", "without one result for each"},
        {"[\"more\",1,2]", "without one result for each"},
        {"[\"wide\",1]", "not a JSON object"},          /* 2^64 */
        {"[\"huge\",1]", "a frame longer than --max-result"},
    };
    char fns[128];
    Server s;
    Resp r;

    start_fake(&s, "values", fns, sizeof(fns));
    values_map(&s, "[\"plain\",\"a\\\"b\\\\\\u00e9\",[1,[2,[]]],-0.0005,true,null,100]", 200, &r);
    /* As the runtime wrote it: a parse would have written 100.0 again. */
    CHECK(strstr(r.body, ",[1,[2,[]]],-0.0005,true,null,1.0E+2]") != NULL);
    CHECK_STR(json_string_value(jpath(r.json, "results.1")), "a\"b\\\xc3\xa9");
    resp_free(&r);
    values_map(&s, "[\"spaced\",\"a\\\"b\",[1,[2]],7]", 200, &r);
    expect_results(&r, "[\"spaced\",\"a\\\"b\",[1,[2]],7]");
    resp_free(&r);
    values_map(&s, "[\"second\",\"x\",3]", 200, &r);
    expect_results(&r, "[\"second\",\"x\",3]");
    resp_free(&r);
    values_map(&s, "[\"twice\",\"x\",3]", 200, &r); /* the key twice: the last, as jansson reads it */
    expect_results(&r, "[\"twice\",\"x\",3]");
    resp_free(&r);
    values_map(&s, "[\"deep\",0]", 200, &r);
    CHECK_INT(json_array_size(jpath(r.json, "results")), 2);
    resp_free(&r);
    for (size_t i = 0; i < sizeof(breaks) / sizeof(breaks[0]); i++) {
        values_map(&s, breaks[i].items, 502, &r);
        expect_lost(&r, (const char *const[]){"broke the protocol", breaks[i].want, NULL});
        resp_free(&r);
    }
    expect_good(&s);
    server_stop(&s);
    unlink(fns);
}

/* A map chunk is one request to the runtime, never one per item: the fake
 * logs a line per request it gets. */
TEST(test_runtime_a_map_chunk_is_one_request)
{
    char fns[128];
    const char *args[] = {"--processes", "1", "--functions", fns, NULL};
    Server s;
    Resp r;
    FILE *f;
    char line[4096], text[1024];
    int requests = 0;

    snprintf(text, sizeof(text), "{\"functions\": [{\"runtime\": [\"python3\", \"%s\", \"good\"]}]}",
             test_runtime_file("fake_runtime.py"));
    test_write_file(fns, sizeof(fns), "chunkfns", text);
    server_start(&s, args);
    post(&s, "/v1/map", "{\"func\":\"fake_good\",\"iterable\":[1,2,3,4,5,6],\"chunksize\":3}", 200, &r);
    CHECK_INT(json_array_size(jpath(r.json, "results")), 6);
    CHECK_INT(json_integer_value(jpath(r.json, "results.5.0.0")), 6);
    CHECK(json_is_null(jpath(r.json, "results.5.2"))); /* no env of the other entry's */
    resp_free(&r);
    CHECK(server_log_has(&s, "runtime[", 3)); /* the source word defaults to "runtime" */
    CHECK((f = fopen(s.log, "r")) != NULL);
    while (fgets(line, sizeof(line), f))
        requests += strstr(line, "fake good got request") != NULL;
    fclose(f);
    CHECK_INT(requests, 2);
    server_stop(&s);
    unlink(fns);
}

/* --- a runtime that cannot start in the workers --- */

TEST(test_runtime_an_initializer_that_raises_is_a_crash_loop_named_in_readyz)
{
    char fns[128], text[1024];
    const char *args[] = {"--processes", "2", "--functions", fns, NULL};
    Server s;
    Resp r;
    int looping = 0;

    snprintf(text, sizeof(text), "{\"functions\": [{\"python\": \"%s\", \"initializer\": \"bad\"}]}",
             test_runtime_file("fns.py"));
    test_write_file(fns, sizeof(fns), "crashfns", text);
    server_start(&s, args); /* its description does not run the initializer */
    /* Named from the first death on, not only once the loop backs off. */
    for (double end = now_seconds() + 5; !looping && now_seconds() < end; usleep(50 * 1000)) {
        const char *detail;
        CHECK(req(&s, "GET", "/readyz", NULL, &r) == 0);
        CHECK_INT(r.status, 503);
        detail = json_string_value(jpath(r.json, "detail")) ?: "";
        looping = strstr(detail, "dying at start-up") != NULL;
        if (looping && !strstr(detail, "RuntimeError: bad initializer: cannot set up"))
            fprintf(stderr, "    /readyz: %s\n", detail);
        if (looping)
            CHECK(strstr(detail, "RuntimeError: bad initializer: cannot set up") != NULL);
        resp_free(&r);
    }
    CHECK(looping);
    /* Then the loop backs off, and calls stop waiting for a worker. */
    CHECK(server_log_has(&s, "workers keep dying at start-up", 20));
    /* A call fails fast, naming why. */
    CHECK(req(&s, "POST", "/v1/apply", "{\"func\":\"pid\"}", &r) == 0);
    CHECK_INT(r.status, 503);
    CHECK(resp_header(&r, "Retry-After") != NULL);
    CHECK(strstr(json_string_value(jpath(r.json, "detail")) ?: "", "RuntimeError") != NULL);
    resp_free(&r);
    server_stop(&s);
    unlink(fns);
}

TEST(test_runtime_a_crash_loop_backs_off)
{
    char fns[128], text[1024], line[4096];
    const char *args[] = {"--processes", "2", "--functions", fns, NULL};
    Server s;
    Resp r;
    int looping = 0, before = 0, after = 0;
    FILE *f;

    snprintf(text, sizeof(text), "{\"functions\": [{\"python\": \"%s\", \"initializer\": \"bad\"}]}",
             test_runtime_file("fns.py"));
    test_write_file(fns, sizeof(fns), "backofffns", text);
    server_start(&s, args);
    for (double end = now_seconds() + 20; !looping && now_seconds() < end; usleep(50 * 1000)) {
        CHECK(req(&s, "GET", "/readyz", NULL, &r) == 0);
        looping = strstr(json_string_value(jpath(r.json, "detail")) ?: "", "keep dying at start-up") != NULL;
        resp_free(&r);
    }
    CHECK(looping);
    for (int pass = 0; pass < 2; pass++) {
        int *n = pass ? &after : &before;
        if (pass)
            sleep(4);
        CHECK((f = fopen(s.log, "r")) != NULL);
        while (fgets(line, sizeof(line), f))
            *n += strstr(line, "cannot start: RuntimeError") != NULL;
        fclose(f);
    }
    /* A python3 start is a few tenths of a second: without backoff, two
     * workers would fail some 20 times in 4 s; with it, rounds 1 s then
     * 2 s apart, and the spawns already under way when the loop began. */
    if (after - before > 8)
        fprintf(stderr, "    %d failed starts in 4 s of crash loop\n", after - before);
    CHECK(after - before <= 8);
    server_stop(&s);
    unlink(fns);
}

/* --- start-up errors --- */

/* A --functions file of one entry; the argument that names it, with a
 * start-up deadline of `deadline` seconds (10 where the runtime is to
 * start: a loaded machine takes seconds to start Python and import a
 * file). */
static const char *
entry_arg(char *arg, size_t len, const char *stem, const char *entry, int deadline)
{
    char path[128], text[2048];

    snprintf(text, sizeof(text), "{\"functions\": [%s]}", entry);
    snprintf(arg, len, "--worker-start-timeout %d --functions %s", deadline,
             test_write_file(path, sizeof(path), stem, text));
    return arg;
}

/* The processes whose command line holds fake_runtime.py and then word. */
static int
fakes_running(const char *word)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;

    while (d && (e = readdir(d))) {
        char path[300], cmd[4096];
        size_t got;
        FILE *f;
        if (atoi(e->d_name) <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
        if (!(f = fopen(path, "r")))
            continue;
        got = fread(cmd, 1, sizeof(cmd) - 1, f);
        fclose(f);
        cmd[got] = '\0';
        for (size_t i = 0; i + 1 < got; i++)
            if (cmd[i] == '\0' && strstr(cmd, "fake_runtime.py") && strcmp(cmd + i + 1, word) == 0)
                n++;
    }
    if (d)
        closedir(d);
    return n;
}

TEST(test_runtime_each_startup_error_stops_poold_with_one_line)
{
    char arg[4096], a[128], b[128], entry[1024];
    const char *fns = test_runtime_file("fns.py");
    const char *fake = test_runtime_file("fake_runtime.py");

    expect_startup_error(strcat(strcpy(arg, "--python "),
                                test_write_file(a, sizeof(a), "imp.py", "import no_such_module_for_poold_tests\n")),
                         "ModuleNotFoundError: No module named 'no_such_module_for_poold_tests'");
    expect_startup_error("--python /nonexistent/poold-test.py", "/nonexistent/poold-test.py");
    /* Two files, one name: twin.py's and twin2.py's "twin". */
    test_write_file(a, sizeof(a), "twin.py", "def twin():\n    return 1\n");
    test_write_file(b, sizeof(b), "twin2.py", "def twin():\n    return 2\n");
    snprintf(arg, sizeof(arg), "--python %s --python %s", a, b);
    expect_startup_error(arg, "twin: the name is taken");
    /* Nothing public of its own: private names, imports. */
    test_write_file(a, sizeof(a), "none.py", "from json import dumps\nimport os\n_x = 1\n\ndef _hidden():\n    pass\n");
    snprintf(arg, sizeof(arg), "--python %s", a);
    expect_startup_error(arg, "serves no function");
    expect_startup_error(entry_arg(arg, sizeof(arg), "e1", "{\"runtime\": [\"no-such-command-for-poold\"]}", 10),
                         "no-such-command-for-poold");
    expect_startup_error(entry_arg(arg, sizeof(arg), "e2", "{\"python\": \"/nonexistent/poold-test.py\"}", 10),
                         "entry 1: 'python' must name a readable file");
    snprintf(entry, sizeof(entry), "{\"python\": \"%s\", \"initializer\": \"nosuch\"}", fns);
    expect_startup_error(entry_arg(arg, sizeof(arg), "e3", entry, 10), "the initializer 'nosuch' is not a function");
    snprintf(entry, sizeof(entry), "{\"python\": \"%s\", \"initargs\": [1]}", fns);
    expect_startup_error(entry_arg(arg, sizeof(arg), "e4", entry, 10), "'initargs' an array beside it");
    snprintf(entry, sizeof(entry), "{\"runtime\": [\"python3\", \"%s\", \"nothing\"]}", fake);
    expect_startup_error(entry_arg(arg, sizeof(arg), "e5", entry, 10), "serves no function");
    snprintf(entry, sizeof(entry), "{\"runtime\": [\"python3\", \"%s\", \"badready\"]}", fake);
    expect_startup_error(entry_arg(arg, sizeof(arg), "e6", entry, 10), "its first frame is not {\"ready\": ...}");
    snprintf(entry, sizeof(entry), "{\"runtime\": [\"python3\", \"%s\", \"hang\"]}", fake);
    expect_startup_error(entry_arg(arg, sizeof(arg), "e7", entry, 1), "not ready after 1 s");
    CHECK_INT(fakes_running("hang"), 0); /* killed at the deadline, not left behind */
    snprintf(entry, sizeof(entry), "{\"runtime\": [\"python3\", \"%s\", \"good\"], \"cwd\": \"/nonexistent\"}", fake);
    expect_startup_error(entry_arg(arg, sizeof(arg), "e8", entry, 10), "'cwd' a directory");
    for (const char *const *stem = (const char *const[]){"imp.py", "twin.py", "twin2.py", "none.py", "e1", "e2",
                                                         "e3", "e4", "e5", "e6", "e7", "e8", NULL};
         *stem; stem++) {
        snprintf(a, sizeof(a), "/tmp/poold-test-%d-%s", (int)getpid(), *stem);
        unlink(a);
    }
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
