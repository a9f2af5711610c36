/*
 * http_request.c: the request phases, the side libmicrohttpd drives (its
 * access handler and completion callback); http.c is the other side, what
 * handlers and main call.
 *
 * Request phases, as libmicrohttpd calls the access handler:
 *   0. the request line is in (MHD's URI log callback): the request's
 *      HttpReq begins, listed on its thread until its headers are handed
 *      on. A Content-Length that MHD cannot read is refused by MHD itself
 *      as it parses the headers, with its own page, whose header block
 *      0.9.75 writes twice, and no callback of poold's; but MHD logs first
 *      (its external logger, on the same thread, during that parse), and
 *      the one listed request whose headers are in then is the one it
 *      refuses: poold answers it first, past MHD (http_raw.c), and MHD's
 *      page fails on the shut socket. Each request of a kept-alive
 *      connection goes through this, not its first only.
 *   1. first call: headers are in. Refuse a framing that is ambiguous,
 *      find the route, check the key and Content-Length against the limit,
 *      and return without answering: queueing a response on the first call
 *      makes MHD 0.9.75 drop keep-alive (about 4x slower). A request
 *      refused already is answered now when its client waits for "100
 *      Continue" before its body, or when the body must not be read.
 *   2. middle calls: append the body, or discard it once the answer is
 *      already known (401, 404, 405, 413), so the client can read that
 *      answer; past --max-body of it dropped, the answer goes at once,
 *      written past MHD (http_request_answer_now).
 *   3. last call: parse JSON if the route wants it, run the handler.
 *   4. after http_wait_defer: the connection is suspended; when woken, MHD
 *      calls the handler again and the waiter's resume function answers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nettle/memops.h>
#include <nettle/sha2.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "http/http_impl.h"
#include "http/http_parse.h"

/* The SHA-256 of a key: keys are compared by digest, so that neither a
 * key's length nor its bytes show in the time an answer takes. */
static void
http_request_key_digest(const char *key, uint8_t out[SHA256_DIGEST_SIZE])
{
    struct sha256_ctx ctx;

    sha256_init(&ctx);
    sha256_update(&ctx, strlen(key), (const uint8_t *)key);
    sha256_digest(&ctx, SHA256_DIGEST_SIZE, out);
}

/* 1 when no key is asked for, or the request carries one of them as
 * "Authorization: Bearer KEY" (or, on an HTTP_KEY_IN_QUERY route, as the
 * access_token parameter). Every key is compared, in constant time. */
int
http_request_authorized(const Http *h, struct MHD_Connection *c, const Route *route)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    uint8_t given[SHA256_DIGEST_SIZE], want[SHA256_DIGEST_SIZE];
    const char *key;
    int ok = 0;

    if (h->nkeys == 0)
        return 1;
    if (!(key = http_parse_bearer(auth)) && route && route->open == HTTP_KEY_IN_QUERY && !auth)
        key = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "access_token");
    if (!key)
        return 0;
    http_request_key_digest(key, given);
    for (int i = 0; i < h->nkeys; i++) {
        http_request_key_digest(h->keys[i], want);
        ok |= memeql_sec(want, given, sizeof(given));
    }
    return ok;
}

/* An MHD_KeyValueIterator: one header line into the HttpFraming cls. */
static enum MHD_Result
http_request_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    http_parse_framing_add(cls, key, value);
    return MHD_YES;
}

/* Refuses (400, and the connection closes) a request whose framing is
 * ambiguous: before anything else, since where its body ends, and so
 * where the next request begins, is not known. 1 when refused. */
static int
http_request_framing(HttpReq *r)
{
    HttpFraming f = {0};

    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, http_request_header, &f);
    if (!(r->why = http_parse_framing(&f)))
        return 0;
    r->status = 400;
    r->close = 1;
    return 1;
}

/* This thread's requests whose request line is in and whose headers are
 * not yet handed on: a connection lives on one MHD thread, and MHD parses
 * the headers of one at a time. */
static __thread HttpReq *http_request_unparsed;

