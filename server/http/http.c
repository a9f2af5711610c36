/*
 * http.c: see http.h.
 *
 * Request phases, as libmicrohttpd calls the access handler:
 *   1. first call: headers are in. Find the route, check Content-Length
 *      against the limit, and return without answering: queueing a response
 *      on the first call makes MHD 0.9.75 drop keep-alive (about 4x slower).
 *   2. middle calls: append the body, or discard it once the answer is
 *      already known (404, 405, 413), so the client can read that answer.
 *   3. last call: parse JSON if the route wants it, run the handler.
 *   4. after http_defer: the connection is suspended; when woken, MHD calls
 *      the handler again and the waiter's resume function answers.
 */
#include "http/http.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <nettle/memops.h>
#include <nettle/sha2.h>

#include "core/clock.h"
#include "http/http_impl.h"
#include "http/http_parse.h"
#include "http/http_status.h"
#include "core/log.h"
#include "core/metrics.h"

#define HTTP_DRAIN_SECONDS 5.0 /* how long http_stop lets answers finish */


/* --- replies --- */

/* Queues text (malloc'd, taken) as the answer, with the content type and
 * the extra headers (name, value pairs, NULL-terminated; may be NULL). */
static void
http_queue(HttpReq *r, int status, char *text, const char *type, const char *const *headers)
{
    struct MHD_Response *resp;

    if (r->answered) {
        free(text);
        return;
    }
    if (!text) { /* the answer could not be built: say so, as a problem still */
        text = strdup("{\"type\":\"urn:poold:problem:internal-error\",\"title\":\"Internal error\","
                      "\"status\":500,\"detail\":\"out of memory\"}");
        status = 500;
        type = "application/problem+json";
    }
    resp = MHD_create_response_from_buffer(text ? strlen(text) : 0, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2)
        MHD_add_response_header(resp, headers[i], headers[i + 1]);
    MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->answered = status;
}

void
http_reply_json(HttpReq *r, int status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

    json_decref(body);
    http_queue(r, status, text, "application/json", NULL);
}

void
http_reply_json_h(HttpReq *r, int status, json_t *body, const char *const *headers)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

    json_decref(body);
    http_queue(r, status, text, "application/json", headers);
}

void
http_reply_text(HttpReq *r, int status, char *text)
{
    http_queue(r, status, text, "application/json", NULL);
}

void
http_reply_typed(HttpReq *r, int status, const char *type, char *text)
{
    http_queue(r, status, text, type, NULL);
}

char *
http_problem_text(int status, const char *detail, json_t *ext)
{
    const char *slug = http_status_slug(status), *title = http_status_title(status);
    char type[96], *text;
    json_t *body;

    snprintf(type, sizeof(type), "urn:poold:problem:%s", slug);
    body = json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title", title, "status", status,
                     "detail", detail ? detail : title);
    if (!body && detail) /* a detail quoting the client's bytes that are not UTF-8: keep the status */
        body = json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title", title, "status", status, "detail", title);
    if (body && ext)
        json_object_update(body, ext);
    json_decref(ext);
    text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    return text;
}

void
http_reply_problem(HttpReq *r, int status, const char *detail, json_t *ext)
{
    char *text = http_problem_text(status, detail, ext);
    const char *retry[] = {MHD_HTTP_HEADER_RETRY_AFTER, "1", NULL};
    const char *allow[] = {MHD_HTTP_HEADER_ALLOW, r->allow, NULL};
    const char *auth[] = {MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"poold\"", NULL};

    http_queue(r, status, text, "application/problem+json",
               status == 503 ? retry : status == 405 ? allow : status == 401 ? auth : NULL);
}

/* --- accessors --- */

void *
http_app(HttpReq *r)
{
    return r->http->app;
}

const json_t *
http_json(HttpReq *r)
{
    return r->json;
}

const char *
http_body(HttpReq *r, size_t *len)
{
    *len = r->len;
    return r->body ? r->body : "";
}

const char *
http_param(HttpReq *r)
{
    return r->param;
}

