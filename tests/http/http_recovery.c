/*
 * http_recovery.c: poold never hangs and never breaks. Workers killed
 * under load, workers recycled, workers that cannot even start, a full
 * queue, a stop with tasks still running, and poold as PID 1. Real
 * processes, real signals; the misbehaving functions come from the test
 * plugin (tests/plugin/misbehave.c).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"

/* The status of one request (its body dropped), 0 when curl failed. */
static long
status_of(const Server *s, const char *method, const char *path, const char *body)
{
    Resp r;
    long status = req(s, method, path, body, &r) == 0 ? r.status : 0;

    resp_free(&r);
    return status;
}

/* Waits up to `seconds` for GET path to answer `status`; 1 if it did. */
static int
await_status(const Server *s, const char *path, long status, double seconds)
{
    Resp r;

    for (double end = now_seconds() + seconds; now_seconds() < end; usleep(20 * 1000)) {
        int ok = req(s, "GET", path, NULL, &r) == 0 && r.status == status;
        resp_free(&r);
        if (ok)
            return 1;
    }
    return 0;
}

TEST(test_recovery_readyz_is_200_once_workers_are_up)
{
    static const char *const args[] = {"--processes", "2", NULL};
    Server s;
    Resp r;

    server_start(&s, args);
    CHECK(await_status(&s, "/readyz", 200, 5));
    CHECK(req(&s, "GET", "/readyz", NULL, &r) == 0);
    CHECK_STR(json_string_value(jpath(r.json, "status")), "ready");
    resp_free(&r);
    server_stop(&s);
}

TEST(test_recovery_kill_9_of_a_busy_worker_is_502_at_once_and_the_pool_refills)
{
    static const char *const args[] = {"--processes", "2", NULL};
    BgCall c = {.path = "/v1/apply", .body = "{\"func\":\"sleep\",\"args\":[30]}"};
    Server s;
    pthread_t t;
    int victim;
    double t0;

    server_start(&s, args);
    c.s = &s;
    CHECK(pthread_create(&t, NULL, bg_call_run, &c) == 0);
    CHECK(await_pool_number(&s, "queue.running", 1, 5));
    victim = worker_in_state(&s, "busy");
    CHECK(victim > 0);
    t0 = now_seconds();
    CHECK(kill(victim, SIGKILL) == 0);
    pthread_join(t, NULL);
    CHECK(now_seconds() - t0 < 1.0);
    CHECK_INT(c.r.status, 502);
    CHECK(strstr(json_string_value(jpath(c.r.json, "detail")), "signal 9 (SIGKILL)") != NULL);
    resp_free(&c.r);
    CHECK(await_idle_workers(&s, 2, 5));
    CHECK(worker_in_state(&s, "idle") != victim);
    server_stop(&s);
}

/* Kills a busy worker every 100 ms until *stop. */
static void *
killer(void *arg)
{
    void **a = arg;
    const Server *s = a[0];
    int *stop = a[1];
    long *kills = a[2];

    while (!__atomic_load_n(stop, __ATOMIC_ACQUIRE)) {
        int pid = worker_in_state(s, "busy");
        if (pid > 0 && kill(pid, SIGKILL) == 0)
            (*kills)++;
        usleep(100 * 1000);
    }
    return NULL;
}

