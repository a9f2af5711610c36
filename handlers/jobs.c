/*
 * jobs.c: the async calls and their jobs. POST /v1/apply_async,
 * /v1/map_async, /v1/starmap_async; GET /v1/jobs, GET and DELETE
 * /v1/jobs/{id}; GET /v1/jobs/{id}/result?timeout=S (AsyncResult.get);
 * and the sync calls' Prefer: respond-async / wait=N, which run as jobs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls/call.h"
#include "config.h"
#include "handlers.h"
#include "http/http_parse.h"
#include "http/http_status.h"
#include "jobs/job.h"
#include "webhook/webhook.h"

#define JOBS_MAX_LIMIT 1000  /* jobs in one page of GET /v1/jobs */

/* How a deferred answer is written once its wait ends: a submit's, once
 * the job is accepted (on disk, with the store) and perhaps done, or a
 * long poll's. */
typedef struct JobsReply {
    JobTable *jobs;
    Job *job;               /* a reference, once known */
    HttpWaiter *waiter;     /* borrowed: lives as long as this does */
    int rc;                 /* the submit's end: SVC_OK, or why it was refused */
    int accept;             /* answer 202 with the job, whatever its state */
    int sync_shape;         /* answer as the sync call would ({"results"}) */
    double wait;            /* a submit's Prefer: wait=N, else 0 */
    char applied[40];       /* Preference-Applied for a 202, or "" */
} JobsReply;

static void
jobs_reply_free(void *ctx)
{
    JobsReply *jr = ctx;

    job_unref(jr->job);
    free(jr);
}

/* 202 with the job, where to follow it, and when to ask again. */
static void
jobs_accepted(HttpReq *r, Job *j, const char *applied)
{
    App *app = http_app(r);
    char location[64];
    const char *h[] = {"Location", location, "Retry-After", "1",
                       applied && *applied ? "Preference-Applied" : NULL, applied, NULL};

    snprintf(location, sizeof(location), "/v1/jobs/%s", job_id(j));
    http_reply_json_h(r, 202, job_view_json(app->jobs, j, 1), h);
}

/* The answer of an ended job, as its sync call gives it; 202 while it runs. */
static void
jobs_answer(HttpReq *r, Job *j, int sync_shape, const char *applied)
{
    App *app = http_app(r);
    BatchFailure f;
    size_t len = 0;
    char *result = NULL, detail[4300];
    JobStatus s = job_view_outcome(app->jobs, j, &result, &len, &f);
    int code = job_view_outcome_code(app->jobs, j);
    json_t *ext;

    if (!job_ended(s)) {
        jobs_accepted(r, j, applied);
    } else if (s == JOB_SUCCEEDED && result) {
        request_reply_result(r, sync_shape && job_op(j) != CALL_APPLY ? "results" : "result", result, len);
        result = NULL; /* taken */
    } else if (s == JOB_CANCELLED) {
        http_reply_problem(r, code, "the job was cancelled", json_pack("{s:s}", "job", job_id(j)));
    } else {
        snprintf(detail, sizeof(detail), "%s: %s", f.type, f.message);
        ext = json_pack("{s:s, s:s, s:{s:s, s:s}}", "job", job_id(j), "func", job_func(j),
                        "error", "type", f.type, "message", f.message);
        if (ext && f.traceback[0])
            json_object_set_new(json_object_get(ext, "error"), "traceback", json_string(f.traceback));
        if (f.outcome == OUTCOME_FUNCTION_ERROR && job_op(j) != CALL_APPLY)
            json_object_set_new(ext, "index", json_integer((json_int_t)f.index));
        http_reply_problem(r, code, detail, ext);
    }
    free(result);
}

