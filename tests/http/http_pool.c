/*
 * http_pool.c: the pool as an operator sees it: /v1/pool, /v1/functions,
 * /healthz, real worker processes, a worker killed with SIGKILL, body and
 * queue bounds, flags, logs and shutdown.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"

static Server srv;

/* get_json, checked: the body of a 200 JSON answer (new reference). */
static json_t *
get_ok(const Server *s, const char *path)
{
    json_t *j = get_json(s, path);

    CHECK(j != NULL);
    return j;
}

/* Sends raw bytes on a fresh connection and returns the status code of
 * the answer (0 when none came). */
static int
raw_status(int port, const char *data, size_t len)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0), status = 0;
    char buf[512];
    ssize_t n;

    CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    for (size_t off = 0; off < len;) {
        n = send(fd, data + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server may answer and close before all is sent */
        off += (size_t)n;
    }
    n = recv(fd, buf, sizeof(buf) - 1, 0);
    if (n > 0) {
        buf[n] = '\0';
        sscanf(buf, "HTTP/1.1 %d", &status);
    }
    close(fd);
    return status;
}

TEST(test_pool_healthz_answers_ok)
{
    json_t *j = get_ok(&srv, "/healthz");

    CHECK_STR(json_string_value(json_object_get(j, "status")), "ok");
    json_decref(j);
}

TEST(test_functions_lists_the_builtins)
{
    static const char *const names[] = {"calc", "echo", "fib", "pow", "sha256", "sleep", "sum"};
    json_t *j = get_ok(&srv, "/v1/functions"), *fns = json_object_get(j, "functions");

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        json_t *f, *found = NULL;
        size_t k;
        json_array_foreach(fns, k, f)
            if (strcmp(json_string_value(json_object_get(f, "name")), names[i]) == 0)
                found = f;
        CHECK(found != NULL);
        CHECK_STR(json_string_value(json_object_get(found, "source")), "builtin");
        CHECK(json_string_length(json_object_get(found, "doc")) > 0);
    }
    json_decref(j);
}

TEST(test_pool_lists_distinct_worker_processes)
{
    json_t *j = get_ok(&srv, "/v1/pool"), *ws = json_object_get(j, "workers");
    int pids[2];

    CHECK_INT(json_integer_value(json_object_get(j, "processes")), 2);
    CHECK_INT(json_array_size(ws), 2);
    for (int i = 0; i < 2; i++) {
        json_t *w = json_array_get(ws, (size_t)i);
        char name[32];
        snprintf(name, sizeof(name), "ForkPoolWorker-%d", i + 1);
        CHECK_STR(json_string_value(json_object_get(w, "name")), name);
        pids[i] = (int)json_integer_value(json_object_get(w, "pid"));
        CHECK(pids[i] > 0);
        CHECK(pids[i] != srv.pid);
        CHECK(pids[i] != getpid());
        CHECK(kill(pids[i], 0) == 0); /* a live process */
        const char *state = json_string_value(json_object_get(w, "state"));
        CHECK(strcmp(state, "idle") == 0 || strcmp(state, "busy") == 0);
        CHECK(json_is_integer(json_object_get(w, "tasks_done")));
    }
    CHECK(pids[0] != pids[1]);
    CHECK(json_is_integer(jpath(j, "queue.queued")));
    CHECK(json_is_integer(jpath(j, "queue.running")));
    json_decref(j);
}

TEST(test_pool_counts_tasks_done)
{
    json_t *before = get_ok(&srv, "/v1/pool"), *after;
    long sum0 = 0, sum1 = 0;
    Resp r;

    CHECK(req(&srv, "POST", "/v1/map", "{\"func\":\"echo\",\"iterable\":[1,2,3,4,5,6],\"chunksize\":1}", &r) == 0);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    after = get_ok(&srv, "/v1/pool");
    for (size_t i = 0; i < 2; i++) {
        sum0 += (long)json_integer_value(jpath(before, i ? "workers.1.tasks_done" : "workers.0.tasks_done"));
        sum1 += (long)json_integer_value(jpath(after, i ? "workers.1.tasks_done" : "workers.0.tasks_done"));
    }
    CHECK_INT(sum1 - sum0, 6);
    json_decref(before);
    json_decref(after);
}

