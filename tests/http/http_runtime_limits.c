/*
 * http_runtime_limits.c: the limits poold puts on a warm runtime's task
 * (issue 19), over the real server with tests/runtime/fns.py: a timeout
 * (on a sleep, on a C loop that ignores SIGTERM, on a function that
 * started children), a cancelled job, --worker-memory-limit,
 * --worker-cpu-limit, --max-result. Past one, the runtime's whole group
 * is gone and the next call works; within one, nothing is replaced. And
 * where a worker and its runtime run: on one CPU (--runtime-affinity).
 */
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"

/* Starts poold serving fns.py on one worker, with up to two extra
 * arguments (a name and its value; NULLs for none). */
static void
start(Server *s, const char *opt, const char *value)
{
    const char *args[] = {"--processes", "1", "--python", test_runtime_file("fns.py"), opt, value, NULL};

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

static int
sanitized(void)
{
    return getenv("POOLD_SANITIZED") && strcmp(getenv("POOLD_SANITIZED"), "1") == 0;
}

/* --- timeouts --- */

/* A call that runs past its timeout of 1 s: 504 soon after, its runtime
 * (pid) killed, and a fresh one answers the next call. */
static void
expect_timeout(const Server *s, const char *body, int pid)
{
    Resp r;
    double t0 = now_seconds();

    post(s, "/v1/apply", body, 504, &r);
    CHECK(now_seconds() - t0 < 4);
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "TimedOut");
    resp_free(&r);
    CHECK(test_pid_gone(pid, 3));
    CHECK(runtime_pid(s) != pid);
}

TEST(test_runtime_timeout_kills_a_sleeping_function_and_the_next_call_works)
{
    Server s;

    start(&s, NULL, NULL);
    expect_timeout(&s, "{\"func\":\"sleepy\",\"args\":[30],\"timeout\":1}", runtime_pid(&s));
    server_stop(&s);
}

TEST(test_runtime_timeout_kills_a_c_loop_that_ignores_sigterm)
{
    Server s;

    start(&s, NULL, NULL);
    expect_timeout(&s, "{\"func\":\"spin\",\"timeout\":1}", runtime_pid(&s));
    server_stop(&s);
}

/* In a map, the timeout counts per item, as for a built-in: the runtime
 * says when each item starts. */
TEST(test_runtime_timeout_in_a_map_counts_per_item_and_names_the_late_one)
{
    Server s;
    Resp r;
    int pid;

    start(&s, NULL, NULL);
    post(&s, "/v1/map", "{\"func\":\"sleepy\",\"iterable\":[0.6,0.6,0.6],\"chunksize\":3,\"timeout\":1}", 200, &r);
    CHECK_INT(json_array_size(jpath(r.json, "results")), 3);
    resp_free(&r);
    pid = runtime_pid(&s);
    post(&s, "/v1/map", "{\"func\":\"sleepy\",\"iterable\":[0.1,30,0.1],\"chunksize\":3,\"timeout\":1}", 504, &r);
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "TimedOut");
    CHECK_INT(json_integer_value(jpath(r.json, "index")), 1);
    resp_free(&r);
    CHECK(test_pid_gone(pid, 3));
    CHECK(runtime_pid(&s) != pid);
    server_stop(&s);
}

TEST(test_runtime_timeout_takes_the_functions_children_too)
{
    char path[128], body[256];
    Server s;
    FILE *f;
    int child = 0;

    snprintf(path, sizeof(path), "/tmp/poold-test-child-%d", (int)getpid());
    unlink(path);
    start(&s, NULL, NULL);
    snprintf(body, sizeof(body), "{\"func\":\"with_child\",\"args\":[\"%s\",30],\"timeout\":1}", path);
    expect_timeout(&s, body, runtime_pid(&s));
    CHECK((f = fopen(path, "r")) != NULL);
    CHECK(fscanf(f, "%d", &child) == 1);
    fclose(f);
    CHECK(child > 0);
    if (!test_pid_gone(child, 3)) {
        fprintf(stderr, "    the function's child %d outlived the timeout\n", child);
        kill(child, SIGKILL);
        CHECK(0);
    }
    unlink(path);
    server_stop(&s);
}

