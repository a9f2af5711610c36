/*
 * http_functions.c: the functions users bring: C plugins (--plugin, the
 * example wordcount and the test plugin) and operator-declared exec
 * functions (--functions), each over the real server; and the start-up
 * errors of both.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"
#include "startup.h"

static char fns_path[128], pg_path[128];

/* The example plugin, built by `make`. */
static const char *
example_plugin(void)
{
    static char path[512];
    const char *dir = getenv("POOLD_PLUGIN_DIR") ? getenv("POOLD_PLUGIN_DIR") : "build";

    snprintf(path, sizeof(path), "%s/plugins/example.so", dir);
    return path;
}

/* Writes text to a file named for this test process; returns its path in
 * a static buffer. */
static const char *
write_file(char *path, size_t len, const char *stem, const char *text)
{
    FILE *f;

    snprintf(path, len, "/tmp/poold-test-%s-%d", stem, (int)getpid());
    CHECK((f = fopen(path, "w")) != NULL);
    fputs(text, f);
    fclose(f);
    return path;
}

/* The exec functions the tests declare. "slow" writes its shell's pid,
 * which is its process group, to pg_path, and leaves a child behind. */
static const char *
functions_file(void)
{
    char text[4096];

    snprintf(pg_path, sizeof(pg_path), "/tmp/poold-test-pg-%d", (int)getpid());
    snprintf(text, sizeof(text),
             "{\"functions\": [\n"
             " {\"name\": \"upper\", \"exec\": [\"tr\", \"a-z\", \"A-Z\"], \"doc\": \"upper-cases its JSON\"},\n"
             " {\"name\": \"fail\", \"exec\": [\"sh\", \"-c\", \"echo oops on stderr >&2; exit 4\"]},\n"
             " {\"name\": \"text\", \"exec\": [\"sh\", \"-c\", \"cat >/dev/null; echo not json\"]},\n"
             " {\"name\": \"env\", \"exec\": [\"sh\", \"-c\", \"cat >/dev/null; printf '\\\"%%s %%s\\\"' \\\"$GREETING\\\" \\\"$(pwd)\\\"\"],"
             " \"env\": {\"GREETING\": \"hi\"}, \"cwd\": \"/tmp\"},\n"
             " {\"name\": \"slow\", \"exec\": [\"sh\", \"-c\", \"echo $$ > %s; sleep 30 & sleep 30\"], \"timeout\": 0.5},\n"
             " {\"name\": \"slower\", \"exec\": [\"sh\", \"-c\", \"echo $$ > %s; sleep 30 & sleep 30\"]},\n"
             " {\"name\": \"noisy\", \"exec\": [\"sh\", \"-c\", \"cat >/dev/null; i=0; while [ $i -lt 1500 ];"
             " do printf '\\\\303\\\\251' >&2; i=$((i+1)); done; echo; echo FINAL: the real error >&2; exit 3\"]},\n"
             " {\"name\": \"badutf8\", \"exec\": [\"sh\", \"-c\", \"cat >/dev/null; printf '"
             "A[\\\\355\\\\240\\\\200]B[\\\\300\\\\257]C[\\\\303\\\\251\\\\342\\\\202\\\\254"
             "\\\\360\\\\237\\\\230\\\\200]D[\\\\340\\\\200\\\\257]E[\\\\364\\\\220\\\\200\\\\200]"
             "F[\\\\365]G[\\\\355\\\\237\\\\277\\\\364\\\\217\\\\277\\\\277]' >&2; exit 5\"]},\n"
             " {\"name\": \"big\", \"exec\": [\"sh\", \"-c\", \"cat >/dev/null; head -c 2000000 /dev/zero\"]},\n"
             " {\"name\": \"quick\", \"exec\": [\"sh\", \"-c\", \"cat >/dev/null; sleep 30 & echo 7\"], \"timeout\": 5}\n"
             "]}\n", pg_path, pg_path);
    return write_file(fns_path, sizeof(fns_path), "fns", text);
}

static void
start(Server *s)
{
    const char *args[] = {"--processes", "2", "--plugin", example_plugin(), "--functions", functions_file(),
                          "--max-result", "1M", NULL};

    server_start(s, args);
    unlink(fns_path); /* read at start-up */
}

/* The number of live processes in process group pg. */
static int
group_size(int pg)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;

    while (d && (e = readdir(d))) {
        char path[320], buf[512], *p;
        FILE *f;
        int pgrp = 0;
        char state = 0;
        if (atoi(e->d_name) <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        if (!(f = fopen(path, "r")))
            continue;
        if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
            sscanf(p + 2, "%c %*d %d", &state, &pgrp);
        fclose(f);
        n += pgrp == pg && state != 'Z';
    }
    if (d)
        closedir(d);
    return n;
}