static void
http_request_unlist(HttpReq *r)
{
    if (!r->unparsed_head)
        return;
    if (r->unparsed_prev)
        r->unparsed_prev->unparsed_next = r->unparsed_next;
    else
        *r->unparsed_head = r->unparsed_next;
    if (r->unparsed_next)
        r->unparsed_next->unparsed_prev = r->unparsed_prev;
    r->unparsed_head = NULL;
}

void *
http_request_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    HttpReq *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL; /* the access handler makes it, unlisted */
    r->http = cls;
    r->conn = c;
    r->began = clock_mono();
    r->guard = http_guard_conn(c);
    size_t n = strcspn(uri, "?");
    if (n >= sizeof(r->line))
        n = sizeof(r->line) - 1;
    memcpy(r->line, uri, n); /* the path, for a log line; the method comes later */
    r->unparsed_head = &http_request_unparsed;
    if ((r->unparsed_next = http_request_unparsed))
        r->unparsed_next->unparsed_prev = r;
    http_request_unparsed = r;
    return r;
}

/* The headers are in: r's route, key and framing. */
static void
http_request_begin(HttpReq *r, const char *url, const char *method)
{
    Http *h = r->http;
    struct MHD_Connection *c = r->conn;
    const char *cl, *te;

    r->begun = 1;
    snprintf(r->line, sizeof(r->line), "%s %s", method, url);
    __atomic_add_fetch(&h->active, 1, __ATOMIC_RELAXED);
    r->route = http_parse_route(h->routes, method, url, r->param, r->allow, sizeof(r->allow));
    if (http_request_framing(r))
        return;
    if (!r->route)
        r->status = r->allow[0] ? 405 : 404;
    else if (r->route->open != HTTP_OPEN && !http_request_authorized(h, c, r->route))
        r->status = 401;
    /* A refused body is dropped whole, never read as lines. */
    r->lines = !r->status && http_stream_lines_wanted(r);
    cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > h->max_body && !r->lines)
        r->status = 413;
    /* MHD decodes chunked and no other coding: a body in another it reads
     * until the client closes, when no answer can reach it any more. */
    te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (te && strcasecmp(te, "chunked") != 0)
        r->status = 400;
}

/* Appends a piece of the body; past the limit, the request becomes a 413
 * and the rest is discarded. */
static void
http_request_append(HttpReq *r, const char *data, size_t len)
{
    if (r->status)
        return;
    if (len > r->http->max_body - r->len) {
        r->status = 413;
        free(r->body);
        r->body = NULL;
        r->len = r->cap = 0;
        return;
    }
    if (r->len + len + 1 > r->cap) {
        /* A body that comes in one piece, as most do, takes one small
         * block of its size: a first 1 KiB, past glibc's small sizes,
         * made malloc consolidate its free lists on every request. */
        size_t cap = r->cap ? r->cap * 2 : len + 1;
        while (cap < r->len + len + 1)
            cap *= 2;
        char *grown = realloc(r->body, cap);
        if (!grown) {
            r->status = 413;
            return;
        }
        r->body = grown;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, len);
    r->len += len;
}

/* What the answer to a request refused before its handler says. */
static void
http_request_detail(HttpReq *r, char *detail, size_t len)
{
    if (r->why)
        snprintf(detail, len, "%s", r->why);
    else if (r->status == 413)
        snprintf(detail, len, "the body is larger than --max-body (%zu bytes)", r->http->max_body);
    else if (r->status == 405)
        snprintf(detail, len, "this path takes: %s", r->allow);
    else if (r->status == 401)
        snprintf(detail, len, "send the API key as \"Authorization: Bearer KEY\"");
    else if (r->status == 400)
        snprintf(detail, len, "Transfer-Encoding '%.40s' is not supported: send the body with "
                 "Content-Length, or chunked", http_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING));
    else if (r->status == 500)
        snprintf(detail, len, "out of memory reading a line of the body");
    else
        snprintf(detail, len, "no such endpoint");
}