TEST(test_runtime_cancelling_a_running_job_kills_the_runtime_and_the_next_call_works)
{
    char id[64], path[128];
    Server s;
    Resp r;
    int pid;

    start(&s, NULL, NULL);
    pid = runtime_pid(&s);
    snprintf(id, sizeof(id), "%s", job_submit(&s, "/v1/apply_async", "{\"func\":\"sleepy\",\"args\":[30]}"));
    for (double end = now_seconds() + 5; strcmp(job_status(&s, id), "running") != 0 && now_seconds() < end;)
        usleep(20 * 1000);
    CHECK_STR(job_status(&s, id), "running");
    usleep(200 * 1000); /* the request with the runtime */
    snprintf(path, sizeof(path), "/v1/jobs/%s", id);
    CHECK(req(&s, "DELETE", path, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    CHECK_STR(job_status(&s, id), "cancelled");
    CHECK(test_pid_gone(pid, 3));
    CHECK(runtime_pid(&s) != pid);
    server_stop(&s);
}

/* --- memory, CPU --- */

TEST(test_runtime_memory_limit_is_a_memoryerror_and_the_runtime_goes_on)
{
    Server s;
    Resp r;
    int pid;

    if (sanitized()) { /* ASan's reserved address space and RLIMIT_AS do not mix */
        fprintf(stderr, "    skipped under the sanitizers\n");
        return;
    }
    start(&s, "--worker-memory-limit", "300M");
    pid = runtime_pid(&s);
    post(&s, "/v1/apply", "{\"func\":\"hog\",\"args\":[1024]}", 422, &r);
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "MemoryError");
    CHECK(strstr(json_string_value(jpath(r.json, "error.traceback")) ?: "", "in hog") != NULL);
    resp_free(&r);
    post(&s, "/v1/apply", "{\"func\":\"hog\",\"args\":[16]}", 200, &r);
    CHECK_INT(json_integer_value(jpath(r.json, "result")), 16 << 20);
    resp_free(&r);
    CHECK_INT(runtime_pid(&s), pid);
    server_stop(&s);
}

TEST(test_runtime_cpu_limit_kills_a_spinning_runtime_naming_sigxcpu)
{
    Server s;
    Resp r;
    int pid;
    const char *m;

    start(&s, "--worker-cpu-limit", "1");
    pid = runtime_pid(&s);
    post(&s, "/v1/apply", "{\"func\":\"spin\"}", 502, &r);
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "WorkerLost");
    m = json_string_value(jpath(r.json, "error.message")) ?: "";
    if (!strstr(m, "SIGXCPU") || !strstr(m, "--worker-cpu-limit"))
        fprintf(stderr, "    %s\n", r.body);
    CHECK(strstr(m, "SIGXCPU") != NULL);
    CHECK(strstr(m, "--worker-cpu-limit") != NULL);
    resp_free(&r);
    CHECK(test_pid_gone(pid, 3));
    CHECK(runtime_pid(&s) != pid);
    server_stop(&s);
}

/* --- --max-result --- */

TEST(test_runtime_a_result_over_max_result_is_an_error_naming_it_and_the_next_call_works)
{
    Server s;
    Resp r;

    start(&s, "--max-result", "64K");
    /* The answer's frame is past the bound: the runtime is replaced. */
    post(&s, "/v1/apply", "{\"func\":\"big\",\"args\":[200000]}", 502, &r);
    CHECK(strstr(json_string_value(jpath(r.json, "error.message")) ?: "", "--max-result") != NULL);
    resp_free(&r);
    post(&s, "/v1/apply", "{\"func\":\"big\",\"args\":[60000]}", 200, &r);
    CHECK_INT(json_string_length(jpath(r.json, "result")), 60000);
    resp_free(&r);
    server_stop(&s);
}

/* --max-result bounds a result, as it bounds an exec function's output
 * per call: a map whose results each fit is not refused because a chunk
 * of them together would not. */
