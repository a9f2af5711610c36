/*
 * imap.c: POST /v1/imap and /v1/imap_unordered, answered as NDJSON lines
 * while the items run.
 *
 * The body is either a JSON call with its "iterable", or, with
 * Content-Type application/x-ndjson, the call on its first line and one
 * item per line after it, taken as they arrive. Either way the stream
 * (server/calls/stream.c) keeps a window of items in flight; this file turns a
 * request into a stream and the stream into the answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls/stream.h"
#include "config.h"
#include "handlers.h"
#include "http/http_status.h"

#define IMAP_TYPE "application/x-ndjson"

/* One request's stream, or what was wrong with its first line. */
typedef struct ImapReq {
    Stream *stream;      /* two references: the connection's (closed) and ours */
    int ordered;
    int status;          /* an error found in the call line: answered at the end */
    char detail[300];
    char field[32];
} ImapReq;

/* A StreamWakeFn: the stream has news for the sleeping connection. */
static void
imap_wake(void *waiter)
{
    http_wait_wake(waiter);
}

/* An HttpGoneFn: the client hung up while its connection slept. */
static void
imap_gone(void *ctx)
{
    ImapReq *q = ctx;

    if (q->stream)
        stream_cancel(q->stream);
}

/* The request is over, on its MHD thread: nothing more is written. */
static void
imap_closed(void *ctx)
{
    ImapReq *q = ctx;

    if (q->stream)
        stream_close(q->stream);
}

static void
imap_free(void *ctx)
{
    ImapReq *q = ctx;

    if (q->stream)
        stream_unref(q->stream);
    free(q);
}

static ssize_t
imap_read(void *ctx, char *buf, size_t max, int stopping)
{
    ImapReq *q = ctx;
    ssize_t n = stream_read(q->stream, buf, max, stopping);

    switch (n) {
    case STREAM_WAIT: return HTTP_READ_WAIT;
    case STREAM_END: return HTTP_READ_END;
    case STREAM_ERROR: return HTTP_READ_ERROR;
    default: return n;
    }
}

/* Makes the request a stream over call (taken). Returns the ImapReq, or
 * NULL when out of memory (call is freed). */
static ImapReq *
imap_begin(HttpReq *r, Call *c, int ordered, int lines)
{
    App *app = http_app(r);
    ImapReq *q = calloc(1, sizeof(*q));
    HttpWaiter *w = q ? http_stream_open(r, q, imap_free, imap_gone, imap_closed) : NULL;
    StreamOptions o = {.pool = app->pool, .ordered = ordered, .lines = lines,
                       .max_spill = app->cfg->max_spill, .wake = imap_wake, .wake_ctx = w};

    if (!w) {
        call_free(c);
        return NULL;
    }
    q->ordered = ordered;
    if (c && (q->stream = stream_new(c, &o)))
        stream_ref(q->stream);
    return q;
}

static CallLimits
imap_limits(const App *app, int lines)
{
    CallLimits lim = request_limits(app, 0);

    lim.stream = 1;
    lim.lines = lines;
    return lim;
}

/* The first line of an NDJSON body: the call. Errors wait for the end of
 * the body, when an answer may be given. */
static int
imap_call_line(HttpReq *r, const char *line, size_t len, int ordered)
{
    App *app = http_app(r);
    CallLimits lim = imap_limits(app, 1);
    json_error_t jerr;
    json_t *body = json_loadb(line, len, POOLD_BODY_JSON_FLAGS, &jerr);
    CallError err = {0};
    Call *c = NULL;
    int rc = body ? call_parse(body, CALL_MAP, app->reg, &lim, &c, &err) : SVC_EINVAL;
    ImapReq *q = imap_begin(r, rc == SVC_OK ? c : NULL, ordered, 1);

    json_decref(body);
    if (!q)
        return HTTP_LINE_STOP; /* the handler finds no stream: 500 */
    if (!body) {
        q->status = 400;
        snprintf(q->detail, sizeof(q->detail), "the first line must be the call as JSON: %s (column %d)",
                 jerr.text, jerr.column);
    } else if (rc != SVC_OK) {
        q->status = http_status(request_outcome(rc));
        snprintf(q->detail, sizeof(q->detail), "%s", err.detail);
        snprintf(q->field, sizeof(q->field), "%s", err.field);
    } else if (!q->stream) {
        q->status = 500;
        snprintf(q->detail, sizeof(q->detail), "out of memory");
    }
    return q->status ? HTTP_LINE_STOP : HTTP_LINE_MORE;
}