TEST(test_pool_debug_log_names_the_worker_of_each_task)
{
    Resp r;
    char line[1024];
    int found = 0;
    FILE *f = fopen(srv.log, "r");

    CHECK(f != NULL);
    fseek(f, 0, SEEK_END); /* only what this call logs counts */
    CHECK(req(&srv, "POST", "/v1/apply", "{\"func\":\"echo\",\"args\":[\"log me\"]}", &r) == 0);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    usleep(100 * 1000);
    clearerr(f);
    while (fgets(line, sizeof(line), f))
        found |= strstr(line, "started on ForkPoolWorker-") != NULL && strstr(line, " pid ") != NULL;
    fclose(f);
    CHECK(found);
}

static void *
calc_in_background(void *arg)
{
    Resp *r = arg;

    req(&srv, "POST", "/v1/apply", "{\"func\":\"sleep\",\"args\":[5]}", r);
    return NULL;
}

TEST(test_pool_killed_worker_gives_502_and_is_replaced)
{
    Resp r;
    pthread_t t;
    int victim = 0;
    double t0;

    CHECK(pthread_create(&t, NULL, calc_in_background, &r) == 0);
    for (double end = now_seconds() + 5; !victim && now_seconds() < end; usleep(20000)) {
        json_t *j = get_ok(&srv, "/v1/pool"), *w;
        size_t i;
        json_array_foreach(json_object_get(j, "workers"), i, w)
            if (strcmp(json_string_value(json_object_get(w, "state")), "busy") == 0)
                victim = (int)json_integer_value(json_object_get(w, "pid"));
        json_decref(j);
    }
    CHECK(victim > 0);
    t0 = now_seconds();
    CHECK(kill(victim, SIGKILL) == 0);
    pthread_join(t, NULL);
    CHECK(now_seconds() - t0 < 2.0); /* at once, not after the 5 s sleep */
    CHECK_INT(r.status, 502);
    CHECK_STR(resp_header(&r, "Content-Type"), "application/problem+json");
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "WorkerLost");
    CHECK(strstr(json_string_value(jpath(r.json, "error.message")), "signal 9") != NULL);
    resp_free(&r);

    /* The pool is back to two live workers, the new one with the next name. */
    int ready = 0;
    for (double end = now_seconds() + 5; !ready && now_seconds() < end; usleep(20000)) {
        json_t *j = get_ok(&srv, "/v1/pool"), *w;
        size_t i;
        int live = 0, fresh = 0;
        json_array_foreach(json_object_get(j, "workers"), i, w) {
            int pid = (int)json_integer_value(json_object_get(w, "pid"));
            live += pid > 0 && pid != victim && kill(pid, 0) == 0;
            fresh |= strcmp(json_string_value(json_object_get(w, "name")), "ForkPoolWorker-3") == 0;
        }
        ready = live == 2 && fresh;
        json_decref(j);
    }
    CHECK(ready);
    CHECK(req(&srv, "POST", "/v1/map", "{\"func\":\"fib\",\"iterable\":[10,20],\"chunksize\":1}", &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "{\"results\":[55,6765]}");
    resp_free(&r);
}