const char *
http_query(HttpReq *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *
http_header(HttpReq *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

/* --- the access handler --- */

/* The SHA-256 of a key: keys are compared by digest, so that neither a
 * key's length nor its bytes show in the time an answer takes. */
static void
http_key_digest(const char *key, uint8_t out[SHA256_DIGEST_SIZE])
{
    struct sha256_ctx ctx;

    sha256_init(&ctx);
    sha256_update(&ctx, strlen(key), (const uint8_t *)key);
    sha256_digest(&ctx, SHA256_DIGEST_SIZE, out);
}

/* 1 when no key is asked for, or the request carries one of them as
 * "Authorization: Bearer KEY". Every key is compared, in constant time. */
static int
http_authorized(const Http *h, struct MHD_Connection *c)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    uint8_t given[SHA256_DIGEST_SIZE], want[SHA256_DIGEST_SIZE];
    const char *key;
    int ok = 0;

    if (h->nkeys == 0)
        return 1;
    if (!(key = http_parse_bearer(auth)))
        return 0;
    http_key_digest(key, given);
    for (int i = 0; i < h->nkeys; i++) {
        http_key_digest(h->keys[i], want);
        ok |= memeql_sec(want, given, sizeof(given));
    }
    return ok;
}

static HttpReq *
http_req_new(Http *h, struct MHD_Connection *c, const char *url, const char *method)
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
    else if (!r->route->open && !http_authorized(h, c))
        r->status = 401;
    r->lines = http_lines_wanted(r);
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
http_req_append(HttpReq *r, const char *data, size_t len)
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
http_early_answer(HttpReq *r)
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

const json_t *
http_json_parse(HttpReq *r)
{
    json_error_t jerr;
    char detail[300];

    if (!r->json && !(r->json = json_loadb(r->body, r->len, POOLD_BODY_JSON_FLAGS, &jerr))) {
        snprintf(detail, sizeof(detail), "the body is not valid JSON: %s (line %d, column %d)", jerr.text,
                 jerr.line, jerr.column);
        http_reply_problem(r, 400, detail, NULL);
    }
    return r->json;
}

static void
http_run(HttpReq *r)
{
    if (r->lines)
        http_lines_end(r);
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
        http_suspend(r);
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
http_body_piece(HttpReq *r, const char *data, size_t *size)
{
    size_t given = *size;

    if (!r->lines) {
        int refused = r->status != 0;
        http_req_append(r, data, given);
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
    if (http_lines_take(r, data, size) < 0) {
        log_msg(LOG_INFO, "%s: closed after dropping more than --max-body of an unwanted body", r->line);
        return MHD_NO;
    }
    if (r->guard && r->waiter && http_asleep(r->waiter)) {
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

static enum MHD_Result
http_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
            const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
    Http *h = cls;
    HttpReq *r = *req_cls;

    (void)version;
    if (!r) {
        HttpConn *g = http_guard_conn(c);
        /* The headers are in: the body's clock starts. MHD_NO wherever the
         * guard has answered 408 first. */
        if (http_guard_arm(h, g, 1) < 0 || !(r = http_req_new(h, c, url, method)))
            return MHD_NO;
        r->guard = g;
        *req_cls = r;
        /* A declared body over the limit is refused before it is sent
         * (curl waits for "100 Continue"), as is one that would never
         * end; losing keep-alive is fine here. */
        if (r->status == 413 || r->status == 400) {
            if (http_guard_off(g) < 0)
                return MHD_NO;
            http_early_answer(r);
        }
        return MHD_YES;
    }
    if (*upload_data_size)
        return http_body_piece(r, upload_data, upload_data_size);
    /* The request is in: answered from here, off the guard's clock. */
    if (http_guard_off(r->guard) < 0)
        return MHD_NO;
    if (r->answered)
        return MHD_YES;
    if (r->waiter && !r->waiter->stream) {
        http_resumed(r);
        return MHD_YES;
    }
    if (r->status)
        http_early_answer(r);
    else
        http_run(r);
    return MHD_YES;
}

static void
http_completed(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode toe)
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
        http_waiter_release(r->waiter);
    json_decref(r->json);
    free(r->body);
    __atomic_sub_fetch(&r->http->active, 1, __ATOMIC_RELEASE);
    free(r);
    *req_cls = NULL;
}

/* MHD_OPTION_UNESCAPE_CALLBACK's: MHD's decoding, but "%00" stays. */
static size_t
http_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return http_parse_unescape(s);
}

static void
http_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_msg(LOG_DEBUG, "libmicrohttpd: %s", msg);
}

/* A whole PEM file, malloc'd and NUL-terminated; NULL if unreadable. */
static char *
http_read_pem(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = NULL;
    size_t len = 0, n;
    char buf[4096];

    if (!f)
        return NULL;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        char *grown = len + n <= 1 << 20 ? realloc(text, len + n + 1) : NULL; /* no sane chain is 1 MiB */
        if (!grown) {
            free(text);
            text = NULL;
            break;
        }
        text = grown;
        memcpy(text + len, buf, n);
        len += n;
    }
    if (ferror(f) || !text) {
        free(text);
        text = NULL;
    } else {
        text[len] = '\0';
    }
    fclose(f);
    return text;
}

/* The TLS half of the daemon's options, into opts (room for 3). Returns
 * 0, or -1 with err filled. */