TEST(test_runtime_map_results_each_within_max_result_pass_whatever_the_chunksize)
{
    char body[512];
    Server s;
    Resp r;
    int pid, n;

    start(&s, "--max-result", "64K");
    pid = runtime_pid(&s);
    n = snprintf(body, sizeof(body), "{\"func\":\"big\",\"chunksize\":20,\"iterable\":[");
    for (int i = 0; i < 20; i++)
        n += snprintf(body + n, sizeof(body) - (size_t)n, "%s10000", i ? "," : "");
    snprintf(body + n, sizeof(body) - (size_t)n, "]}");
    CHECK(req(&s, "POST", "/v1/map", body, &r) == 0);
    if (r.status != 200)
        fprintf(stderr, "    20 results of 10 kB under --max-result 64K -> %ld %.300s\n", r.status, r.body);
    CHECK_INT(r.status, 200);
    CHECK_INT(json_array_size(jpath(r.json, "results")), 20);
    resp_free(&r);
    CHECK_INT(runtime_pid(&s), pid);
    server_stop(&s);
}

/* --- placement --- */

/* The CPUs process pid may run on, as a set. */
static int
cpus_of(int pid, cpu_set_t *set)
{
    CPU_ZERO(set);
    return sched_getaffinity(pid, sizeof(*set), set);
}

/* Runs `placed` on every worker of a two-worker poold (started with
 * extra, which may be NULL) and checks where each worker and its runtime
 * may run: one CPU each, the same for both, the workers on different
 * CPUs of this process's (pinned), or all of this process's (free). */
static void
check_placement(const char *extra, int pinned)
{
    const char *args[] = {"--processes", "2", "--python", test_runtime_file("fns.py"), extra ? "--runtime-affinity" : NULL,
                          extra, NULL};
    cpu_set_t mine, worker, runtime, seen;
    Server s;
    Resp r;
    json_t *v;
    size_t i;
    int workers = 0;

    CHECK_INT(cpus_of(0, &mine), 0);
    CPU_ZERO(&seen);
    server_start(&s, args);
    CHECK(await_idle_workers(&s, 2, 20)); /* else one may run both */
    /* Two chunks of one slow item each: one on each worker. */
    post(&s, "/v1/map", "{\"func\":\"placed\",\"iterable\":[0.5,0.5],\"chunksize\":1}", 200, &r);
    json_array_foreach(jpath(r.json, "results"), i, v) {
        int wpid = (int)json_integer_value(json_array_get(v, 0));
        size_t k;
        json_t *cpu;
        CPU_ZERO(&runtime);
        json_array_foreach(json_array_get(v, 1), k, cpu)
            CPU_SET((int)json_integer_value(cpu), &runtime);
        CHECK_INT(cpus_of(wpid, &worker), 0);
        CHECK(CPU_EQUAL(&worker, &runtime));
        if (pinned) {
            CHECK_INT(CPU_COUNT(&runtime), 1);
            CPU_OR(&seen, &seen, &runtime);
        } else {
            CHECK(CPU_EQUAL(&runtime, &mine));
        }
        workers++;
    }
    CHECK_INT(workers, 2);
    if (pinned) /* each on its own CPU of this process's, when it has two */
        CHECK_INT(CPU_COUNT(&seen), CPU_COUNT(&mine) >= 2 ? 2 : 1);
    CPU_AND(&seen, &seen, &mine);
    CHECK(!pinned || CPU_COUNT(&seen) >= 1);
    resp_free(&r);
    server_stop(&s);
}

/* Narrows this process (and so the poold it starts) to n CPUs of those it
 * may use, from the first (or from the last, to leave CPU 0 out); *saved
 * gets the set to give back with sched_setaffinity. */
static void
narrow_cpus(int n, int from_last, cpu_set_t *saved)
{
    cpu_set_t want;
    int total, seen = 0;

    CHECK_INT(cpus_of(0, saved), 0);
    total = CPU_COUNT(saved);
    CPU_ZERO(&want);
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, saved) && seen++ >= (from_last ? total - n : 0) && CPU_COUNT(&want) < n)
            CPU_SET(cpu, &want);
    CHECK_INT(sched_setaffinity(0, sizeof(want), &want), 0);
}

/* Where each worker of GET /v1/pool (in its slots' order) may run; how
 * many workers there are (at most max). */
