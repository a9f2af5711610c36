/*
 * http_store.c: a job store poold cannot write, or finds in a state it
 * must not touch: a data dir that cannot be made, a corrupt file, one from
 * a newer poold, a full disk: async jobs are refused with 503 (and
 * /readyz says why) while sync calls go on; a first version's file is
 * migrated, its jobs kept. Jobs surviving crashes and restarts are
 * http_store_recovery.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "client.h"
#include "harness.h"

/* POSTs an async call; returns its job id (static buffer). */
static const char *
submit(const Server *s, const char *body)
{
    return job_submit(s, "/v1/apply_async", body);
}

/* Checks the store is refused as it should be: /readyz and async 503 with
 * a problem naming the store, sync calls 200. */
static void
expect_refused_with(const Server *s, const char *why, const char *body, int ready_too)
{
    Resp r;

    /* Sync calls serve; and once they do, the workers are up, so that
     * /readyz below speaks of the store alone. */
    post(s, "/v1/apply", "{\"func\":\"pow\",\"args\":[3,3]}", 200, &r);
    CHECK_INT(json_integer_value(jpath(r.json, "result")), 27);
    resp_free(&r);
    CHECK(req(s, "POST", "/v1/apply_async", body, &r) == 0);
    CHECK_INT(r.status, 503);
    CHECK(strstr(resp_header(&r, "Content-Type") ?: "", "application/problem+json"));
    CHECK(strstr(json_string_value(jpath(r.json, "detail")) ?: "", why));
    CHECK(resp_header(&r, "Retry-After") != NULL);
    resp_free(&r);
    if (!ready_too)
        return;
    CHECK(req(s, "GET", "/readyz", NULL, &r) == 0);
    CHECK_INT(r.status, 503);
    CHECK(strstr(json_string_value(jpath(r.json, "detail")) ?: "", "job store"));
    resp_free(&r);
}

static void
expect_store_refused(const Server *s, const char *why)
{
    expect_refused_with(s, why, "{\"func\":\"echo\",\"args\":[1]}", 1);
}

TEST(test_store_a_data_dir_that_cannot_be_made_refuses_async_jobs_not_sync_calls)
{
    char file[64], dir[96];
    Server s;

    int fd;

    snprintf(file, sizeof(file), "/tmp/poold-test-notadir-XXXXXX");
    CHECK((fd = mkstemp(file)) >= 0);
    close(fd);
    snprintf(dir, sizeof(dir), "%s/data", file); /* under a regular file */
    server_start_on(&s, dir, "1");
    expect_store_refused(&s, "job store");
    /* Refused jobs leave nothing for the store to retry: it idles. */
    double cpu0 = cpu_seconds(s.pid);
    sleep_seconds(1.0);
    CHECK(cpu_seconds(s.pid) - cpu0 < 0.1);
    server_stop(&s);
    unlink(file);
}

TEST(test_store_a_corrupt_database_refuses_async_jobs_and_is_left_alone)
{
    const char *dir = server_data_dir();
    char path[128], junk[4096];
    struct stat st;
    Server s;
    FILE *f;

    snprintf(path, sizeof(path), "%s/poold.db", dir);
    memset(junk, 'x', sizeof(junk));
    CHECK((f = fopen(path, "w")) != NULL);
    fwrite(junk, 1, sizeof(junk), f);
    fclose(f);
    server_start_on(&s, dir, "1");
    expect_store_refused(&s, "job store");
    server_stop(&s);
    CHECK(stat(path, &st) == 0);
    CHECK_INT(st.st_size, sizeof(junk)); /* not overwritten: the operator decides */
    remove_tree(dir);
}

