/*
 * request.c: what every call handler shares: reading a call from the
 * body, the limits the server's flags set, the answer to a refusal, a
 * result written around the workers' text, and RFC 7240's Prefer. The
 * sync (calls.c), async (jobs.c) and streamed (imap.c) handlers use it;
 * it uses none of them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls/call.h"
#include "config.h"
#include "handlers.h"
#include "http/http_parse.h"
#include "http/http_status.h"
#include "pool/pool.h"

void
request_reply_result(HttpReq *r, const char *key, char *v, size_t len)
{
    size_t klen = strlen(key);
    char *body = malloc(klen + len + 6);

    /* {"key": v} around the text the workers wrote: no re-encoding. */
    if (body) {
        snprintf(body, klen + 5, "{\"%s\":", key);
        memcpy(body + klen + 4, v, len);
        memcpy(body + klen + 4 + len, "}", 2);
    }
    free(v);
    if (body)
        http_reply_text(r, 200, body);
    else
        http_reply_problem(r, 500, "out of memory", NULL);
}

int
request_parse_call(HttpReq *r, CallOp op, const CallLimits *lim, Call **c)
{
    App *app = http_app(r);
    size_t len = 0;
    const char *text = http_body(r, &len);
    const json_t *body = http_json(r);
    CallError err;
    int rc = SVC_EAGAIN;

    /* A route that leaves the body as text: a map's items are sliced from
     * it when the scanner can, the whole parsed otherwise. */
    if (!body)
        rc = call_parse_text(text, len, op, app->reg, lim, c, &err);
    if (rc == SVC_EAGAIN) {
        if (!body && !(body = http_json_parse(r)))
            return -1; /* answered: not JSON */
        rc = call_parse(body, op, app->reg, lim, c, &err);
    }
    if (rc != SVC_OK) {
        json_t *ext = err.field[0] ? json_pack("{s:s}", "field", err.field) : NULL;
        http_reply_problem(r, http_status(request_outcome(rc)), err.detail, ext);
        return -1;
    }
    call_keep_body(*c, text, len);
    return 0;
}

CallLimits
request_limits(const App *app, int async)
{
    return (CallLimits){.processes = app->cfg->processes, .max_items = app->cfg->max_items,
                        .async = async, .timeout = app->cfg->task_timeout,
                        .max_timeout = app->cfg->max_task_timeout};
}

Outcome
request_outcome(int rc)
{
    switch (rc) {
    case SVC_OK: return OUTCOME_OK;
    case SVC_EINVAL: case SVC_E2BIG: case SVC_EFORBIDDEN: return OUTCOME_INVALID;
    case SVC_ENOFUNC: return OUTCOME_NOT_FOUND;
    case SVC_ETOOLARGE: return OUTCOME_TOO_LARGE;
    case SVC_EFULL: return OUTCOME_QUEUE_FULL;
    case SVC_ESTOPPED: return OUTCOME_STOPPED;
    case SVC_EUNAVAIL: case SVC_ESTORE: return OUTCOME_UNAVAILABLE;
    case SVC_ENOMEM: return OUTCOME_NOMEM;
    default: return OUTCOME_INTERNAL;
    }
}

void
request_refused(HttpReq *r, int rc)
{
    App *app = http_app(r);
    int status = http_status(request_outcome(rc));
    char detail[640]; /* the crash loop's reason, a runtime's error in it */
    json_t *ext = NULL;

    switch (rc) {
    case SVC_ETOOLARGE:
        snprintf(detail, sizeof(detail), "a task of this call would exceed 1 GiB once encoded");
        break;
    case SVC_E2BIG:
        snprintf(detail, sizeof(detail), "the call needs more tasks than --max-queue (%ld) holds: raise chunksize",
                 app->cfg->max_queue);
        ext = json_pack("{s:s}", "field", "chunksize");
        break;
    case SVC_EFULL:
        snprintf(detail, sizeof(detail), "the queue or the job table is full (--max-queue %ld, --max-jobs %ld); retry later",
                 app->cfg->max_queue, app->cfg->max_jobs);
        break;
    case SVC_ESTOPPED:
        snprintf(detail, sizeof(detail), "poold is shutting down");
        break;
    case SVC_EUNAVAIL:
        if (pool_ready(app->pool, detail, sizeof(detail)))
            snprintf(detail, sizeof(detail), "no worker could start; retry");
        break;
    default:
        status = http_status(OUTCOME_NOMEM);
        snprintf(detail, sizeof(detail), "out of memory");
    }
    http_reply_problem(r, status, detail, ext);
}

/* Reads RFC 7240's Prefer (http_parse_prefer): "respond-async" sets
 * *async, "wait=N" sets *wait (seconds). Returns 1 when either is there. */
int
request_prefer(HttpReq *r, int *async, double *wait)
{
    return http_parse_prefer(http_header(r, "Prefer"), REQUEST_MAX_WAIT, async, wait);
}