/* A submit the job table or its store refused. */
static void
jobs_refused(HttpReq *r, int rc)
{
    App *app = http_app(r);
    char why[300];

    if (rc == SVC_EINVAL)
        http_reply_problem(r, 422, "this Idempotency-Key was used with another body",
                           json_pack("{s:s, s:s}", "type", "urn:poold:problem:idempotency-key-reused", "title",
                                     "The Idempotency-Key was used with another body"));
    else if (rc == SVC_ESTORE && !job_store_ready(app->jobs, why, sizeof(why)))
        http_reply_problem(r, http_status(request_outcome(rc)), why, NULL);
    else if (rc == SVC_ESTORE)
        http_reply_problem(r, http_status(request_outcome(rc)), "the job store could not write the job", NULL);
    else
        request_refused(r, rc);
}

/* An HttpResumeFn: the wait ended, by the job's end, the deadline, or the
 * end of the submit. */
static void
jobs_resume(HttpReq *r, void *ctx)
{
    JobsReply *jr = ctx;

    if (jr->rc != SVC_OK || !jr->job)
        jobs_refused(r, jr->rc != SVC_OK ? jr->rc : SVC_ENOMEM);
    else if (jr->accept)
        jobs_accepted(r, jr->job, jr->applied);
    else
        jobs_answer(r, jr->job, jr->sync_shape, jr->applied);
}

/* An HttpGoneFn: the long poll's client left. Answer now, so that its
 * connection is freed; the job's own wake comes later and finds the
 * waiter woken already. */
static void
jobs_gone(void *ctx)
{
    JobsReply *jr = ctx;

    http_wait_wake(jr->waiter);
}

/* A JobWakeFn: the producer's side of the waiter. */
static void
jobs_wake(void *ctx)
{
    http_wait_wake(ctx);
    http_wait_unref(ctx);
}

/* Defers r's answer to jr (taken); a long poll (watch) is answered at
 * once when its client leaves. NULL when out of memory (answered). */
static HttpWaiter *
jobs_defer(HttpReq *r, JobsReply *jr, int watch)
{
    HttpWaiter *w;

    if (!(w = http_wait_defer(r, jobs_resume, jr, jobs_reply_free))) {
        http_reply_problem(r, 500, "out of memory", NULL);
        return NULL;
    }
    jr->waiter = w;
    if (watch)
        http_wait_on_gone(w, jobs_gone);
    return w;
}

/* Waits up to `seconds` for j, then answers (jobs_answer). Takes j. */
static void
jobs_wait_then_answer(HttpReq *r, Job *j, double seconds)
{
    App *app = http_app(r);
    JobsReply *jr = calloc(1, sizeof(*jr));
    HttpWaiter *w;

    if (!jr) {
        job_unref(j);
        http_reply_problem(r, 500, "out of memory", NULL);
        return;
    }
    jr->job = j;
    if (seconds <= 0) { /* no wait: answer as it is */
        jobs_answer(r, j, 0, NULL);
        jobs_reply_free(jr);
        return;
    }
    if (!(w = jobs_defer(r, jr, 1)))
        return;
    if (job_wait(app->jobs, j, seconds, jobs_wake, w) != 0) /* ended already (1) or no memory */
        jobs_wake(w);
}

/* A JobSubmittedFn: the job is accepted (or not). Any thread. With
 * Prefer: wait=N the answer waits on for the job's end. */
static void
jobs_submitted(void *ctx, Job *j, int rc)
{
    JobsReply *jr = ctx;

    jr->rc = rc;
    jr->job = job_ref(j);
    if (rc == SVC_OK && jr->wait > 0 && job_wait(jr->jobs, j, jr->wait, jobs_wake, jr->waiter) == 0)
        return; /* jobs_wake comes with the job's end or the deadline */
    jobs_wake(jr->waiter);
}

/* Checks the call's webhook URLs: 1, or 0 once it has answered 400 (not
 * an http or https URL) or 422 (an address the guard refuses). */