TEST(test_store_a_first_version_database_is_migrated_and_its_jobs_kept)
{
    const char *dir = server_data_dir();
    char path[128];
    sqlite3 *db;
    sqlite3_stmt *st;
    Server s;
    Resp r;
    int version = 0;

    /* Schema 1 as the first store wrote it, with one finished job. */
    snprintf(path, sizeof(path), "%s/poold.db", dir);
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db,
                       "PRAGMA journal_mode = WAL;"
                       "CREATE TABLE jobs (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, op TEXT NOT NULL,"
                       " func TEXT NOT NULL, priority INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL,"
                       " request BLOB, idem_key TEXT, digest BLOB, created REAL NOT NULL,"
                       " started REAL NOT NULL DEFAULT 0, finished REAL NOT NULL DEFAULT 0,"
                       " total INTEGER NOT NULL, done INTEGER NOT NULL DEFAULT 0, worker TEXT,"
                       " pid INTEGER NOT NULL DEFAULT 0, result BLOB, fail_outcome INTEGER NOT NULL DEFAULT 0,"
                       " fail_index INTEGER NOT NULL DEFAULT 0, fail_type TEXT, fail_message TEXT);"
                       "CREATE INDEX jobs_finished ON jobs(finished) WHERE finished > 0;"
                       "INSERT INTO jobs (seq, id, op, func, status, request, created, started, finished, total,"
                       " done, worker, pid, result) VALUES (7, '0123456789abcdef0123456789abcdef', 'apply_async',"
                       " 'pow', 'succeeded', '{\"func\":\"pow\",\"args\":[2,5]}', strftime('%s','now'),"
                       " strftime('%s','now'), strftime('%s','now'), 1, 1, 'ForkPoolWorker-1', 42, '32');"
                       "INSERT INTO jobs (seq, id, op, func, status, request, created, total) VALUES (8,"
                       " 'fedcba9876543210fedcba9876543210', 'apply_async', 'pow', 'queued',"
                       " '{\"func\":\"pow\",\"args\":[3,3]}', strftime('%s','now'), 1);"
                       "PRAGMA user_version = 1;",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    server_start_on(&s, dir, "1");
    CHECK(req(&s, "GET", "/v1/jobs/0123456789abcdef0123456789abcdef/result", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(json_integer_value(jpath(r.json, "result")), 32);
    resp_free(&r);
    /* The queued one runs under the new schema. */
    CHECK(req(&s, "GET", "/v1/jobs/fedcba9876543210fedcba9876543210/result?timeout=10", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(json_integer_value(jpath(r.json, "result")), 27);
    resp_free(&r);
    server_stop(&s);
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    /* Every migration ran: the latest (3) added a failure's traceback. */
    CHECK(sqlite3_prepare_v2(db, "SELECT fail_traceback FROM jobs LIMIT 1", -1, &st, NULL) == SQLITE_OK);
    sqlite3_finalize(st);
    sqlite3_close(db);
    CHECK_INT(version, 3);
    remove_tree(dir);
}

TEST(test_store_a_database_from_a_newer_poold_is_refused)
{
    const char *dir = server_data_dir();
    char path[128];
    sqlite3 *db;
    Server s;

    snprintf(path, sizeof(path), "%s/poold.db", dir);
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "CREATE TABLE jobs (seq INTEGER PRIMARY KEY); PRAGMA user_version = 99;", NULL, NULL,
                       NULL) == SQLITE_OK);
    sqlite3_close(db);
    server_start_on(&s, dir, "1");
    expect_store_refused(&s, "newer poold");
    server_stop(&s);
    remove_tree(dir);
}

/* --- a full disk --- */

/* Starts poold on dir under RLIMIT_FSIZE (soft 1 MiB, hard unlimited, so
 * that the test can lift it): past it a write fails as on a full disk.
 * *wrapper names the script to unlink afterwards. */
static void
start_with_full_disk(Server *s, const char *dir, char wrapper[64])
{
    const char *real = getenv("POOLD_BIN") ? getenv("POOLD_BIN") : "build/poold";
    FILE *f;
    int fd;

    snprintf(wrapper, 64, "/tmp/poold-test-fsize-XXXXXX");
    CHECK((fd = mkstemp(wrapper)) >= 0);
    close(fd); /* a file open for writing cannot be executed (ETXTBSY) */
    CHECK((f = fopen(wrapper, "w")) != NULL);
    fprintf(f, "#!/bin/sh\nexec prlimit --fsize=1048576:unlimited -- '%s' \"$@\"\n", real);
    fclose(f);
    chmod(wrapper, 0755);
    setenv("POOLD_BIN", wrapper, 1);
    server_start_on(s, dir, "1");
    setenv("POOLD_BIN", real, 1);
}

/* An echo job of 24 KB, to fill a small disk fast (static buffer). */
static const char *
big_body(void)
{
    static char body[24100];
    char big[24000];

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    snprintf(body, sizeof(body), "{\"func\":\"echo\",\"args\":[\"%s\"]}", big);
    return body;
}

/* Submits body until the store refuses one, 100 at most; the number of
 * submits, the refused one with them, and the last status in *status. */
static int
fill_disk(const Server *s, const char *body, long *status)
{
    int accepted = 0;
    Resp r;

    for (*status = 202; *status == 202 && accepted < 100; accepted++) {
        CHECK(req(s, "POST", "/v1/apply_async", body, &r) == 0);
        *status = r.status;
        resp_free(&r);
    }
    return accepted;
}

/* On a full disk, what /readyz says must be what a small job meets, ten
 * times over 2 s, though the accepted jobs' own updates get through in
 * place meanwhile (they once made /readyz say ready while nothing new
 * could be written), and may take the last room between the two. */
static void
expect_readyz_as_a_small_job_finds_it(const Server *s)
{
    Resp r;

    for (int i = 0; i < 10; i++, usleep(200 * 1000)) {
        CHECK(req(s, "GET", "/readyz", NULL, &r) == 0);
        long ready = r.status;
        resp_free(&r);
        CHECK(ready == 200 || ready == 503);
        if (ready == 200) {
            CHECK(req(s, "POST", "/v1/apply_async", "{\"func\":\"echo\",\"args\":[1]}", &r) == 0);
            long taken = r.status;
            resp_free(&r);
            CHECK(taken == 202 || taken == 503);
            if (taken == 503) {
                /* The room the probe's row found went meanwhile to the
                 * accepted jobs' own updates: then poold knows it, and
                 * says so until a new row fits again. */
                CHECK(req(s, "GET", "/readyz", NULL, &r) == 0);
                CHECK_INT(r.status, 503);
                resp_free(&r);
            }
        }
    }
}

/* Lifts poold's RLIMIT_FSIZE (the hard limit stays unlimited): room
 * again. The status of the first small async job it takes within 5 s,
 * 503 when none. */
static long
lift_the_limit(const Server *s)
{
    struct rlimit unlimited = {RLIM_INFINITY, RLIM_INFINITY};
    long status = 503;
    Resp r;

    CHECK(prlimit(s->pid, RLIMIT_FSIZE, &unlimited, NULL) == 0);
    for (double end = now_seconds() + 5; now_seconds() < end; usleep(200 * 1000)) {
        CHECK(req(s, "POST", "/v1/apply_async", "{\"func\":\"echo\",\"args\":[1]}", &r) == 0);
        status = r.status;
        resp_free(&r);
        if (status == 202)
            break;
    }
    return status;
}

TEST(test_store_a_full_disk_refuses_async_jobs_until_writes_succeed_again)
{
    const char *dir = server_data_dir(), *body = big_body();
    char wrapper[64], id[64];
    Server s;
    Resp r;
    int accepted;
    long status;

    start_with_full_disk(&s, dir, wrapper);
    snprintf(id, sizeof(id), "%s", submit(&s, body));
    accepted = fill_disk(&s, body, &status);
    CHECK_INT(status, 503);
    CHECK(accepted > 2);
    /* A job as large is refused again; a small one might still fit. */
    expect_refused_with(&s, "job store", body, 0);
    /* A refused submit is logged as what it was: never a cancelled job. */
    CHECK(server_log_has(&s, "refused: the store cannot write its row", 2));
    CHECK(!server_log_has(&s, "status=cancelled", 0));
    expect_readyz_as_a_small_job_finds_it(&s);
    /* What was accepted stays readable. */
    CHECK(strcmp(job_status(&s, id), "?") != 0);
    /* Room again: the next commit succeeds, and jobs are taken again. */
    status = lift_the_limit(&s);
    CHECK_INT(status, 202);
    CHECK(req(&s, "GET", "/readyz", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    server_stop(&s);
    unlink(wrapper);
    remove_tree(dir);
}

TEST(test_store_a_stop_while_the_disk_is_full_exits_cleanly)
{
    const char *dir = server_data_dir(), *body = big_body();
    char wrapper[64];
    Server s;
    long status;
    int st;

    start_with_full_disk(&s, dir, wrapper);
    fill_disk(&s, body, &status);
    CHECK_INT(status, 503);
    /* Changes still waiting for room when poold stops: dropped, not a crash. */
    st = server_stop(&s);
    CHECK(WIFEXITED(st));
    CHECK_INT(WEXITSTATUS(st), 0);
    unlink(wrapper);
    remove_tree(dir);
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