TEST(test_pool_body_over_max_body_is_413)
{
    static const char *const args[] = {"--max-body", "1K", "--processes", "1", NULL};
    Server s;
    char body[4096], head[256];
    Resp r;

    server_start(&s, args);
    memset(body, ' ', sizeof(body));
    memcpy(body, "{\"func\":\"echo\",\"args\":[1]}", 26);
    body[sizeof(body) - 1] = '\0';
    CHECK(req(&s, "POST", "/v1/apply", body, &r) == 0);
    CHECK_INT(r.status, 413);
    CHECK_STR(resp_header(&r, "Content-Type"), "application/problem+json");
    resp_free(&r);
    /* Without Content-Length: chunked, and cut off at the limit. */
    size_t off = (size_t)snprintf(head, sizeof(head),
                                  "POST /v1/apply HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    char *chunked = malloc(off + 3 * 1100 + 16);
    memcpy(chunked, head, off);
    for (int i = 0; i < 3; i++) {
        off += (size_t)sprintf(chunked + off, "400\r\n");
        memset(chunked + off, ' ', 1024);
        off += 1024;
        off += (size_t)sprintf(chunked + off, "\r\n");
    }
    off += (size_t)sprintf(chunked + off, "0\r\n\r\n");
    CHECK_INT(raw_status(s.port, chunked, off), 413);
    free(chunked);
    /* A body just under the limit still works. */
    CHECK(req(&s, "POST", "/v1/apply", "{\"func\":\"echo\",\"args\":[1]}", &r) == 0);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    CHECK(WIFEXITED(server_stop(&s)));
}

static Server q_srv;

static void *
slow_map(void *arg)
{
    /* Four one-second tasks on the one worker: one runs, three wait. */
    req(&q_srv, "POST", "/v1/map", "{\"func\":\"sleep\",\"iterable\":[1,1,1,1],\"chunksize\":1}", arg);
    return NULL;
}

TEST(test_pool_full_queue_is_503_with_retry_after)
{
    static const char *const args[] = {"--max-queue", "4", "--processes", "1", NULL};
    pthread_t t;
    Resp bg, r;

    server_start(&q_srv, args);
    CHECK(pthread_create(&t, NULL, slow_map, &bg) == 0);
    /* Waiting, whether written ahead to the worker or in the queue. */
    CHECK(await_pool_number(&q_srv, "queue.queued", 3, 5));
    post(&q_srv, "/v1/apply_async", "{\"func\":\"echo\",\"args\":[1]}", 202, &r);
    resp_free(&r);
    CHECK_INT(pool_number(&q_srv, "queue.queued"), 4);
    CHECK(req(&q_srv, "POST", "/v1/apply", "{\"func\":\"echo\",\"args\":[1]}", &r) == 0);
    CHECK_INT(r.status, 503);
    CHECK_STR(resp_header(&r, "Content-Type"), "application/problem+json");
    CHECK_STR(resp_header(&r, "Retry-After"), "1");
    resp_free(&r);
    pthread_join(t, NULL);
    CHECK_INT(bg.status, 200);
    resp_free(&bg);
    /* Drained: served again. */
    CHECK(req(&q_srv, "POST", "/v1/apply", "{\"func\":\"echo\",\"args\":[1]}", &r) == 0);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    server_stop(&q_srv);
}

TEST(test_pool_map_larger_than_the_queue_is_400)
{
    static const char *const args[] = {"--max-queue", "3", "--processes", "1", NULL};
    Server s;
    Resp r;

    server_start(&s, args);
    /* Four tasks can never fit a queue of three: waiting would not help,
     * so this is the caller's to fix (a larger chunksize), not a 503. */
    CHECK(req(&s, "POST", "/v1/map", "{\"func\":\"echo\",\"iterable\":[1,2,3,4],\"chunksize\":1}", &r) == 0);
    CHECK_INT(r.status, 400);
    CHECK_STR(json_string_value(jpath(r.json, "field")), "chunksize");
    CHECK(resp_header(&r, "Retry-After") == NULL);
    resp_free(&r);
    CHECK(req(&s, "POST", "/v1/map", "{\"func\":\"echo\",\"iterable\":[1,2,3,4],\"chunksize\":2}", &r) == 0);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    server_stop(&s);
}

static Server sig_srv;

static void *
slow_call(void *arg)
{
    req(&sig_srv, "POST", "/v1/apply", "{\"func\":\"sleep\",\"args\":[1]}", arg);
    return NULL;
}

TEST(test_pool_sigterm_answers_the_call_in_flight_and_exits_0)
{
    static const char *const args[] = {"--processes", "1", NULL};
    pthread_t t;
    Resp r;
    int st;

    server_start(&sig_srv, args);
    CHECK(pthread_create(&t, NULL, slow_call, &r) == 0);
    long running = 0;
    for (double end = now_seconds() + 5; running < 1 && now_seconds() < end; usleep(10000)) {
        json_t *j = get_ok(&sig_srv, "/v1/pool");
        running = (long)json_integer_value(jpath(j, "queue.running"));
        json_decref(j);
    }
    CHECK_INT(running, 1); /* the call is in flight when the signal comes */
    st = server_stop(&sig_srv);
    pthread_join(t, NULL);
    CHECK_INT(r.status, 200);
    CHECK_INT(json_integer_value(jpath(r.json, "result")), 1);
    resp_free(&r);
    CHECK(WIFEXITED(st));
    CHECK_INT(WEXITSTATUS(st), 0);
}

/* Runs the binary with args and returns its wait status; its stderr goes
 * to errbuf. A sanitizer's report there fails the test (a leak at a
 * usage error's exit would otherwise read as a wrong status only). */
static int
run_binary(const char *const *args, char *errbuf, size_t len)
{
    const char *bin = getenv("POOLD_BIN") ? getenv("POOLD_BIN") : "build/poold";
    const char *argv[16] = {bin};
    int pipefd[2], st = 0;
    pid_t pid;

    for (int i = 0; i < 14 && args[i]; i++)
        argv[i + 1] = args[i];
    CHECK(pipe(pipefd) == 0);
    if ((pid = fork()) == 0) {
        dup2(pipefd[1], 2);
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    /* All of it: a child left with unread output would die of SIGPIPE. */
    size_t got = 0;
    ssize_t n;
    while (got < len - 1 && (n = read(pipefd[0], errbuf + got, len - 1 - got)) > 0)
        got += (size_t)n;
    errbuf[got] = '\0';
    close(pipefd[0]);
    waitpid(pid, &st, 0);
    poold_output_check(args[0] ? args[0] : "poold", errbuf);
    return st;
}

TEST(test_pool_bad_flags_exit_2_with_one_line)
{
    static const char *const cases[][3] = {
        {"--processes", "0", NULL}, {"--port", "99999", NULL}, {"--bogus", NULL, NULL},
        {"--max-body", "lots", NULL}, {"--store", "nowhere", NULL}, {"--log-level", "loud", NULL},
        {"--host", "no such host.invalid", NULL},
    };
    char out[1024];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int st = run_binary(cases[i], out, sizeof(out));
        CHECK(WIFEXITED(st));
        CHECK_INT(WEXITSTATUS(st), 2);
        CHECK(strncmp(out, "poold: ", 7) == 0);
        CHECK(strchr(out, '\n') == out + strlen(out) - 1); /* one line */
    }
}

TEST(test_pool_help_lists_every_flag_and_its_environment_twin)
{
    static const char *const args[] = {"--help", NULL};
    static const char *const flags[] = {"--host", "--port", "--processes", "--max-body",
                                        "--max-queue", "--store", "--log-level",
                                        "POOLD_PORT", "POOLD_PROCESSES"};
    char out[16384];
    int st = run_binary(args, out, sizeof(out));

    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        CHECK(strstr(out, flags[i]) != NULL);
}

TEST(test_pool_size_is_set_by_the_environment)
{
    Server s;

    setenv("POOLD_PROCESSES", "3", 1);
    server_start(&s, NULL);
    json_t *j = get_ok(&s, "/v1/pool");
    CHECK_INT(json_array_size(json_object_get(j, "workers")), 3);
    json_decref(j);
    server_stop(&s);
}

int
main(int argc, char **argv)
{
    static const char *const args[] = {"--processes", "2", "--log-level", "debug", NULL};
    int rc;

    server_start(&srv, args);
    rc = harness_run(argc, argv);
    server_stop(&srv);
    return rc;
}