static int
workers_cpus(const Server *s, cpu_set_t *sets, int max)
{
    json_t *pool = get_json(s, "/v1/pool"), *w;
    size_t i;
    int n = 0;

    json_array_foreach(json_object_get(pool, "workers"), i, w)
        if (n < max)
            CHECK_INT(cpus_of((int)json_integer_value(json_object_get(w, "pid")), &sets[n++]), 0);
    json_decref(pool);
    return n;
}

TEST(test_runtime_each_worker_shares_one_cpu_with_its_runtime)
{
    cpu_set_t saved;

    /* Two workers on two CPUs (or one): they fill what poold may use. */
    narrow_cpus(2, 0, &saved);
    check_placement(NULL, 1);
    check_placement("cpu", 1);
    sched_setaffinity(0, sizeof(saved), &saved);
}

/* Workers fewer than the CPUs poold may use are left to the kernel:
 * pinned, they would all take the first CPUs of the set, which every
 * poold beside this one (a container's, whose cpuset is the machine's)
 * would pick too. */
TEST(test_runtime_affinity_a_pool_short_of_the_cpus_is_not_pinned)
{
    cpu_set_t mine, one;
    Server s;

    CHECK_INT(cpus_of(0, &mine), 0);
    if (CPU_COUNT(&mine) < 2)
        return; /* one CPU: nothing to leave free */
    start(&s, NULL, NULL);
    CHECK(await_idle_workers(&s, 1, 20));
    CHECK_INT(workers_cpus(&s, &one, 1), 1);
    CHECK(CPU_EQUAL(&one, &mine));
    server_stop(&s);
}

/* The k-th worker on the k-th CPU of those poold may use, whichever they
 * are (here the last one, CPU 0 left out); a pool without runtimes is
 * left alone; a replacement takes its slot's CPU. */
TEST(test_runtime_affinity_follows_the_allowed_cpus_and_the_slot)
{
    const char *plain[] = {"--processes", "2", NULL};
    const char *runtimes[] = {"--processes", "2", "--python", test_runtime_file("fns.py"), NULL};
    cpu_set_t saved, now, before[2], after[2];
    Server s;
    int pid;

    narrow_cpus(1, 1, &saved);
    CHECK_INT(cpus_of(0, &now), 0);
    server_start(&s, runtimes);
    CHECK(await_idle_workers(&s, 2, 20));
    sched_setaffinity(0, sizeof(saved), &saved);
    CHECK_INT(workers_cpus(&s, before, 2), 2);
    CHECK(CPU_EQUAL(&before[0], &now) && CPU_EQUAL(&before[1], &now));
    server_stop(&s);

    narrow_cpus(2, 0, &saved);
    CHECK_INT(cpus_of(0, &now), 0);
    server_start(&s, plain);
    CHECK(await_idle_workers(&s, 2, 20));
    CHECK_INT(workers_cpus(&s, before, 2), 2);
    CHECK(CPU_EQUAL(&before[0], &now) && CPU_EQUAL(&before[1], &now)); /* no runtime: not pinned */
    server_stop(&s);

    server_start(&s, runtimes);
    CHECK(await_idle_workers(&s, 2, 20));
    sched_setaffinity(0, sizeof(saved), &saved);
    CHECK_INT(workers_cpus(&s, before, 2), 2);
    CHECK_INT(CPU_COUNT(&before[0]), 1);
    CHECK(CPU_COUNT(&now) < 2 || !CPU_EQUAL(&before[0], &before[1]));
    pid = (int)pool_number(&s, "workers.0.pid");
    CHECK(pid > 0 && kill(pid, SIGKILL) == 0);
    CHECK(await_worker_replaced(&s, pid, 20));
    CHECK(await_idle_workers(&s, 2, 20));
    CHECK_INT(workers_cpus(&s, after, 2), 2);
    CHECK(CPU_EQUAL(&after[0], &before[0]) && CPU_EQUAL(&after[1], &before[1]));
    server_stop(&s);
}

TEST(test_runtime_affinity_free_leaves_workers_and_runtimes_on_every_cpu)
{
    check_placement("free", 0);
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