static void
http_request_early_answer(HttpReq *r)
{
    char detail[160];

    http_request_detail(r, detail, sizeof(detail));
    http_reply_problem(r, r->status, detail, NULL);
}

/* 1 when a Content-Length of digits only is past 2^64 - 1. */
static int
http_request_length_overflows(const char *cl)
{
    errno = 0;
    (void)strtoull(cl, NULL, 10);
    return errno == ERANGE;
}

/* MHD refuses r's Content-Length, which it cannot read (or which is past
 * 2^64): answers first, the 400 poold gives an ambiguous framing (or its
 * 413), with Connection: close. MHD calls no handler for it: nothing of
 * it runs. Anything else MHD says is its own business. */
static void
http_request_refuse_length(HttpReq *r)
{
    const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

    if (!http_request_framing(r)) {
        if (!cl || !http_request_length_overflows(cl))
            return;
        r->status = 413;
        r->close = 1;
    }
    http_request_unlist(r);
    if (http_raw_begin(r) < 0)
        return; /* the guard answered 408 first */
    http_request_early_answer(r);
    log_msg(LOG_DEBUG, "%s: answered %d for libmicrohttpd, which refuses its Content-Length", r->line, r->status);
}

void
http_request_mhd_said(const char *fmt)
{
    /* The two messages 0.9.75 logs just before it refuses a Content-Length
     * (too large, or not a number); any other is none of this. */
    if (!strstr(fmt, "Content-Length"))
        return;
    /* Listed, headers in (MHD gives their size from then on), and no
     * answer queued (MHD's own, for an earlier refusal): the one request
     * MHD is parsing the headers of, on this thread, right now. */
    for (HttpReq *r = http_request_unparsed; r; r = r->unparsed_next)
        if (MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE) &&
            !MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_HTTP_STATUS)) {
            http_request_refuse_length(r);
            return;
        }
}


static void
http_request_run(HttpReq *r)
{
    if (r->lines)
        http_stream_lines_end(r);
    else if (r->route->body != HTTP_BODY_ANY) {
        if (r->len == 0) {
            http_reply_problem(r, 400, "the body is empty: send a JSON object", NULL);
            return;
        }
        if (r->route->body != HTTP_BODY_TEXT && !http_json_parse(r))
            return;
    }
    r->route->handler(r);
    if (!r->early && r->waiter && !r->waiter->stream && !r->answered)
        http_wait_suspend(r);
    else if (!r->answered)
        http_reply_problem(r, 500, "the handler gave no answer", NULL);
}

/* More than --max-body of an unwanted body was dropped (a refused one, or
 * the rest of an NDJSON one): the answer goes at once, before the body's
 * end, past libmicrohttpd (http_raw.c), which would take it only after
 * the end, and such a body may never end: its refusal, or its handler's
 * answer as at the end of the body (an NDJSON stream so far and its final
 * line). The rest is still read and dropped for a while (a client still
 * sending into a closed socket would take a reset), and the connection
 * closed a second on, once as much again was dropped (http_raw_piece):
 * an endless body holds it no longer. */
enum MHD_Result
http_request_answer_now(HttpReq *r, size_t *size)
{
    if (http_raw_begin(r) < 0)
        return MHD_NO; /* the guard answered 408 first */
    if (r->status)
        http_request_early_answer(r);
    else
        http_request_run(r);
    log_msg(LOG_DEBUG, "%s: answered %d before the end of its body: more than --max-body of it was dropped",
            r->line, r->answered);
    return http_raw_piece(r, size);
}

/*
 * A piece of the body. Each moves the guard's deadline on by its share; a
 * lines body that poold makes wait (asleep, suspended) is off the clock,
 * which starts again at the wake. MHD_NO closes the connection: a lines
 * body dropped past its bound, or one the guard answered meanwhile.
 */