/* The process group "slow" wrote, once it has. */
static int
slow_group(void)
{
    for (int i = 0; i < 100; i++) {
        FILE *f = fopen(pg_path, "r");
        int pg = 0;
        if (f) {
            if (fscanf(f, "%d", &pg) != 1)
                pg = 0;
            fclose(f);
        }
        if (pg > 0)
            return pg;
        usleep(10 * 1000);
    }
    return 0;
}

TEST(test_plugin_example_wordcount_in_apply_and_map)
{
    Server s;
    Resp r;

    start(&s);
    post(&s, "/v1/apply", "{\"func\":\"wordcount\",\"args\":[\"the quick  brown\\tfox\\n\"]}", 200, &r);
    CHECK_INT(json_integer_value(jpath(r.json, "result")), 4);
    resp_free(&r);
    post(&s, "/v1/map", "{\"func\":\"wordcount\",\"iterable\":[\"a\",\"\",\"a b c\",\"  x  \"]}", 200, &r);
    CHECK_INT(json_integer_value(jpath(r.json, "results.0")), 1);
    CHECK_INT(json_integer_value(jpath(r.json, "results.1")), 0);
    CHECK_INT(json_integer_value(jpath(r.json, "results.2")), 3);
    CHECK_INT(json_integer_value(jpath(r.json, "results.3")), 1);
    resp_free(&r);
    post(&s, "/v1/apply", "{\"func\":\"wordcount\",\"args\":[7]}", 422, &r);
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "TypeError");
    resp_free(&r);
    server_stop(&s);
}

TEST(test_functions_lists_each_source_with_its_doc)
{
    Server s;
    json_t *j, *f;
    size_t i;
    int seen = 0;

    start(&s);
    j = get_json(&s, "/v1/functions");
    json_array_foreach(json_object_get(j, "functions"), i, f) {
        const char *name = json_string_value(json_object_get(f, "name"));
        const char *source = json_string_value(json_object_get(f, "source"));
        if (strcmp(name, "wordcount") == 0) {
            CHECK_STR(source, "plugin");
            CHECK(strstr(json_string_value(json_object_get(f, "doc")), "words") != NULL);
            seen |= 1;
        } else if (strcmp(name, "upper") == 0) {
            CHECK_STR(source, "exec");
            CHECK_STR(json_string_value(json_object_get(f, "doc")), "upper-cases its JSON");
            seen |= 2;
        } else if (strcmp(name, "pow") == 0) {
            CHECK_STR(source, "builtin");
            seen |= 4;
        }
    }
    CHECK_INT(seen, 7);
    json_decref(j);
    server_stop(&s);
}

TEST(test_exec_upper_round_trips_json)
{
    Server s;
    Resp r;

    start(&s);
    /* (tr would upper-case null and true too: numbers and strings only.) */
    post(&s, "/v1/apply", "{\"func\":\"upper\",\"args\":[\"hello\",{\"key\":[1,2.5]}]}", 200, &r);
    CHECK_STR(json_string_value(jpath(r.json, "result.0")), "HELLO");
    CHECK_INT(json_integer_value(jpath(r.json, "result.1.KEY.0")), 1);
    CHECK(json_real_value(jpath(r.json, "result.1.KEY.1")) == 2.5);
    resp_free(&r);
    post(&s, "/v1/map", "{\"func\":\"upper\",\"iterable\":[\"a\",\"b\"],\"chunksize\":1}", 200, &r);
    CHECK_STR(json_string_value(jpath(r.json, "results.0.0")), "A");
    CHECK_STR(json_string_value(jpath(r.json, "results.1.0")), "B");
    resp_free(&r);
    /* Output that is not JSON is a string, final newline trimmed; env and
     * cwd are the operator's. */
    post(&s, "/v1/apply", "{\"func\":\"text\"}", 200, &r);
    CHECK_STR(json_string_value(jpath(r.json, "result")), "not json");
    resp_free(&r);
    post(&s, "/v1/apply", "{\"func\":\"env\"}", 200, &r);
    CHECK_STR(json_string_value(jpath(r.json, "result")), "hi /tmp");
    resp_free(&r);
    server_stop(&s);
}

TEST(test_exec_failing_command_is_422_with_its_stderr)
{
    Server s;
    Resp r;

    start(&s);
    post(&s, "/v1/apply", "{\"func\":\"fail\"}", 422, &r);
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "ExecError");
    CHECK(strstr(json_string_value(jpath(r.json, "error.message")), "exited with status 4") != NULL);
    CHECK(strstr(json_string_value(jpath(r.json, "error.message")), "oops on stderr") != NULL);
    resp_free(&r);
    post(&s, "/v1/apply", "{\"func\":\"upper\",\"kwds\":{\"x\":1}}", 422, &r);
    resp_free(&r);
    server_stop(&s);
}

