/*
 * http_request.c: the request phases, the side libmicrohttpd drives (its
 * access handler and completion callback); http.c is the other side, what
 * handlers and main call.
 *
 * Request phases, as libmicrohttpd calls the access handler:
 *   1. first call: headers are in. Find the route, check Content-Length
 *      against the limit, and return without answering: queueing a response
 *      on the first call makes MHD 0.9.75 drop keep-alive (about 4x slower).
 *   2. middle calls: append the body, or discard it once the answer is
 *      already known (404, 405, 413), so the client can read that answer.
 *   3. last call: parse JSON if the route wants it, run the handler.
 *   4. after http_wait_defer: the connection is suspended; when woken, MHD
 *      calls the handler again and the waiter's resume function answers.
 */
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
static int
http_request_authorized(const Http *h, struct MHD_Connection *c, const Route *route)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    uint8_t given[SHA256_DIGEST_SIZE], want[SHA256_DIGEST_SIZE];
    const char *key;
    int ok = 0;

    if (h->nkeys == 0)
        return 1;
    if (!(key = http_parse_bearer(auth)) && route->open == HTTP_KEY_IN_QUERY && !auth)
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

static HttpReq *
http_request_new(Http *h, struct MHD_Connection *c, const char *url, const char *method)
{
    HttpReq *r = calloc(1, sizeof(*r));
    const char *cl, *te;

    if (!r)
        return NULL;
    r->http = h;
    r->conn = c;
    r->began = clock_mono();
    snprintf(r->line, sizeof(r->line), "%s %s", method, url);
    __atomic_add_fetch(&h->active, 1, __ATOMIC_RELAXED);
    r->route = http_parse_route(h->routes, method, url, r->param, r->allow, sizeof(r->allow));
    if (!r->route)
        r->status = r->allow[0] ? 405 : 404;
    else if (r->route->open != HTTP_OPEN && !http_request_authorized(h, c, r->route))
        r->status = 401;
    r->lines = http_stream_lines_wanted(r);
    cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > h->max_body && !r->lines)
        r->status = 413;
    /* MHD decodes chunked and no other coding: a body in another it reads
     * until the client closes, when no answer can reach it any more. */
    te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (te && strcasecmp(te, "chunked") != 0)
        r->status = 400;
    return r;
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

static void
http_request_early_answer(HttpReq *r)
{
    char detail[160];

    if (r->status == 413 && r->lines)
        snprintf(detail, sizeof(detail), "a line of the body is longer than --max-body (%zu bytes)",
                 r->http->max_body);
    else if (r->status == 413)
        snprintf(detail, sizeof(detail), "the body is larger than --max-body (%zu bytes)", r->http->max_body);
    else if (r->status == 405)
        snprintf(detail, sizeof(detail), "this path takes: %s", r->allow);
    else if (r->status == 401)
        snprintf(detail, sizeof(detail), "send the API key as \"Authorization: Bearer KEY\"");
    else if (r->status == 400)
        snprintf(detail, sizeof(detail), "Transfer-Encoding '%.40s' is not supported: send the body with "
                 "Content-Length, or chunked", http_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING));
    else
        snprintf(detail, sizeof(detail), "no such endpoint");
    http_reply_problem(r, r->status, detail, NULL);
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
    if (r->waiter && !r->waiter->stream && !r->answered)
        http_wait_suspend(r);
    else if (!r->answered)
        http_reply_problem(r, 500, "the handler gave no answer", NULL);
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

    if (!r->lines) {
        int refused = r->status != 0;
        http_request_append(r, data, given);
        *size = 0;
        /* Refused already (413, 401, 404...): what comes is thrown away,
         * earns the request no time, and past --max-body more ends the
         * connection; a chunked body without end held it for ever. */
        if (refused && (r->dropped += given) > r->http->max_body) {
            log_msg(LOG_INFO, "%s: closed after dropping more than --max-body of an unwanted body", r->line);
            return MHD_NO;
        }
        return refused || http_guard_more(r->guard, given) >= 0 ? MHD_YES : MHD_NO;
    }
    if (r->guard_asleep) {
        r->guard_asleep = 0;
        if (http_guard_arm(r->http, r->guard, 1) < 0)
            return MHD_NO;
    }
    unsigned long lines = r->lines_in;
    if (http_stream_lines_take(r, data, size) < 0) {
        log_msg(LOG_INFO, "%s: closed after dropping more than --max-body of an unwanted body", r->line);
        return MHD_NO;
    }
    if (r->guard && r->waiter && http_wait_asleep(r->waiter)) {
        /* No MHD_NO now, whoever won: MHD must not close a suspended
         * connection. A guard that won is met at the wake. */
        r->guard_asleep = 1;
        http_guard_off(r->guard);
        return MHD_YES;
    }
    /* A stream of lines may be a generator's, as slow as it likes: each
     * line that comes whole gives a new --connection-timeout for the
     * next; only a line itself must keep to the rate. */
    if (r->lines_in > lines)
        return http_guard_arm(r->http, r->guard, 1) < 0 ? MHD_NO : MHD_YES;
    return http_guard_more(r->guard, given - *size) < 0 ? MHD_NO : MHD_YES;
}

enum MHD_Result
http_request_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                    const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
    Http *h = cls;
    HttpReq *r = *req_cls;

    (void)version;
    if (!r) {
        HttpConn *g = http_guard_conn(c);
        /* The headers are in: the body's clock starts. MHD_NO wherever the
         * guard has answered 408 first. */
        if (http_guard_arm(h, g, 1) < 0 || !(r = http_request_new(h, c, url, method)))
            return MHD_NO;
        r->guard = g;
        *req_cls = r;
        /* A declared body over the limit is refused before it is sent
         * (curl waits for "100 Continue"), as is one that would never
         * end; losing keep-alive is fine here. */
        if (r->status == 413 || r->status == 400) {
            if (http_guard_off(g) < 0)
                return MHD_NO;
            http_request_early_answer(r);
        }
        return MHD_YES;
    }
    if (*upload_data_size)
        return http_request_body_piece(r, upload_data, upload_data_size);
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
    /* The guard's 408 went instead of an answer: counted as one. */
    if (http_guard_done(cls, c) < 0 && r && !r->answered)
        r->answered = 408;
    if (!r)
        return;
    took = clock_mono() - r->began;
    metrics_http(r->route ? (int)(r->route - r->http->routes) : -1, r->answered, took);
    /* 503 is backpressure, expected under load: not worth a line each. */
    if (r->answered >= 500 && r->answered != 503)
        log_msg(LOG_WARN, "%s status=%d duration_ms=%.1f", r->line, r->answered, took * 1e3);
    else
        log_msg(LOG_DEBUG, "%s status=%d duration_ms=%.1f", r->line, r->answered, took * 1e3);
    if (r->waiter)
        http_wait_release(r->waiter);
    json_decref(r->json);
    free(r->body);
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