static int
jobs_callbacks_ok(HttpReq *r, const Call *c)
{
    App *app = http_app(r);
    const char *urls[] = {c->callback, c->error_callback}, *names[] = {"callback", "error_callback"};
    char why[400], detail[460];
    int rc;

    if (c->error_callback && !c->callback) {
        http_reply_problem(r, 400, "error_callback needs a callback too (the success goes there)",
                           json_pack("{s:s}", "field", "error_callback"));
        return 0;
    }
    for (int i = 0; i < 2; i++) {
        if (!urls[i] || (rc = webhook_check_url(app->webhooks, urls[i], why, sizeof(why))) == SVC_OK)
            continue;
        snprintf(detail, sizeof(detail), "%s: %s", names[i], why);
        if (rc == SVC_EFORBIDDEN)
            http_reply_problem(r, 422, detail, json_pack("{s:s, s:s, s:s}", "type", "urn:poold:problem:forbidden-target",
                                                         "title", "The callback may not go there", "field", names[i]));
        else
            http_reply_problem(r, 400, detail, json_pack("{s:s}", "field", names[i]));
        return 0;
    }
    return 1;
}

/*
 * Parses the body and submits it as a job; the answer waits (suspended)
 * until the job is accepted: on disk, with the store. accept answers 202
 * with the job; else the answer is the sync call's once the job ends
 * within wait seconds, or 202 with applied as Preference-Applied.
 */
static void
jobs_submit(HttpReq *r, CallOp op, int accept, double wait, const char *applied)
{
    App *app = http_app(r);
    CallLimits lim = request_limits(app, 1);
    const char *key = http_header(r, "Idempotency-Key");
    size_t body_len = 0;
    const char *body = http_body(r, &body_len);
    JobsReply *jr = NULL;
    HttpWaiter *w;
    Call *c = NULL;
    Job *j = NULL;
    int rc, created = 0;

    if (key && !http_parse_idempotency_key(key)) {
        http_reply_problem(r, 400, "Idempotency-Key must be 1 to 255 characters", NULL);
        return;
    }
    if (request_parse_call(r, op, &lim, &c) < 0)
        return;
    if (!jobs_callbacks_ok(r, c)) {
        call_free(c);
        return;
    }
    if (!(jr = calloc(1, sizeof(*jr)))) {
        call_free(c);
        http_reply_problem(r, 500, "out of memory", NULL);
        return;
    }
    *jr = (JobsReply){.jobs = app->jobs, .accept = accept, .sync_shape = !accept, .wait = wait};
    snprintf(jr->applied, sizeof(jr->applied), "%s", applied ? applied : "");
    /* Deferred before the submit, whose end may come at once. Not watched:
     * jr->job is the producer's until the wake. */
    if (!(w = jobs_defer(r, jr, 0))) {
        call_free(c);
        return;
    }
    rc = job_submit(app->jobs, c, c->priority, key, body, body_len, jobs_submitted, jr, &j, &created);
    if (rc != SVC_OK) { /* refused at once: jobs_submitted will not come */
        jr->rc = rc;
        jobs_wake(w);
    }
    job_unref(j);
}

static void
jobs_submit_async(HttpReq *r, CallOp op)
{
    jobs_submit(r, op, 1, 0, NULL);
}

void
handle_apply_async(HttpReq *r)
{
    jobs_submit_async(r, CALL_APPLY);
}

void
handle_map_async(HttpReq *r)
{
    jobs_submit_async(r, CALL_MAP);
}

void
handle_starmap_async(HttpReq *r)
{
    jobs_submit_async(r, CALL_STARMAP);
}

void
jobs_run_preferred(HttpReq *r, int op, int async, double wait)
{
    char applied[40];

    if (async && wait < 0) {
        jobs_submit(r, op, 1, 0, "respond-async");
        return;
    }
    snprintf(applied, sizeof(applied), "wait=%g", wait);
    jobs_submit(r, op, 0, wait, applied);
}

/* --- /v1/jobs --- */

/* 1 when this poold's jobs can be answered for; else 0, answered 503: a
 * replica that has lost the replicas' Redis (or not yet read it) may be
 * behind, and a 404 or an old status from it would be a lie. */
static int
jobs_current(HttpReq *r)
{
    App *app = http_app(r);
    char why[300];
    const char *retry[] = {"Retry-After", "1", NULL};

    if (job_store_current(app->jobs, why, sizeof(why)))
        return 1;
    http_reply_problem_h(r, 503, why, NULL, retry);
    return 0;
}