TEST(test_exec_past_its_timeout_is_504_and_leaves_no_process)
{
    Server s;
    Resp r;
    double t0;
    int pg;

    start(&s);
    unlink(pg_path);
    t0 = now_seconds();
    post(&s, "/v1/apply", "{\"func\":\"slow\"}", 504, &r);
    CHECK(now_seconds() - t0 < 2);
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "TimedOut");
    resp_free(&r);
    pg = slow_group();
    CHECK(pg > 0);
    for (int i = 0; i < 100 && group_size(pg) > 0; i++)
        usleep(10 * 1000);
    CHECK_INT(group_size(pg), 0); /* the shell and both sleeps are gone */
    /* The call's own timeout stops the worker: the command's group goes
     * with it. */
    unlink(pg_path);
    post(&s, "/v1/apply", "{\"func\":\"slower\",\"timeout\":0.5}", 504, &r);
    resp_free(&r);
    pg = slow_group();
    CHECK(pg > 0);
    for (int i = 0; i < 100 && group_size(pg) > 0; i++)
        usleep(10 * 1000);
    CHECK_INT(group_size(pg), 0);
    unlink(pg_path);
    server_stop(&s);
}

TEST(test_exec_long_non_ascii_stderr_keeps_its_end_and_status)
{
    Server s;
    Resp r;
    const char *m;

    start(&s);
    post(&s, "/v1/apply", "{\"func\":\"noisy\"}", 422, &r);
    m = json_string_value(jpath(r.json, "error.message"));
    CHECK(m != NULL);
    CHECK(strstr(m, "exited with status 3") != NULL);
    CHECK(strstr(m, "FINAL: the real error") != NULL); /* the tail, whole */
    CHECK(strstr(m, "\xc3\xa9") != NULL);              /* and its text */
    resp_free(&r);
    server_stop(&s);
}

/* RFC 3629: a surrogate (ED A0 80), an overlong (C0 AF, E0 80 AF), a value
 * past U+10FFFF (F4 90 80 80) and a lead byte F5 become one '?' a byte;
 * characters of 2, 3 and 4 bytes stay, up to the ends of the ranges. */
TEST(test_exec_stderr_tail_replaces_each_invalid_utf8_byte)
{
    Server s;
    Resp r;
    const char *m;

    start(&s);
    post(&s, "/v1/apply", "{\"func\":\"badutf8\"}", 422, &r);
    m = json_string_value(jpath(r.json, "error.message"));
    CHECK(m != NULL);
    CHECK(strstr(m, "exited with status 5: A[???]B[??]C[\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80]D[???]"
                    "E[????]F[?]G[\xed\x9f\xbf\xf4\x8f\xbf\xbf]") != NULL);
    resp_free(&r);
    server_stop(&s);
}

TEST(test_exec_output_over_max_result_is_an_error)
{
    Server s;
    Resp r;

    start(&s);
    post(&s, "/v1/apply", "{\"func\":\"big\"}", 422, &r);
    CHECK(strstr(json_string_value(jpath(r.json, "error.message")), "--max-result") != NULL);
    resp_free(&r);
    server_stop(&s);
}

TEST(test_exec_answers_when_the_command_exits_not_when_its_children_do)
{
    Server s;
    Resp r;
    double t0;

    start(&s);
    t0 = now_seconds();
    post(&s, "/v1/apply", "{\"func\":\"quick\"}", 200, &r);
    CHECK_INT(json_integer_value(jpath(r.json, "result")), 7);
    CHECK(now_seconds() - t0 < 2);
    resp_free(&r);
    server_stop(&s);
}

/* Starts "slower" as a job and waits until its shell has written its
 * process group; returns the job's id in id. */
static int
start_slower_job(const Server *s, char *id, size_t len)
{
    Resp r;

    unlink(pg_path);
    post(s, "/v1/apply_async", "{\"func\":\"slower\"}", 202, &r);
    snprintf(id, len, "%s", json_string_value(jpath(r.json, "id")));
    resp_free(&r);
    return slow_group();
}