static int
http_tls_options(Http *h, const HttpOptions *o, struct MHD_OptionItem *opts, unsigned *flags, char *err,
                 size_t errlen)
{
    opts[0] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    if (!o->tls_cert)
        return 0;
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        snprintf(err, errlen, "--tls-cert: this libmicrohttpd was built without TLS");
        return -1;
    }
    if (!(h->tls_cert = http_read_pem(o->tls_cert)) || !(h->tls_key = http_read_pem(o->tls_key))) {
        snprintf(err, errlen, "cannot read %s", h->tls_cert ? o->tls_key : o->tls_cert);
        return -1;
    }
    *flags |= MHD_USE_TLS;
    opts[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert};
    opts[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key};
    opts[2] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    return 0;
}

Http *
http_start(const HttpOptions *o, char *err, size_t errlen)
{
    struct MHD_OptionItem tls[3];
    Http *h = calloc(1, sizeof(*h));
    /* No listening socket of MHD's: http_listen.c accepts (see there why). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG;

    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&h->lock, NULL);
    h->watch_ep = h->watch_stop = -1;
    h->routes = o->routes;
    h->keys = o->keys;
    h->nkeys = o->nkeys;
    h->max_body = o->max_body;
    h->max_conns = o->max_conns;
    h->conn_timeout = o->conn_timeout;
    h->app = o->app;
    if (http_listen_open(h, o->host, o->port, err, errlen) < 0 ||
        http_tls_options(h, o, tls, &flags, err, errlen) < 0)
        goto fail;
    /* Before the daemon: its threads may suspend a call at once. */
    if (http_watch_start(h) < 0 || http_guard_start(h) < 0) {
        snprintf(err, errlen, "cannot start the disconnect watcher or the connection guard");
        goto fail;
    }
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, http_access, h,
                            MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, NULL,
                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)o->threads,
                            /* --max-connections is http_listen.c's to keep.
                             * MHD splits its own limit evenly between its
                             * threads, and refuses past a thread's share:
                             * each share is the whole of ours, and more,
                             * for the moment MHD still counts a connection
                             * it told us was closed. Never lower: 0.9.75's
                             * second check of its limit, in its thread,
                             * returns with a lock held. */
                            MHD_OPTION_CONNECTION_LIMIT, ((unsigned)o->max_conns + 64) * (unsigned)o->threads,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)o->max_conns_per_ip,
                            /* A second past the guard's deadlines, so that
                             * a request that stops short is the guard's to
                             * answer (408), not closed unanswered by MHD's
                             * idle timeout a moment before. */
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(o->conn_timeout ? o->conn_timeout + 1 : 0),
                            /* MHD zeroes this pool between requests; 16 KiB
                             * holds any sane header block at half the cost
                             * of the default 32 KiB (the body comes to us
                             * in pieces, whatever its size). */
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(16 * 1024),
                            MHD_OPTION_NOTIFY_COMPLETED, http_completed, h,
                            MHD_OPTION_NOTIFY_CONNECTION, http_listen_notify, h,
                            MHD_OPTION_UNESCAPE_CALLBACK, http_unescape, NULL,
                            MHD_OPTION_ARRAY, tls,
                            MHD_OPTION_END);
    if (!h->d) {
        snprintf(err, errlen, o->tls_cert ? "cannot start the HTTP daemon (a certificate and key that do not "
                                            "load or match?)"
                                          : "cannot start the HTTP daemon");
        goto fail;
    }
    if (http_listen_run(h) < 0) {
        snprintf(err, errlen, "cannot start the listener thread");
        goto fail;
    }
    return h;
fail:
    if (h->d)
        MHD_stop_daemon(h->d);
    http_listen_free(h);
    http_watch_stop(h);
    http_guard_stop(h);
    pthread_mutex_destroy(&h->lock);
    free(h->tls_cert);
    free(h->tls_key);
    free(h);
    return NULL;
}

int
http_port(const Http *h)
{
    return h->port;
}

void
http_quiesce(Http *h)
{
    http_listen_close(h);
}

void
http_stop(Http *h)
{
    if (!h)
        return;
    http_listen_close(h);
    /* MHD may not stop with suspended connections: resume each; unwoken,
     * it answers 503. */
    http_resume_all(h);
    /* A call just woken still has to write its answer: give the requests
     * in flight a moment to complete before the daemon closes them. */
    for (int i = 0; i < (int)(HTTP_DRAIN_SECONDS * 100); i++) {
        if (__atomic_load_n(&h->active, __ATOMIC_ACQUIRE) == 0)
            break;
        usleep(10 * 1000);
    }
    MHD_stop_daemon(h->d);
    http_listen_free(h);
    http_watch_stop(h);
    http_guard_stop(h);
    pthread_mutex_destroy(&h->lock);
    free(h->tls_cert);
    free(h->tls_key);
    free(h);
}