static Job *
jobs_find(HttpReq *r)
{
    App *app = http_app(r);
    Job *j;

    if (!jobs_current(r))
        return NULL;
    if (!(j = job_find(app->jobs, http_param(r))))
        http_reply_problem(r, 404, "no such job (it may have expired: --result-ttl)",
                           json_pack("{s:s}", "job", http_param(r)));
    return j;
}

void
handle_job_get(HttpReq *r)
{
    App *app = http_app(r);
    Job *j = jobs_find(r);

    if (!j)
        return;
    http_reply_json(r, 200, job_view_json(app->jobs, j, 1));
    job_unref(j);
}

void
handle_job_delete(HttpReq *r)
{
    App *app = http_app(r);
    Job *j = jobs_find(r);

    char why[300];
    int rc;

    if (!j)
        return;
    if ((rc = job_cancel(app->jobs, j)) == SVC_OK)
        http_reply_json(r, 200, job_view_json(app->jobs, j, 1));
    else if (rc == SVC_ESTORE && !job_store_current(app->jobs, why, sizeof(why)))
        http_reply_problem(r, 503, why, json_pack("{s:s}", "job", job_id(j)));
    else if (rc == SVC_ESTORE)
        http_reply_problem(r, 503, "the job store cannot be reached to cancel the job", json_pack("{s:s}", "job", job_id(j)));
    else if (rc == SVC_ENOFUNC)
        http_reply_problem(r, 404, "no such job (it may have expired: --result-ttl)", json_pack("{s:s}", "job", job_id(j)));
    else
        http_reply_problem(r, 409, "the job has already ended", json_pack("{s:s}", "job", job_id(j)));
    job_unref(j);
}

void
handle_job_result(HttpReq *r)
{
    const char *q = http_query(r, "timeout");
    double timeout = 0;
    Job *j;

    if (q && http_parse_seconds(q, REQUEST_MAX_WAIT, &timeout) < 0) {
        http_reply_problem(r, 400, "timeout must be a number of seconds >= 0",
                           json_pack("{s:s}", "field", "timeout"));
        return;
    }
    if (!(j = jobs_find(r)))
        return;
    jobs_wait_then_answer(r, j, timeout);
}

void
handle_job_callback(HttpReq *r)
{
    App *app = http_app(r);
    Job *j = jobs_find(r);
    int rc;

    if (!j)
        return;
    rc = job_redeliver(app->jobs, j);
    if (rc == SVC_OK)
        http_reply_json(r, 202, job_view_json(app->jobs, j, 0));
    else if (rc == SVC_ESTOPPED)
        http_reply_problem(r, 503, "poold is shutting down", NULL);
    else
        http_reply_problem(r, 409,
                           rc == SVC_EINVAL   ? "the job has not finished: its callback goes when it does"
                           : rc == SVC_EFULL  ? "a delivery of this job's callback is under way"
                                              : "the job has no callback to deliver (none given, or it was cancelled)",
                           json_pack("{s:s}", "job", job_id(j)));
    job_unref(j);
}

void
handle_jobs_list(HttpReq *r)
{
    App *app = http_app(r);
    const char *st = http_query(r, "status"), *lim = http_query(r, "limit"), *cur = http_query(r, "cursor");
    int status = -1;
    long limit = 50;

    if (st && (status = job_status_parse(st)) < 0) {
        http_reply_problem(r, 400, "unknown status", json_pack("{s:s}", "field", "status"));
        return;
    }
    if (lim && http_parse_int(lim, 1, JOBS_MAX_LIMIT, &limit) < 0) {
        http_reply_problem(r, 400, "limit must be an integer from 1 to 1000", json_pack("{s:s}", "field", "limit"));
        return;
    }
    if (cur && !http_parse_cursor(cur)) {
        http_reply_problem(r, 400, "cursor is not one this server gave", json_pack("{s:s}", "field", "cursor"));
        return;
    }
    if (!jobs_current(r))
        return;
    http_reply_json(r, 200, job_view_list(app->jobs, status, (size_t)limit, cur));
}