TEST(test_exec_cancelling_or_stopping_leaves_no_process)
{
    Server s;
    Resp r;
    char id[64], path[128];
    int pg, st;

    start(&s);
    pg = start_slower_job(&s, id, sizeof(id));
    CHECK(pg > 0 && group_size(pg) > 0);
    snprintf(path, sizeof(path), "/v1/jobs/%s", id);
    CHECK(req(&s, "DELETE", path, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    for (int i = 0; i < 100 && group_size(pg) > 0; i++)
        usleep(10 * 1000);
    CHECK_INT(group_size(pg), 0);

    pg = start_slower_job(&s, id, sizeof(id));
    CHECK(pg > 0 && group_size(pg) > 0);
    kill(s.pid, SIGTERM); /* the grace (30 s) is cut short by a second signal */
    usleep(200 * 1000);
    kill(s.pid, SIGTERM);
    CHECK(waitpid(s.pid, &st, 0) == s.pid);
    s.expect_exit = 1; /* the second signal's exit at once */
    server_reaped(&s, st);
    for (int i = 0; i < 200 && group_size(pg) > 0; i++)
        usleep(10 * 1000);
    CHECK_INT(group_size(pg), 0);
    unlink(pg_path);
}

TEST(test_functions_undeclared_function_is_404)
{
    Server s;
    Resp r;

    start(&s);
    post(&s, "/v1/apply", "{\"func\":\"rm\",\"args\":[\"-rf\",\"/\"]}", 404, &r);
    resp_free(&r);
    server_stop(&s);
}

TEST(test_plugin_initializer_runs_once_in_each_worker_and_each_replacement)
{
    char log[128];
    const char *args[] = {"--plugin", test_plugin(), "--processes", "2", NULL};
    Server s;
    Resp r;
    FILE *f;
    unsigned number;
    int pid, lines = 0;
    unsigned seen = 0;

    snprintf(log, sizeof(log), "/tmp/poold-test-init-%d", (int)getpid());
    unlink(log);
    setenv("MISBEHAVE_INIT_LOG", log, 1);
    server_start(&s, args);
    unsetenv("MISBEHAVE_INIT_LOG");
    post(&s, "/v1/apply", "{\"func\":\"crash\"}", 502, &r); /* ForkPoolWorker-3 replaces it */
    resp_free(&r);
    CHECK(await_idle_workers(&s, 2, 3));
    CHECK((f = fopen(log, "r")) != NULL);
    while (fscanf(f, "%u %d", &number, &pid) == 2) {
        lines++;
        CHECK(number >= 1 && number <= 3);
        CHECK(!(seen & (1u << number))); /* once per worker */
        seen |= 1u << number;
        CHECK(pid > 0 && pid != s.pid);
    }
    fclose(f);
    CHECK_INT(lines, 3);
    unlink(log);
    server_stop(&s);
}

TEST(test_functions_each_startup_error_stops_poold_with_a_message)
{
    char path[128], arg[1200], dir[512];
    const char *noentry;

    snprintf(dir, sizeof(dir), "%s", test_plugin());
    *strrchr(dir, '/') = '\0';
    expect_startup_error("--plugin /nonexistent/x.so", "/nonexistent/x.so");
    noentry = strcat(dir, "/noentry.so");
    snprintf(arg, sizeof(arg), "--plugin %s", noentry);
    expect_startup_error(arg, "not a poold plugin");
    snprintf(dir, sizeof(dir), "%s", test_plugin());
    *strrchr(dir, '/') = '\0';
    snprintf(arg, sizeof(arg), "--plugin %s/badabi.so", dir);
    expect_startup_error(arg, "rebuild it");
    snprintf(arg, sizeof(arg), "--plugin %s --plugin %s", test_plugin(), test_plugin());
    expect_startup_error(arg, "'crash': the name is taken");
    snprintf(arg, sizeof(arg), "--functions %s", write_file(path, sizeof(path), "bad1", "{\"functions\": ["));
    expect_startup_error(arg, path);
    snprintf(arg, sizeof(arg), "--functions %s",
             write_file(path, sizeof(path), "bad2", "{\"functions\": [{\"name\": \"x\"}]}"));
    expect_startup_error(arg, "entry 1 ('x'): 'exec' is required");
    snprintf(arg, sizeof(arg), "--functions %s",
             write_file(path, sizeof(path), "bad3",
                        "{\"functions\": [{\"name\": \"x\", \"exec\": [\"true\"]},"
                        " {\"name\": \"x\", \"exec\": [\"true\"]}]}"));
    expect_startup_error(arg, "entry 2 ('x'): the name is taken");
    snprintf(arg, sizeof(arg), "--functions %s",
             write_file(path, sizeof(path), "bad4",
                        "{\"functions\": [{\"name\": \"echo\", \"exec\": [\"true\"]}]}"));
    expect_startup_error(arg, "entry 1 ('echo'): the name is taken");
    snprintf(arg, sizeof(arg), "--functions %s",
             write_file(path, sizeof(path), "bad5",
                        "{\"functions\": [{\"name\": \"y\", \"exec\": [\"no-such-command-here\"]}]}"));
    expect_startup_error(arg, "entry 1 ('y'): command not found: no-such-command-here");
    for (int i = 1; i <= 5; i++) {
        snprintf(path, sizeof(path), "/tmp/poold-test-bad%d-%d", i, (int)getpid());
        unlink(path);
    }
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
