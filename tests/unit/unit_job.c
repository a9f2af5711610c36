/*
 * unit_job.c: the job state machine. Its rule (job_state.h) over every
 * pair of statuses, against a table written out here rather than derived
 * from the code; what a batch's end and a job's end mean, down to the
 * status code a client reads; and, through a real job table, the moves
 * that need no pool: jobs read back from a SQLite store, where an ended
 * job never moves again and one that can no longer run fails. Submitting,
 * starting and cancelling a live job need a pool (tests/http/http_jobs.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "functions/registry.h"
#include "harness.h"
#include "http/http_status.h"
#include "jobs/job.h"
#include "jobs/job_state.h"
#include "store/store.h"

#define Q JOB_QUEUED
#define R JOB_RUNNING
#define S JOB_SUCCEEDED
#define F JOB_FAILED
#define T JOB_TIMED_OUT
#define W JOB_WORKER_LOST
#define C JOB_CANCELLED

/* legal[from][to]: the transitions DESIGN.md's life of a job allows. */
static const int legal[JOB_NSTATUS][JOB_NSTATUS] = {
    /*         Q  R  S  F  T  W  C */
    [Q] = {0, 1, 1, 1, 1, 1, 1},
    [R] = {0, 0, 1, 1, 1, 1, 1},
    [S] = {0, 0, 0, 0, 0, 0, 0},
    [F] = {0, 0, 0, 0, 0, 0, 0},
    [T] = {0, 0, 0, 0, 0, 0, 0},
    [W] = {0, 0, 0, 0, 0, 0, 0},
    [C] = {0, 0, 0, 0, 0, 0, 0},
};

static void
check_pair(JobStatus from, JobStatus to)
{
    if (job_state_ok(from, to) != legal[from][to])
        harness_fail(__FILE__, __LINE__, "%s -> %s: %s, expected %s", job_status_name(from),
                     job_status_name(to), job_state_ok(from, to) ? "allowed" : "refused",
                     legal[from][to] ? "allowed" : "refused");
}

TEST(test_job_every_pair_of_statuses_follows_the_table)
{
    for (int from = 0; from < JOB_NSTATUS; from++)
        for (int to = 0; to < JOB_NSTATUS; to++)
            check_pair((JobStatus)from, (JobStatus)to);
}

TEST(test_job_queued_may_start_or_end_in_any_way)
{
    static const JobStatus to[] = {R, S, F, T, W, C};

    for (size_t i = 0; i < ARRAY_LEN(to); i++)
        CHECK_INT(job_state_ok(Q, to[i]), 1);
    CHECK_INT(job_state_ok(Q, Q), 0);
}

TEST(test_job_running_may_end_in_any_way_but_never_queues_again)
{
    static const JobStatus to[] = {S, F, T, W, C};

    for (size_t i = 0; i < ARRAY_LEN(to); i++)
        CHECK_INT(job_state_ok(R, to[i]), 1);
    CHECK_INT(job_state_ok(R, Q), 0);
    CHECK_INT(job_state_ok(R, R), 0);
}

TEST(test_job_ended_never_moves_again)
{
    static const JobStatus ended[] = {S, F, T, W, C};

    for (size_t i = 0; i < ARRAY_LEN(ended); i++)
        for (int to = 0; to < JOB_NSTATUS; to++)
            CHECK_INT(job_state_ok(ended[i], (JobStatus)to), 0);
}

TEST(test_job_no_status_follows_itself)
{
    for (int s = 0; s < JOB_NSTATUS; s++)
        CHECK_INT(job_state_ok((JobStatus)s, (JobStatus)s), 0);
}

TEST(test_job_ended_is_having_nowhere_to_go)
{
    for (int s = 0; s < JOB_NSTATUS; s++) {
        int anywhere = 0;
        for (int to = 0; to < JOB_NSTATUS; to++)
            anywhere |= job_state_ok((JobStatus)s, (JobStatus)to);
        CHECK_INT(job_ended((JobStatus)s), !anywhere);
    }
}

TEST(test_job_move_applies_a_legal_transition_and_refuses_the_rest)
{
    for (int from = 0; from < JOB_NSTATUS; from++) {
        for (int to = 0; to < JOB_NSTATUS; to++) {
            JobStatus s = (JobStatus)from;
            CHECK_INT(job_state_move(&s, (JobStatus)to), legal[from][to]);
            CHECK_INT(s, legal[from][to] ? to : from);
        }
    }
}

TEST(test_job_status_out_of_range_is_refused)
{
    JobStatus s = Q;

    CHECK_INT(job_state_ok((JobStatus)JOB_NSTATUS, R), 0);
    CHECK_INT(job_state_ok(Q, (JobStatus)JOB_NSTATUS), 0);
    CHECK_INT(job_state_move(&s, (JobStatus)JOB_NSTATUS), 0);
    CHECK_INT(s, Q);
}