static enum MHD_Result
http_request_body_piece(HttpReq *r, const char *data, size_t *size)
{
    size_t given = *size;
    int refused = r->status != 0;

    if (r->early)
        return http_raw_piece(r, size);
    if (r->lines)
        return http_stream_lines_piece(r, data, size);
    http_request_append(r, data, given);
    *size = 0;
    /* Refused already (413, 401, 404...): what comes is thrown away, and
     * earns the request no time; a chunked body without end would hold
     * the connection for ever. */
    if (refused && (r->dropped += given) > r->http->max_body)
        return http_request_answer_now(r, size);
    return refused || http_guard_more(r->guard, given) >= 0 ? MHD_YES : MHD_NO;
}

/* 1 when the client waits for "100 Continue" before it sends its body. */
static int
http_request_expects_continue(HttpReq *r)
{
    const char *expect = http_header(r, MHD_HTTP_HEADER_EXPECT);

    return expect && strcasecmp(expect, "100-continue") == 0;
}

enum MHD_Result
http_request_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                    const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
    Http *h = cls;
    HttpReq *r = *req_cls;

    (void)version;
    if (!r || !r->begun) {
        if (!r && !(r = *req_cls = http_request_uri(h, url, c)))
            return MHD_NO;
        http_request_unlist(r);
        /* The headers are in: the body's clock starts. MHD_NO wherever the
         * guard has answered 408 first, or poold answered for MHD. */
        if (r->early || http_guard_arm(h, r->guard, 1) < 0)
            return MHD_NO;
        http_request_begin(r, url, method);
        /* A declared body over the limit is refused before it is sent, as
         * is one that would never end or whose end is not known, and any
         * refused request whose client waits for "100 Continue" (curl
         * does past 1 KiB): MHD then sends no 100, and reads no body.
         * Losing keep-alive is fine here. */
        if (r->status == 413 || r->status == 400 || (r->status && http_request_expects_continue(r))) {
            if (http_guard_off(r->guard) < 0)
                return MHD_NO;
            http_request_early_answer(r);
        } else if (r->lines && http_stream_lines_begin(r) < 0) {
            return MHD_NO;
        }
        return MHD_YES;
    }
    if (*upload_data_size)
        return http_request_body_piece(r, upload_data, upload_data_size);
    if (r->early) /* answered past MHD: MHD must write nothing */
        return http_raw_end(r);
    /* The request is in: answered from here, off the guard's clock. */
    if (http_guard_off(r->guard) < 0)
        return MHD_NO;
    if (r->answered)
        return MHD_YES;
    if (r->waiter && !r->waiter->stream) {
        http_wait_resumed(r);
        return MHD_YES;
    }
    if (r->status)
        http_request_early_answer(r);
    else
        http_request_run(r);
    return MHD_YES;
}

void
http_request_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                       enum MHD_RequestTerminationCode toe)
{
    HttpReq *r = *req_cls;
    double took;

    (void)toe;
    /* The guard's 408 went instead of an answer: counted as one (by the
     * guard, for a request whose headers never came). */
    if (http_guard_done(cls, c) < 0 && r && r->begun && !r->answered)
        r->answered = 408;
    if (!r)
        return;
    http_request_unlist(r);
    /* A request that ended before its headers were in, unanswered or with
     * libmicrohttpd's own page, is no request of poold's. */
    if (r->begun || r->answered) {
        took = clock_mono() - r->began;
        metrics_http(r->route ? (int)(r->route - r->http->routes) : -1, r->answered, took);
        /* 503 is backpressure, expected under load: not worth a line each. */
        log_msg(r->answered >= 500 && r->answered != 503 ? LOG_WARN : LOG_DEBUG, "%s status=%d duration_ms=%.1f",
                r->line, r->answered, took * 1e3);
    }
    if (r->waiter)
        http_wait_release(r->waiter);
    json_decref(r->json);
    free(r->body);
    http_raw_free(r);
    if (r->begun)
        __atomic_sub_fetch(&r->http->active, 1, __ATOMIC_RELEASE);
    free(r);
    *req_cls = NULL;
}

/* MHD_OPTION_UNESCAPE_CALLBACK's: MHD's decoding, but "%00" stays. */
size_t
http_request_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return http_parse_unescape(s);
}