/* stream_feed's and stream_poll's answers, as http wants them. */
static int
imap_line_state(int rc)
{
    return rc == 0 ? HTTP_LINE_MORE : rc == 1 ? HTTP_LINE_FULL : HTTP_LINE_STOP;
}

static int
imap_lines(HttpReq *r, const char *line, size_t len, int ordered)
{
    ImapReq *q = http_stream_ctx(r);
    json_error_t jerr;
    json_t *item;

    if (!q)
        return line ? imap_call_line(r, line, len, ordered) : HTTP_LINE_STOP;
    if (q->status || !q->stream)
        return HTTP_LINE_STOP;
    if (!line)
        return imap_line_state(stream_poll(q->stream));
    if (!(item = json_loadb(line, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr))) {
        char msg[300];
        snprintf(msg, sizeof(msg), "a line is not a JSON item: %s (column %d); the lines after it were not read",
                 jerr.text, jerr.column);
        stream_reject(q->stream, "InvalidItem", msg, OUTCOME_INVALID);
        return HTTP_LINE_STOP;
    }
    return imap_line_state(stream_feed(q->stream, item));
}

int
imap_line(HttpReq *r, const char *line, size_t len)
{
    return imap_lines(r, line, len, 1);
}

int
imap_unordered_line(HttpReq *r, const char *line, size_t len)
{
    return imap_lines(r, line, len, 0);
}

/* The stream, or a plain problem when it was refused before any line
 * existed: the status then says it better than a final line would. */
static void
imap_answer(HttpReq *r, ImapReq *q)
{
    char type[32], msg[200];
    Outcome refused = stream_refusal(q->stream, type, sizeof(type), msg, sizeof(msg));

    if (refused != OUTCOME_OK)
        http_reply_problem(r, http_status(refused), msg,
                           json_pack("{s:{s:s, s:s}}", "error", "type", type, "message", msg));
    else
        http_stream_reply(r, 200, IMAP_TYPE, imap_read);
}

/* The body has ended. */
static void
imap_run(HttpReq *r, int ordered)
{
    App *app = http_app(r);
    CallLimits lim = imap_limits(app, 0);
    CallError err;
    ImapReq *q;
    Call *c = NULL;
    int rc;

    if (http_stream_lines(r)) {
        char overlong[160];
        int toolong = http_stream_overlong(r, overlong, sizeof(overlong));
        if (!(q = http_stream_ctx(r))) {
            http_reply_problem(r, toolong ? 413 : 400,
                               toolong ? overlong : "the body is empty: its first line must be the call", NULL);
        } else if (q->status) {
            http_reply_problem(r, q->status, q->detail,
                               q->field[0] ? json_pack("{s:s}", "field", q->field) : NULL);
        } else {
            /* A line too long ends the stream after the items before it,
             * as a line that is not JSON does. */
            if (toolong)
                stream_reject(q->stream, "TooLarge", overlong, OUTCOME_TOO_LARGE);
            else
                stream_end_input(q->stream);
            stream_poll(q->stream); /* the last, partial chunk goes now */
            imap_answer(r, q);
        }
        return;
    }
    rc = call_parse(http_json(r), CALL_MAP, app->reg, &lim, &c, &err);
    if (rc != SVC_OK) {
        json_t *ext = err.field[0] ? json_pack("{s:s}", "field", err.field) : NULL;
        http_reply_problem(r, http_status(request_outcome(rc)), err.detail, ext);
        return;
    }
    if (!(q = imap_begin(r, c, ordered, 0)) || !q->stream) {
        http_reply_problem(r, 500, "out of memory", NULL);
        return;
    }
    /* Refused before a line exists: a plain answer says it better. */
    if ((rc = stream_start(q->stream)) != SVC_OK)
        request_refused(r, rc);
    else
        imap_answer(r, q);
}

void
handle_imap(HttpReq *r)
{
    imap_run(r, 1);
}

void
handle_imap_unordered(HttpReq *r)
{
    imap_run(r, 0);
}
