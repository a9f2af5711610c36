/*
 * job_view.c: the job table as clients read it: a job's JSON (GET
 * /v1/jobs/{id}), its outcome and status code (…/result), and the pages
 * of GET /v1/jobs. Reads only, under the table's lock; see job.c for the
 * table and job_state.c for the state machine. A status code is the one
 * http_status() gives the job's Outcome (job_state_outcome), never a
 * number of its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "http/http_status.h"
#include "jobs/job_impl.h"

static json_t *
job_view_time(double t)
{
    char buf[40];

    if (t <= 0)
        return json_null();
    clock_rfc3339(t, buf, sizeof(buf));
    return json_string(buf);
}

/* The status of the job's outcome, read from the one table
 * (http_status); 0 while it is queued or running (lock held). */
static int
job_view_code(const Job *j)
{
    Outcome o;

    return job_state_outcome(j->status, j->fail ? &j->fail->outcome : NULL, &o) ? http_status(o) : 0;
}

int
job_view_outcome_code(JobTable *t, Job *j)
{
    int code;

    pthread_mutex_lock(&t->lock);
    code = job_view_code(j);
    pthread_mutex_unlock(&t->lock);
    return code;
}

json_t *
job_view_json(JobTable *t, Job *j, int with_result)
{
    json_t *o, *err = json_null(), *result = NULL, *worker = json_null(), *request = NULL;
    size_t done, total;
    int code;

    pthread_mutex_lock(&t->lock);
    code = job_view_code(j);
    if (j->batch && !job_ended(j->status))
        batch_progress(j->batch, &done, &total);
    else
        done = j->done_at_end, total = j->total;
    if (j->worker[0])
        worker = json_pack("{s:s, s:i}", "name", j->worker, "pid", (int)j->pid);
    if (with_result && j->request)
        request = json_loads(j->request, JSON_DECODE_ANY, NULL);
    if (with_result && j->status == JOB_SUCCEEDED && j->result)
        result = json_loadb(j->result, j->result_len, JSON_DECODE_ANY, NULL);
    if (job_ended(j->status) && j->status != JOB_SUCCEEDED) {
        int cancelled = j->status == JOB_CANCELLED || !j->fail;
        err = json_pack("{s:s, s:s, s:i}", "type", cancelled ? "Cancelled" : j->fail->type,
                        "message", cancelled ? "the job was cancelled" : j->fail->message, "status", code);
        if (!cancelled && j->op != CALL_APPLY && j->fail->outcome == OUTCOME_FUNCTION_ERROR)
            json_object_set_new(err, "index", json_integer((json_int_t)j->fail->index));
        if (!cancelled && j->fail->traceback[0])
            json_object_set_new(err, "traceback", json_string(j->fail->traceback));
    }
    o = json_pack("{s:s, s:s, s:s, s:s, s:b, s:o, s:{s:I, s:I}, s:o, s:i, s:o, s:o, s:o}",
                  "id", j->id, "op", job_ops[j->op], "func", j->func,
                  "status", job_names[j->status], "ready", job_ended(j->status),
                  "successful", job_ended(j->status) ? json_boolean(j->status == JOB_SUCCEEDED) : json_null(),
                  "progress", "done", (json_int_t)done, "total", (json_int_t)total,
                  "worker", worker, "priority", j->priority,
                  "created_at", job_view_time(j->created), "started_at", job_view_time(j->started),
                  "finished_at", job_view_time(j->finished));
    if (o && j->cb)
        json_object_set_new(o, "callback", job_hook_json(j));
    if (o && t->opt.replica) { /* which replica took it, how often it was taken */
        json_object_set_new(o, "replica", j->replica[0] ? json_string(j->replica) : json_null());
        json_object_set_new(o, "attempts", json_integer((json_int_t)j->attempts));
    }
    pthread_mutex_unlock(&t->lock);
    if (o && request)
        json_object_set_new(o, "request", request);
    else
        json_decref(request);
    if (o && result)
        json_object_set_new(o, "result", result);
    else
        json_decref(result);
    if (o && !json_is_null(err))
        json_object_set_new(o, "error", err);
    else
        json_decref(err);
    return o;
}

JobStatus
job_view_outcome(JobTable *t, Job *j, char **result, size_t *len, BatchFailure *f)
{
    JobStatus s;

    pthread_mutex_lock(&t->lock);
    s = j->status;
    *result = NULL;
    if (s == JOB_SUCCEEDED && j->result && (*result = malloc(j->result_len + 1))) {
        memcpy(*result, j->result, j->result_len + 1);
        *len = j->result_len;
    }
    memset(f, 0, sizeof(*f));
    if (j->fail) {
        f->outcome = j->fail->outcome;
        f->index = j->fail->index;
        snprintf(f->type, sizeof(f->type), "%s", j->fail->type);
        snprintf(f->message, sizeof(f->message), "%s", j->fail->message);
        snprintf(f->traceback, sizeof(f->traceback), "%s", j->fail->traceback);
    }
    pthread_mutex_unlock(&t->lock);
    return s;
}

/*
 * Pages from the newest job down. The cursor is the sequence number of the
 * last job of the previous page, found in O(1); a page looks at most
 * JOB_VIEW_LIST_SCAN jobs under the lock (a rare status can be far apart), and
 * when that budget runs out it ends early with a cursor to go on from.
 */
#define JOB_VIEW_LIST_SCAN 10000

json_t *
job_view_list(JobTable *t, int status, size_t limit, const char *cursor)
{
    json_t *jobs = json_array(), *next = json_null();
    Job *page[limit ? limit : 1], *j = NULL;
    uint64_t from = 0;
    size_t n = 0, scanned = 0;

    pthread_mutex_lock(&t->lock);
    if (cursor) {
        from = strtoull(cursor, NULL, 10);
        HASH_FIND(hh_seq, t->by_seq, &from, sizeof(from), j);
        if (j) {
            j = j->older;
        } else { /* its job expired: start below it anyway */
            for (j = t->newest; j && j->seq >= from && scanned < JOB_VIEW_LIST_SCAN; j = j->older)
                scanned++;
        }
    } else {
        j = t->newest;
    }
    for (; j && n < limit && scanned < JOB_VIEW_LIST_SCAN; j = j->older, scanned++)
        if (status < 0 || (int)j->status == status)
            page[n++] = job_ref(j);
    /* More below? Then say where to go on from: after the last job shown,
     * or, when the scan budget ran out, after the last job looked at. */
    if (j) {
        char c[24];
        /* A limit of 0 shows no job: there is no page[n - 1] then. */
        uint64_t last = n && n == limit ? page[n - 1]->seq : (j->newer ? j->newer->seq : j->seq);
        snprintf(c, sizeof(c), "%llu", (unsigned long long)last);
        json_decref(next);
        next = json_string(c);
    }
    pthread_mutex_unlock(&t->lock);
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(jobs, job_view_json(t, page[i], 0)); /* bounded: no results */
        job_unref(page[i]);
    }
    return json_pack("{s:o, s:o}", "jobs", jobs, "next_cursor", next);
}

void
job_view_counts(JobTable *t, size_t counts[JOB_NSTATUS])
{
    pthread_mutex_lock(&t->lock);
    memcpy(counts, t->by_status, sizeof(t->by_status));
    pthread_mutex_unlock(&t->lock);
}