TEST(test_recovery_20_concurrent_calls_with_workers_killed_under_them_all_get_answers)
{
    static const char *const args[] = {"--processes", "2", NULL};
    BgCall c[20];
    pthread_t t[20], k;
    Server s;
    int stop = 0;
    long kills = 0, ok = 0, lost = 0;
    void *ka[] = {&s, &stop, &kills};
    double t0;

    server_start(&s, args);
    CHECK(pthread_create(&k, NULL, killer, ka) == 0);
    t0 = now_seconds();
    for (int i = 0; i < 20; i++) {
        c[i] = (BgCall){.s = &s, .path = i % 2 ? "/v1/map" : "/v1/apply",
                        .body = i % 2 ? "{\"func\":\"sleep\",\"iterable\":[0.1,0.1,0.1],\"chunksize\":1}"
                                      : "{\"func\":\"sleep\",\"args\":[0.2]}"};
        CHECK(pthread_create(&t[i], NULL, bg_call_run, &c[i]) == 0);
    }
    for (int i = 0; i < 20; i++) {
        pthread_join(t[i], NULL);
        ok += c[i].r.status == 200;
        lost += c[i].r.status == 502;
        if (c[i].r.status != 200 && c[i].r.status != 502)
            fprintf(stderr, "    call %d: %ld %s\n", i, c[i].r.status, c[i].r.body ? c[i].r.body : "");
        resp_free(&c[i].r);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    pthread_join(k, NULL);
    fprintf(stderr, "    %ld answered 200, %ld 502, %ld workers killed, %.1f s\n", ok, lost, kills,
            now_seconds() - t0);
    CHECK_INT(ok + lost, 20); /* every call answered; none hung */
    CHECK(kills > 0);
    CHECK(lost > 0);
    CHECK(await_idle_workers(&s, 2, 5));
    server_stop(&s);
}

/* The pid of the worker that ran one pid() call. */
static long
worker_pid_of_a_call(const Server *s)
{
    Resp r;
    long pid;

    CHECK(req(s, "POST", "/v1/apply", "{\"func\":\"pid\"}", &r) == 0);
    CHECK_INT(r.status, 200);
    pid = (long)json_integer_value(jpath(r.json, "result"));
    resp_free(&r);
    return pid;
}

TEST(test_recovery_max_tasks_per_child_replaces_each_worker_after_n_tasks)
{
    const char *args[] = {"--plugin", test_plugin(), "--processes", "1", "--max-tasks-per-child", "2", NULL};
    Server s;
    long pids[6];

    server_start(&s, args);
    for (int i = 0; i < 6; i++)
        pids[i] = worker_pid_of_a_call(&s);
    for (int i = 0; i < 6; i += 2) {
        CHECK(pids[i] > 0);
        CHECK_INT(pids[i + 1], pids[i]);   /* two tasks each */
        if (i > 0)
            CHECK(pids[i] != pids[i - 1]); /* then a new worker */
    }
    CHECK(await_idle_workers(&s, 1, 5));
    server_stop(&s);
}

TEST(test_recovery_workers_crashing_at_start_up_drive_readyz_to_503_without_spinning)
{
    char flag[64];
    const char *args[] = {"--plugin", test_plugin(), "--processes", "2", NULL};
    Server s;
    Resp r;
    int fs, looping = 0;
    double cpu0, fs_cpu0;

    snprintf(flag, sizeof(flag), "/tmp/poold-test-crash-%d", (int)getpid());
    fclose(fopen(flag, "w"));
    setenv("MISBEHAVE_CRASH_AT_START", flag, 1);
    server_start(&s, args);
    unsetenv("MISBEHAVE_CRASH_AT_START");
    /* 503 at first while no worker is up yet; then for the crash loop. */
    for (double end = now_seconds() + 10; now_seconds() < end; usleep(20 * 1000)) {
        CHECK(req(&s, "GET", "/readyz", NULL, &r) == 0);
        CHECK_INT(r.status, 503);
        looping = strstr(json_string_value(jpath(r.json, "detail")), "dying at start-up") != NULL;
        if (looping)
            CHECK(strstr(json_string_value(jpath(r.json, "detail")), "SIGSEGV") != NULL);
        resp_free(&r);
        if (looping)
            break;
    }
    CHECK(looping);
    /* A call now fails fast instead of waiting for a worker. */
    CHECK(req(&s, "POST", "/v1/apply", "{\"func\":\"echo\",\"args\":[1]}", &r) == 0);
    CHECK_INT(r.status, 503);
    CHECK(resp_header(&r, "Retry-After") != NULL);
    resp_free(&r);
    /* Backing off, poold and its fork server sleep. */
    fs = child_pid(s.pid);
    CHECK(fs > 0);
    cpu0 = cpu_seconds(s.pid);
    fs_cpu0 = cpu_seconds(fs);
    sleep(2);
    fprintf(stderr, "    CPU over 2 s of crash loop: poold %.2f s, fork server %.2f s\n",
            cpu_seconds(s.pid) - cpu0, cpu_seconds(fs) - fs_cpu0);
    CHECK(cpu_seconds(s.pid) - cpu0 < 0.2);
    CHECK(cpu_seconds(fs) - fs_cpu0 < 0.2);
    /* Fixed: workers start again at the next spawn, and poold is ready. */
    unlink(flag);
    CHECK(await_status(&s, "/readyz", 200, 40));
    CHECK_INT(status_of(&s, "POST", "/v1/apply", "{\"func\":\"echo\",\"args\":[1]}"), 200);
    server_stop(&s);
}

/* A flag file for the test plugin's initializer (misbehave.c), named in
 * the environment variable var for the server started next. */
static void
flag_on(char *path, size_t len, const char *var)
{
    snprintf(path, len, "/tmp/poold-test-%s-%d", var, (int)getpid());
    fclose(fopen(path, "w"));
    setenv(var, path, 1);
}

/* Waits up to `seconds` for /readyz to name a crash loop; 1 if it did. */
static int
await_crash_loop(const Server *s, double seconds)
{
    Resp r;
    int looping = 0;

    for (double end = now_seconds() + seconds; !looping && now_seconds() < end; usleep(20 * 1000)) {
        if (req(s, "GET", "/readyz", NULL, &r) == 0 && r.status == 503)
            looping = strstr(json_string_value(jpath(r.json, "detail")) ?: "", "dying at start-up") != NULL;
        resp_free(&r);
    }
    return looping;
}

TEST(test_recovery_workers_dying_right_after_ready_are_a_crash_loop_too)
{
    char flag[96];
    const char *args[] = {"--plugin", test_plugin(), "--processes", "2", NULL};
    Server s;
    int fs;
    double cpu0;

    flag_on(flag, sizeof(flag), "MISBEHAVE_DIE_SOON");
    server_start(&s, args);
    unsetenv("MISBEHAVE_DIE_SOON");
    CHECK(await_crash_loop(&s, 10));
    fs = child_pid(s.pid);
    cpu0 = cpu_seconds(s.pid) + cpu_seconds(fs);
    sleep(2);
    fprintf(stderr, "    CPU over 2 s: %.2f s\n", cpu_seconds(s.pid) + cpu_seconds(fs) - cpu0);
    CHECK(cpu_seconds(s.pid) + cpu_seconds(fs) - cpu0 < 0.2);
    unlink(flag);
    CHECK(await_status(&s, "/readyz", 200, 40));
    server_stop(&s);
}

TEST(test_recovery_a_call_queued_when_workers_start_crashing_gets_503_not_a_hang)
{
    char flag[96];
    const char *args[] = {"--plugin", test_plugin(), "--processes", "1", "--max-tasks-per-child", "1", NULL};
    Server s;
    Resp r;
    double t0;

    flag_on(flag, sizeof(flag), "MISBEHAVE_CRASH_AT_START");
    unlink(flag); /* the first worker starts */
    server_start(&s, args);
    unsetenv("MISBEHAVE_CRASH_AT_START");
    CHECK(await_status(&s, "/readyz", 200, 5));
    fclose(fopen(flag, "w"));
    /* The worker retires after this call; its replacements crash. */
    CHECK_INT(status_of(&s, "POST", "/v1/apply", "{\"func\":\"pid\"}"), 200);
    t0 = now_seconds();
    CHECK(req(&s, "POST", "/v1/apply", "{\"func\":\"echo\",\"args\":[1]}", &r) == 0);
    CHECK_INT(r.status, 503);
    CHECK(strstr(json_string_value(jpath(r.json, "detail")), "start-up") != NULL);
    CHECK(now_seconds() - t0 < 5);
    resp_free(&r);
    unlink(flag);
    CHECK(await_status(&s, "/readyz", 200, 40));
    server_stop(&s);
}

TEST(test_recovery_a_worker_stuck_in_its_initializer_is_killed_and_replaced)
{
    char flag[96];
    const char *args[] = {"--plugin", test_plugin(), "--processes", "2", "--worker-start-timeout", "1", NULL};
    Server s;
    Resp r;
    int first;
    double t0;

    flag_on(flag, sizeof(flag), "MISBEHAVE_HANG_AT_START");
    server_start(&s, args);
    unsetenv("MISBEHAVE_HANG_AT_START");
    first = worker_in_state(&s, "starting");
    CHECK(first > 0);
    /* Killed at 1 s: one stuck worker is a crash loop already, and the
     * call that waits for a worker gets 503 then, not never. */
    t0 = now_seconds();
    CHECK(req(&s, "POST", "/v1/apply", "{\"func\":\"echo\",\"args\":[1]}", &r) == 0);
    CHECK_INT(r.status, 503);
    CHECK(now_seconds() - t0 < 3);
    resp_free(&r);
    /* Killed by then; reaped (no longer even a zombie) a moment later. */
    for (double end = now_seconds() + 2; kill(first, 0) == 0 && now_seconds() < end;)
        usleep(10 * 1000);
    CHECK(kill(first, 0) != 0);
    CHECK(await_crash_loop(&s, 5));
    unlink(flag);
    CHECK(await_status(&s, "/readyz", 200, 40));
    CHECK_INT(status_of(&s, "POST", "/v1/apply", "{\"func\":\"echo\",\"args\":[1]}"), 200);
    server_stop(&s);
}

TEST(test_recovery_full_queue_refuses_sync_and_async_calls_with_503_then_serves_again)
{
    static const char *const args[] = {"--processes", "1", "--max-queue", "2", NULL};
    BgCall c = {.path = "/v1/apply", .body = "{\"func\":\"sleep\",\"args\":[2]}"};
    pthread_t t;
    Server s;
    Resp r;

    server_start(&s, args);
    c.s = &s;
    CHECK(pthread_create(&t, NULL, bg_call_run, &c) == 0);
    CHECK(await_pool_number(&s, "queue.running", 1, 5));
    /* Behind the running call: two jobs waiting (written ahead to the one
     * worker or not, --max-queue counts them alike), then 503. */
    CHECK_INT(fill_queue(&s), 2);
    CHECK_INT(pool_number(&s, "queue.queued"), 2);
    CHECK(req(&s, "POST", "/v1/apply", "{\"func\":\"echo\",\"args\":[3]}", &r) == 0);
    CHECK_INT(r.status, 503);
    CHECK_STR(resp_header(&r, "Retry-After"), "1");
    resp_free(&r);
    pthread_join(t, NULL);
    CHECK_INT(c.r.status, 200);
    resp_free(&c.r);
    /* Drained: both kinds are served again. */
    CHECK(await_pool_number(&s, "queue.queued", 0, 5));
    CHECK_INT(status_of(&s, "POST", "/v1/apply_async", "{\"func\":\"echo\",\"args\":[2]}"), 202);
    CHECK_INT(status_of(&s, "POST", "/v1/apply", "{\"func\":\"echo\",\"args\":[3]}"), 200);
    server_stop(&s);
}

TEST(test_recovery_shutdown_grace_bounds_the_wait_for_running_tasks)
{
    static const char *const args[] = {"--processes", "1", "--shutdown-grace", "1.5", NULL};
    BgCall c = {.path = "/v1/apply", .body = "{\"func\":\"sleep\",\"args\":[30]}"};
    Server s;
    pthread_t t;
    Resp r;
    int st;
    double t0;

    server_start(&s, args);
    c.s = &s;
    CHECK(pthread_create(&t, NULL, bg_call_run, &c) == 0);
    CHECK(await_pool_number(&s, "queue.running", 1, 5));
    t0 = now_seconds();
    CHECK(kill(s.pid, SIGTERM) == 0);
    /* During the grace poold still answers: new calls 503, not ready. */
    CHECK(await_status(&s, "/readyz", 503, 1));
    CHECK(req(&s, "POST", "/v1/apply", "{\"func\":\"echo\",\"args\":[1]}", &r) == 0);
    CHECK_INT(r.status, 503);
    CHECK_STR(resp_header(&r, "Retry-After"), "1");
    CHECK(strstr(json_string_value(jpath(r.json, "detail")), "shutting down") != NULL);
    resp_free(&r);
    CHECK_INT(status_of(&s, "POST", "/v1/apply_async", "{\"func\":\"echo\",\"args\":[1]}"), 503);
    pthread_join(t, NULL);
    CHECK_INT(c.r.status, 503); /* answered at the end of the grace */
    CHECK(now_seconds() - t0 >= 1.4);
    resp_free(&c.r);
    CHECK(waitpid(s.pid, &st, 0) == s.pid);
    server_reaped(&s, st);
    CHECK(WIFEXITED(st));
    CHECK_INT(WEXITSTATUS(st), 0);
    CHECK(now_seconds() - t0 < 4);
}

TEST(test_recovery_poold_as_pid_1_stops_on_sigterm_with_status_0)
{
    const char *bin = getenv("POOLD_BIN") ? getenv("POOLD_BIN") : "build/poold";
    char log[96];
    pid_t outer, inner = 0;
    int st = 0;

    if (system("unshare -fp --mount-proc true >/dev/null 2>&1") != 0) {
        fprintf(stderr, "    skipped: cannot make a PID namespace here (unshare needs root)\n");
        return;
    }
    snprintf(log, sizeof(log), "/tmp/poold-test-pid1-%d.log", (int)getpid());
    if ((outer = fork()) == 0) {
        if (!freopen(log, "w", stderr))
            _exit(127);
        execlp("unshare", "unshare", "-fp", "--mount-proc", bin, "--port", "0", "--processes", "1",
               "--store", "memory", (char *)NULL);
        _exit(127);
    }
    /* unshare forks poold, PID 1 inside: find it as unshare's child. */
    for (double end = now_seconds() + 5; !inner && now_seconds() < end; usleep(20 * 1000))
        inner = child_pid(outer);
    CHECK(inner > 0);
    usleep(300 * 1000); /* listening, its workers up */
    /* PID 1 ignores every signal it has no handler for; poold takes its
     * stop signals with sigwait, so SIGTERM still stops it. */
    CHECK(kill(inner, SIGTERM) == 0);
    for (double end = now_seconds() + 10; now_seconds() < end; usleep(20 * 1000))
        if (waitpid(outer, &st, WNOHANG) == outer)
            break;
    if (kill(outer, 0) == 0) {
        kill(inner, SIGKILL);
        waitpid(outer, &st, 0);
        CHECK(!"poold as PID 1 ignored SIGTERM");
    }
    poold_log_check(log);
    CHECK(WIFEXITED(st));
    CHECK_INT(WEXITSTATUS(st), 0);
    unlink(log);
}

TEST(test_recovery_a_plugin_that_cannot_load_stops_start_up_with_status_2)
{
    const char *bin = getenv("POOLD_BIN") ? getenv("POOLD_BIN") : "build/poold";
    char cmd[512], out[8192];
    FILE *f;
    int st;

    snprintf(cmd, sizeof(cmd), "%s --port 0 --plugin /nonexistent/x.so 2>&1", bin);
    CHECK((f = popen(cmd, "r")) != NULL);
    out[fread(out, 1, sizeof(out) - 1, f)] = '\0';
    st = pclose(f);
    poold_output_check("poold --plugin /nonexistent/x.so", out);
    CHECK(WIFEXITED(st));
    CHECK_INT(WEXITSTATUS(st), 2);
    CHECK(strstr(out, "/nonexistent/x.so") != NULL);
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