TEST(test_job_names_parse_back)
{
    for (int s = 0; s < JOB_NSTATUS; s++)
        CHECK_INT(job_status_parse(job_status_name((JobStatus)s)), s);
    CHECK_INT(job_status_parse("pending"), -1);
}

TEST(test_job_batch_end_gives_its_status)
{
    CHECK_INT(job_state_of_outcome(OUTCOME_OK), S);
    CHECK_INT(job_state_of_outcome(OUTCOME_FUNCTION_ERROR), F);
    CHECK_INT(job_state_of_outcome(OUTCOME_WORKER_LOST), W);
    CHECK_INT(job_state_of_outcome(OUTCOME_TIMED_OUT), T);
    CHECK_INT(job_state_of_outcome(OUTCOME_STOPPED), F);
    CHECK_INT(job_state_of_outcome(OUTCOME_UNAVAILABLE), F);
    CHECK_INT(job_state_of_outcome(OUTCOME_CANCELLED), C);
    CHECK_INT(job_state_of_outcome(OUTCOME_NOMEM), F);
}

/* The status code a job's end reads from http_status(); 0 for none. */
static int
code_of(JobStatus s, const Outcome *fail)
{
    Outcome o;

    return job_state_outcome(s, fail, &o) ? http_status(o) : 0;
}

TEST(test_job_end_has_the_contracts_status_code)
{
    Outcome f;

    CHECK_INT(code_of(Q, NULL), 0); /* no outcome yet */
    CHECK_INT(code_of(R, NULL), 0);
    CHECK_INT(code_of(S, NULL), 200);
    CHECK_INT(code_of(C, NULL), 410);
    CHECK_INT(code_of(W, (f = OUTCOME_WORKER_LOST, &f)), 502);
    CHECK_INT(code_of(T, (f = OUTCOME_TIMED_OUT, &f)), 504);
    CHECK_INT(code_of(F, (f = OUTCOME_FUNCTION_ERROR, &f)), 422);
    CHECK_INT(code_of(F, (f = OUTCOME_STOPPED, &f)), 503);
    CHECK_INT(code_of(F, (f = OUTCOME_UNAVAILABLE, &f)), 503);
    CHECK_INT(code_of(F, (f = OUTCOME_NOMEM, &f)), 500);
    CHECK_INT(code_of(F, NULL), 500);
    /* A failed job whose failure names another status's cause was not
     * written by this poold: internal, as before. */
    CHECK_INT(code_of(F, (f = OUTCOME_WORKER_LOST, &f)), 500);
    CHECK_INT(code_of(F, (f = OUTCOME_TIMED_OUT, &f)), 500);
    CHECK_INT(code_of(F, (f = OUTCOME_OK, &f)), 500);
}

/* --- through a real table, without a pool --- */

TEST(test_job_table_in_memory_starts_empty)
{
    JobOptions o = {.max_jobs = 10, .result_ttl = 60};
    JobTable *t = job_table_new(&o);
    size_t counts[JOB_NSTATUS];
    char why[100];

    CHECK(t);
    CHECK_INT(job_store_recover(t), 0);
    CHECK_INT(job_store_ready(t, why, sizeof(why)), 1);
    CHECK(!job_find(t, "00000000000000000000000000000000"));
    job_view_counts(t, counts);
    for (int s = 0; s < JOB_NSTATUS; s++)
        CHECK_INT(counts[s], 0);
    job_table_free(t);
}

typedef struct Row {
    const char *status;
    Outcome fail;    /* with fail_type */
    const char *fail_type;
    const char *request;  /* for an unended job: not a call, so it cannot run */
    JobStatus read_back;
    int code;             /* of the job read back */
} Row;

static const Row rows[] = {
    {"succeeded", OUTCOME_OK, NULL, NULL, S, 200},
    {"failed", OUTCOME_FUNCTION_ERROR, "ValueError", NULL, F, 422},
    {"failed", OUTCOME_UNAVAILABLE, "WorkerStartFailed", NULL, F, 503},
    {"failed", OUTCOME_NOMEM, "MemoryError", NULL, F, 500},
    {"timed_out", OUTCOME_TIMED_OUT, "TimedOut", NULL, T, 504},
    {"worker_lost", OUTCOME_WORKER_LOST, "WorkerLost", NULL, W, 502},
    {"cancelled", OUTCOME_OK, NULL, NULL, C, 410},
    {"queued", OUTCOME_OK, NULL, "not json", F, 422},  /* RecoveryError */
    {"running", OUTCOME_OK, NULL, "{", F, 422},
};

static int committed;

static void
row_written(void *ctx, int rc, const StoreJob *same)
{
    (void)ctx;
    (void)same;
    if (rc == SVC_OK)
        __atomic_add_fetch(&committed, 1, __ATOMIC_RELEASE);
}

