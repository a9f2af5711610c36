/*
 * calls.c: POST /v1/apply, /v1/map and /v1/starmap, the synchronous calls.
 *
 * Each parses its call, runs it as a batch on the pool and defers its
 * answer: the connection sleeps, suspended, until the batch is done, so no
 * thread waits per request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls/batch.h"
#include "calls/call.h"
#include "config.h"
#include "handlers.h"
#include "http/http_status.h"
#include "pool/pool.h"

/* Resumed on an MHD thread once the batch is done: write the answer. */
static void
calls_resume(HttpReq *r, void *ctx)
{
    Batch *b = ctx;
    const Call *c = batch_call(b);
    BatchFailure f;
    size_t len = 0;
    char *v = batch_result(b, &f, &len), detail[4300];
    json_t *ext;

    if (v) {
        request_reply_result(r, c->op == CALL_APPLY ? "result" : "results", v, len);
        return;
    }
    ext = json_pack("{s:s, s:{s:s, s:s}}", "func", c->fn->name, "error", "type", f.type, "message", f.message);
    if (ext && f.traceback[0]) /* a runtime function's, as the remote side wrote it */
        json_object_set_new(json_object_get(ext, "error"), "traceback", json_string(f.traceback));
    if (c->op != CALL_APPLY)
        json_object_set_new(ext, "index", json_integer((json_int_t)f.index));
    /* The message often names the function already ("pow(): ..."); the
     * func field always does. */
    if (c->op == CALL_APPLY)
        snprintf(detail, sizeof(detail), "%s: %s", f.type, f.message);
    else
        snprintf(detail, sizeof(detail), "item %zu: %s: %s", f.index, f.type, f.message);
    http_reply_problem(r, http_status(f.outcome), detail, ext);
}

/* A BatchDoneFn, on the dispatcher thread: wake the sleeping connection. */
static void
calls_done(Batch *b, void *ctx)
{
    HttpWaiter *w = ctx;

    (void)b;
    http_wait_wake(w);
    http_wait_unref(w);
}

static void
calls_unref(void *b)
{
    batch_unref(b);
}

/* An HttpGoneFn: the client left; nobody will read the results. */
static void
calls_gone(void *b)
{
    batch_cancel(b);
}

static void
calls_run(HttpReq *r, CallOp op)
{
    App *app = http_app(r);
    Call *c = NULL;
    Batch *b;
    HttpWaiter *w;
    CallLimits lim = request_limits(app, 0);
    double wait;
    int async, rc;

    if (request_prefer(r, &async, &wait)) { /* Prefer: respond-async, wait=N */
        jobs_run_preferred(r, op, async, wait);
        return;
    }
    if (request_parse_call(r, op, &lim, &c) < 0)
        return;
    if (call_items(c) == 0) { /* Pool.map(f, []) is [] without a task */
        call_free(c);
        http_reply_json(r, 200, json_pack("{s:[]}", "results"));
        return;
    }
    if (!(b = batch_new(c)) || !(w = http_wait_defer(r, calls_resume, batch_ref(b), calls_unref))) {
        batch_unref(b);
        http_reply_problem(r, 500, "out of memory", NULL);
        return;
    }
    http_wait_on_gone(w, calls_gone);
    rc = batch_start(b, app->pool, 0, calls_done, NULL, w);
    batch_unref(b); /* the waiter and the tasks hold theirs */
    if (rc == SVC_OK)
        return;
    http_wait_unref(w); /* done() will never run: drop the producer's reference */
    request_refused(r, rc);
}

void
handle_apply(HttpReq *r)
{
    calls_run(r, CALL_APPLY);
}

void
handle_map(HttpReq *r)
{
    calls_run(r, CALL_MAP);
}

void
handle_starmap(HttpReq *r)
{
    calls_run(r, CALL_STARMAP);
}
