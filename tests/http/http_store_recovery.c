/*
 * http_store_recovery.c: the SQLite job store keeps what poold accepted:
 * jobs survive a kill -9 and a clean restart (results, idempotency keys,
 * the list's order), a job cut short by the stop runs again, expired jobs
 * leave the file, a replay waits for its original's write, a start-up
 * failure after recovery exits cleanly; --store memory keeps nothing.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "client.h"
#include "harness.h"

/* kill -9 of poold (its workers and fork server die with it). */
static void
crash(Server *s)
{
    server_kill(s, SIGKILL);
}

/* POSTs an async call; returns its job id (static buffer). */
static const char *
submit(const Server *s, const char *body)
{
    return job_submit(s, "/v1/apply_async", body);
}

/* Rows in the jobs table of dir's database, -1 when it cannot be read. */
static long
rows(const char *dir)
{
    char path[256];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long n = -1;

    snprintf(path, sizeof(path), "%s/poold.db", dir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT count(*) FROM jobs", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

TEST(test_store_a_hundred_accepted_jobs_survive_kill_9_and_all_succeed)
{
    const char *dir = server_data_dir();
    char ids[100][64], body[128];
    Server s;
    int done_before = 0, succeeded = 0;

    server_start_on(&s, dir, "2");
    for (int i = 0; i < 100; i++) {
        snprintf(body, sizeof(body), "{\"func\":\"sleep\",\"args\":[0.%03d]}", 20 + i);
        snprintf(ids[i], sizeof(ids[i]), "%s", submit(&s, body));
    }
    usleep(400 * 1000); /* some run, most wait */
    for (int i = 0; i < 100; i++)
        done_before += strcmp(job_status(&s, ids[i]), "succeeded") == 0;
    crash(&s);
    CHECK(done_before < 90);

    server_start_on(&s, dir, "2");
    for (double end = now_seconds() + 30; succeeded < 100 && now_seconds() < end; usleep(100 * 1000)) {
        succeeded = 0;
        for (int i = 0; i < 100; i++)
            succeeded += strcmp(job_status(&s, ids[i]), "succeeded") == 0;
    }
    CHECK_INT(succeeded, 100);
    for (int i = 0; i < 100; i++) {
        char path[128];
        Resp r;
        snprintf(path, sizeof(path), "/v1/jobs/%.40s/result", ids[i]);
        CHECK(req(&s, "GET", path, NULL, &r) == 0);
        CHECK_INT(r.status, 200);
        CHECK(json_real_value(jpath(r.json, "result")) > 0.0199 + i * 0.001);
        CHECK(json_real_value(jpath(r.json, "result")) < 0.0201 + i * 0.001);
        resp_free(&r);
    }
    server_stop(&s);
    remove_tree(dir);
}

TEST(test_store_results_and_idempotency_keys_survive_a_clean_restart)
{
    const char *dir = server_data_dir();
    const char *const key[] = {"Idempotency-Key: deploy-42", NULL};
    char id[64], keyed[64], path[128];
    json_t *before, *after;
    Server s;
    Resp r;

    server_start_on(&s, dir, "2");
    snprintf(id, sizeof(id), "%s", submit(&s, "{\"func\":\"pow\",\"args\":[2,10]}"));
    CHECK(req_h(&s, "POST", "/v1/map_async", "{\"func\":\"echo\",\"iterable\":[1,2]}", key, &r) == 0);
    CHECK_INT(r.status, 202);
    snprintf(keyed, sizeof(keyed), "%s", json_string_value(jpath(r.json, "id")));
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/jobs/%s/result?timeout=10", id);
    post(&s, "/v1/apply", "{\"func\":\"echo\",\"args\":[0]}", 200, &r); /* the pool is up */
    resp_free(&r);
    CHECK(req(&s, "GET", path, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    for (double end = now_seconds() + 5; strcmp(job_status(&s, keyed), "succeeded") != 0 && now_seconds() < end;)
        usleep(20 * 1000);
    before = job_get(&s, id);
    CHECK_INT(WEXITSTATUS(server_stop(&s)), 0);

    server_start_on(&s, dir, "2");
    after = job_get(&s, id);
    CHECK(after != NULL);
    if (!json_equal(before, after)) {
        char *a = json_dumps(before, JSON_SORT_KEYS), *b = json_dumps(after, JSON_SORT_KEYS);
        fprintf(stderr, "    before: %s\n    after:  %s\n", a, b);
        free(a);
        free(b);
    }
    CHECK(json_equal(before, after)); /* times, worker, progress, result: all kept */
    CHECK(req(&s, "GET", path, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(json_integer_value(jpath(r.json, "result")), 1024);
    resp_free(&r);
    /* The same key and body: the same job, not a second run. */
    CHECK(req_h(&s, "POST", "/v1/map_async", "{\"func\":\"echo\",\"iterable\":[1,2]}", key, &r) == 0);
    CHECK_INT(r.status, 202);
    CHECK_STR(json_string_value(jpath(r.json, "id")), keyed);
    CHECK_STR(json_string_value(jpath(r.json, "status")), "succeeded");
    resp_free(&r);
    /* And the newest-first list goes on from the old jobs. */
    snprintf(id, sizeof(id), "%s", submit(&s, "{\"func\":\"echo\",\"args\":[3]}"));
    json_t *list = get_json(&s, "/v1/jobs?limit=3");
    CHECK_STR(json_string_value(jpath(list, "jobs.0.id")), id);
    CHECK_STR(json_string_value(jpath(list, "jobs.1.id")), keyed);
    json_decref(list);
    json_decref(before);
    json_decref(after);
    server_stop(&s);
    remove_tree(dir);
}

TEST(test_store_a_job_cut_short_by_the_stop_runs_again_at_the_next_start)
{
    const char *dir = server_data_dir();
    const char *args[] = {"--data-dir", dir, "--processes", "1", "--shutdown-grace", "0.2", NULL};
    char id[64];
    Server s;

    server_start(&s, args);
    snprintf(id, sizeof(id), "%s", submit(&s, "{\"func\":\"sleep\",\"args\":[1.5]}"));
    CHECK(await_pool_number(&s, "queue.running", 1, 5));
    CHECK_INT(WEXITSTATUS(server_stop(&s)), 0); /* the grace ends before the task */

    server_start(&s, args);
    CHECK(strcmp(job_status(&s, id), "succeeded") != 0);
    for (double end = now_seconds() + 10; now_seconds() < end; usleep(100 * 1000))
        if (strcmp(job_status(&s, id), "succeeded") == 0)
            break;
    CHECK_STR(job_status(&s, id), "succeeded");
    server_stop(&s);
    remove_tree(dir);
}

TEST(test_store_expired_jobs_leave_the_file)
{
    const char *dir = server_data_dir();
    const char *args[] = {"--data-dir", dir, "--result-ttl", "0.5", NULL};
    Server s;

    server_start(&s, args);
    for (int i = 0; i < 20; i++)
        submit(&s, "{\"func\":\"echo\",\"args\":[1]}");
    usleep(200 * 1000);
    CHECK_INT(rows(dir), 20);
    long n = -1;
    for (double end = now_seconds() + 5; now_seconds() < end; usleep(100 * 1000))
        if ((n = rows(dir)) == 0)
            break;
    CHECK_INT(n, 0);
    server_stop(&s);
    remove_tree(dir);
}

/* Holds the database's write lock for `seconds`, on its own thread. */
typedef struct Locker {
    const char *path;
    double seconds;
    int held;
} Locker;

static void *
locker_run(void *arg)
{
    Locker *l = arg;
    sqlite3 *db = NULL;

    if (sqlite3_open(l->path, &db) == SQLITE_OK && sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK) {
        __atomic_store_n(&l->held, 1, __ATOMIC_RELEASE);
        usleep((useconds_t)(l->seconds * 1e6));
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_close(db);
    return NULL;
}

/* A submit with an Idempotency-Key, on its own thread. */
typedef struct Keyed {
    const Server *s;
    Resp r;
    double answered;
} Keyed;

static void *
keyed_run(void *arg)
{
    Keyed *k = arg;
    const char *const h[] = {"Idempotency-Key: once", NULL};

    req_h(k->s, "POST", "/v1/apply_async", "{\"func\":\"echo\",\"args\":[9]}", h, &k->r);
    k->answered = now_seconds();
    return NULL;
}

TEST(test_store_a_replay_waits_for_the_original_write)
{
    const char *dir = server_data_dir();
    char path[128];
    Locker l = {.path = path, .seconds = 2};
    Keyed a, b;
    pthread_t lt, at, bt;
    Server s;

    server_start_on(&s, dir, "1");
    snprintf(path, sizeof(path), "%s/poold.db", dir);
    CHECK(pthread_create(&lt, NULL, locker_run, &l) == 0);
    while (!__atomic_load_n(&l.held, __ATOMIC_ACQUIRE))
        usleep(1000);
    a = (Keyed){.s = &s};
    b = (Keyed){.s = &s};
    CHECK(pthread_create(&at, NULL, keyed_run, &a) == 0);
    usleep(200 * 1000); /* the original waits on the lock */
    CHECK(pthread_create(&bt, NULL, keyed_run, &b) == 0);
    pthread_join(at, NULL);
    pthread_join(bt, NULL);
    pthread_join(lt, NULL);
    /* The store waits out a 2 s lock: both are accepted, the replay not
     * before the original's commit, and both name the same job. */
    CHECK_INT(a.r.status, 202);
    CHECK_INT(b.r.status, 202);
    CHECK(b.answered >= a.answered - 0.05);
    CHECK_STR(json_string_value(jpath(b.r.json, "id")), json_string_value(jpath(a.r.json, "id")));
    CHECK_INT(rows(dir), 1);
    resp_free(&a.r);
    resp_free(&b.r);
    server_stop(&s);
    remove_tree(dir);
}

TEST(test_store_a_start_up_failure_after_recovery_exits_cleanly)
{
    const char *dir = server_data_dir();
    const char *bin = getenv("POOLD_BIN") ? getenv("POOLD_BIN") : "build/poold";
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    char cmd[512], log[96];
    Server s;
    int fd, st;

    server_start_on(&s, dir, "1");
    for (int i = 0; i < 20; i++)
        submit(&s, "{\"func\":\"sleep\",\"args\":[0.3]}");
    crash(&s); /* 20 jobs to run again */
    /* The port taken: HTTP cannot start after the jobs were started. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(fd, 1) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    /* Its log read: a leak on this way out, past recovery's allocations, is
     * what this exit is likeliest to have. */
    snprintf(log, sizeof(log), "/tmp/poold-test-startfail-%d.log", (int)getpid());
    snprintf(cmd, sizeof(cmd), "%s --host 127.0.0.1 --port %d --data-dir %s --processes 1 >%s 2>&1", bin,
             ntohs(a.sin_port), dir, log);
    st = system(cmd);
    close(fd);
    poold_log_check(log);
    CHECK(WIFEXITED(st));
    CHECK_INT(WEXITSTATUS(st), 5);
    unlink(log);
    remove_tree(dir);
}

TEST(test_store_in_memory_keeps_nothing_and_writes_no_file)
{
    const char *dir = server_data_dir();
    const char *args[] = {"--data-dir", dir, "--store", "memory", NULL};
    char path[128], id[64];
    struct stat st;
    Server s;

    server_start(&s, args);
    snprintf(id, sizeof(id), "%s", submit(&s, "{\"func\":\"echo\",\"args\":[1]}"));
    server_stop(&s);
    snprintf(path, sizeof(path), "%s/poold.db", dir);
    CHECK(stat(path, &st) < 0);
    server_start(&s, args);
    CHECK_STR(job_status(&s, id), "?");
    server_stop(&s);
    remove_tree(dir);
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