static void
row_id(size_t i, char id[33])
{
    snprintf(id, 33, "%032zx", i + 1);
}

/* Writes rows[], and one row whose status no poold writes, into the
 * store at path. */
static void
write_rows(const char *path)
{
    StoreOptions so = {.path = path};
    Store *s = store_open(&so);
    char why[300], id[ARRAY_LEN(rows) + 1][33];
    double now = (double)time(NULL);
    size_t n = ARRAY_LEN(rows) + 1;

    CHECK(s);
    CHECK_INT(store_healthy(s, why, sizeof(why)), 1);
    for (size_t i = 0; i < n; i++) {
        const Row *r = i < ARRAY_LEN(rows) ? &rows[i] : NULL;
        int ended = r && job_status_parse(r->status) >= JOB_SUCCEEDED;
        StoreJob j = {.seq = i + 1, .op = "apply_async", .func = "gone", .status = r ? r->status : "pending",
                      .created = now - 1, .finished = ended ? now : 0, .total = 1, .done = ended,
                      .result = r && !strcmp(r->status, "succeeded") ? "42" : NULL,
                      .fail_outcome = r ? (int)r->fail : 0, .fail_type = r ? r->fail_type : NULL,
                      .fail_message = r && r->fail_type ? "it went wrong" : NULL};
        row_id(i, id[i]);
        j.id = id[i];
        j.result_len = j.result ? strlen(j.result) : 0;
        j.request = r ? r->request : NULL;
        j.request_len = j.request ? strlen(j.request) : 0;
        CHECK_INT(store_add(s, &j, row_written, NULL), SVC_OK);
    }
    for (int tries = 0; __atomic_load_n(&committed, __ATOMIC_ACQUIRE) < (int)n && tries < 500; tries++)
        usleep(10000);
    CHECK_INT(__atomic_load_n(&committed, __ATOMIC_ACQUIRE), n);
    store_close(s);
}

/* The status code job j's view carries: its error's, or 200. */
static int
view_code(JobTable *t, Job *j)
{
    json_t *o = job_view_json(t, j, 1);
    json_t *err = json_object_get(o, "error");
    int code = err ? (int)json_integer_value(json_object_get(err, "status")) : 200;

    json_decref(o);
    return code;
}

static void
check_read_back(JobTable *t, size_t i)
{
    char id[33], *result = NULL;
    size_t len = 0;
    BatchFailure f;
    Job *j;

    row_id(i, id);
    if (!(j = job_find(t, id)))
        harness_fail(__FILE__, __LINE__, "row %zu (%s) was not read back", i, rows[i].status);
    if (job_view_outcome_code(t, j) != rows[i].code || view_code(t, j) != rows[i].code)
        harness_fail(__FILE__, __LINE__, "row %zu (%s): code %d, view %d, expected %d", i, rows[i].status,
                     job_view_outcome_code(t, j), view_code(t, j), rows[i].code);
    /* Ended, it never moves again: a cancel is refused and changes nothing. */
    CHECK_INT(job_cancel(t, j), SVC_EINVAL);
    CHECK_INT(job_view_outcome(t, j, &result, &len, &f), rows[i].read_back);
    free(result);
    job_unref(j);
}

TEST(test_job_read_back_keeps_its_end_and_never_moves_again)
{
    static const char *const exts[] = {"", "-wal", "-shm"};
    char dir[] = "/tmp/unit_job.XXXXXX", path[64];
    Registry *reg = registry_new();
    size_t counts[JOB_NSTATUS], expected[JOB_NSTATUS] = {0};
    Store *s;
    JobTable *t;

    CHECK(mkdtemp(dir) && reg);
    snprintf(path, sizeof(path), "%s/jobs.db", dir);
    write_rows(path);

    StoreOptions so = {.path = path};
    CHECK((s = store_open(&so)));
    JobOptions o = {.max_jobs = 100, .result_ttl = 3600, .store = s, .reg = reg};
    CHECK((t = job_table_new(&o)));
    CHECK_INT(job_store_recover(t), ARRAY_LEN(rows) + 1);
    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        check_read_back(t, i);
        expected[rows[i].read_back]++;
    }
    CHECK(!job_find(t, "000000000000000000000000000000" "0a")); /* "pending" is no status */
    job_view_counts(t, counts);
    for (int st = 0; st < JOB_NSTATUS; st++)
        CHECK_INT(counts[st], expected[st]);

    job_table_stop(t);
    store_close(s);
    job_table_free(t);
    registry_free(reg);
    for (size_t i = 0; i < ARRAY_LEN(exts); i++) {
        char file[80];
        snprintf(file, sizeof(file), "%s%s", path, exts[i]);
        unlink(file);
    }
    rmdir(dir);
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
