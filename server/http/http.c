/*
 * http.c: see http.h. The side of the glue that main and the handlers
 * call: starting and stopping the daemon, what a handler reads of its
 * request, and the replies. The side libmicrohttpd calls, a request's
 * phases from its headers to its completion, is http_request.c.
 */
#include "http/http.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "core/jtext.h"
#include "core/log.h"
#include "http/http_impl.h"
#include "http/http_status.h"

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
    if (r->early) { /* before the body's end, or for MHD's refusal: past MHD */
        http_raw_reply(r, status, text, type, headers);
        return;
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
http_reply_static(HttpReq *r, int status, const char *type, const void *data, size_t len,
                  const char *const *headers)
{
    struct MHD_Response *resp;

    if (r->answered)
        return;
    resp = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        http_reply_problem(r, 500, "out of memory", NULL);
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
    char *text = body ? jtext_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

    json_decref(body);
    http_queue(r, status, text, "application/json", NULL);
}

void
http_reply_json_h(HttpReq *r, int status, json_t *body, const char *const *headers)
{
    char *text = body ? jtext_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

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
    text = body ? jtext_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    return text;
}

/* The headers a problem with status carries besides its type, into out
 * (room for 5: name, value pairs, NULL-terminated). */
static void
http_problem_headers(const HttpReq *r, int status, const char **out)
{
    int n = 0;

    if (status == 503) {
        out[n++] = MHD_HTTP_HEADER_RETRY_AFTER;
        out[n++] = "1";
    } else if (status == 405) {
        out[n++] = MHD_HTTP_HEADER_ALLOW;
        out[n++] = r->allow;
    } else if (status == 401) {
        out[n++] = MHD_HTTP_HEADER_WWW_AUTHENTICATE;
        out[n++] = "Bearer realm=\"poold\"";
    }
    if (r->close) {
        out[n++] = MHD_HTTP_HEADER_CONNECTION;
        out[n++] = "close";
    }
    out[n] = NULL;
}

void
http_reply_problem(HttpReq *r, int status, const char *detail, json_t *ext)
{
    char *text = http_problem_text(status, detail, ext);
    const char *headers[5];

    http_problem_headers(r, status, headers);
    http_queue(r, status, text, "application/problem+json", headers);
}

void
http_reply_problem_h(HttpReq *r, int status, const char *detail, json_t *ext, const char *const *headers)
{
    http_queue(r, status, http_problem_text(status, detail, ext), "application/problem+json", headers);
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

int
http_authorized(HttpReq *r)
{
    return http_request_authorized(r->http, r->conn, r->route);
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

/* --- start and stop --- */

/* MHD_OPTION_EXTERNAL_LOGGER's: MHD's messages, one line each, at debug.
 * One of them says that MHD refuses a request's Content-Length: poold
 * answers it itself, first (http_request_mhd_said). */
static void
http_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_msg(LOG_DEBUG, "libmicrohttpd: %s", msg);
    http_request_mhd_said(fmt);
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

/* A new Http with the options it keeps; NULL when out of memory. */
static Http *
http_new(const HttpOptions *o)
{
    Http *h = calloc(1, sizeof(*h));

    if (!h)
        return NULL;
    pthread_mutex_init(&h->lock, NULL);
    h->watch_ep = h->watch_stop = -1;
    h->routes = o->routes;
    h->keys = o->keys;
    h->nkeys = o->nkeys;
    h->max_body = o->max_body;
    h->max_conns = o->max_conns;
    h->conn_timeout = o->conn_timeout;
    h->app = o->app;
    return h;
}

/* Stops what h started, skipping what did not start, and frees it: the
 * one end of a failed start and of a stop. */
static void
http_free(Http *h)
{
    if (h->d)
        MHD_stop_daemon(h->d);
    http_listen_free(h);
    http_wait_stop(h);
    http_guard_stop(h);
    pthread_mutex_destroy(&h->lock);
    free(h->tls_cert);
    free(h->tls_key);
    free(h);
}

/* libmicrohttpd's daemon, with flags and the TLS options; NULL if it does
 * not start. */
static struct MHD_Daemon *
http_daemon(Http *h, const HttpOptions *o, unsigned flags, struct MHD_OptionItem *tls)
{
    return MHD_start_daemon(flags, 0, NULL, NULL, http_request_access, h,
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
                            MHD_OPTION_CONNECTION_TIMEOUT, HTTP_IDLE_TIMEOUT(o->conn_timeout),
                            /* MHD zeroes this pool between requests; 16 KiB
                             * holds any sane header block at half the cost
                             * of the default 32 KiB (the body comes to us
                             * in pieces, whatever its size). */
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(16 * 1024),
                            MHD_OPTION_URI_LOG_CALLBACK, http_request_uri, h,
                            MHD_OPTION_NOTIFY_COMPLETED, http_request_completed, h,
                            MHD_OPTION_NOTIFY_CONNECTION, http_listen_notify, h,
                            MHD_OPTION_UNESCAPE_CALLBACK, http_request_unescape, NULL,
                            MHD_OPTION_ARRAY, tls,
                            MHD_OPTION_END);
}

Http *
http_start(const HttpOptions *o, char *err, size_t errlen)
{
    struct MHD_OptionItem tls[3];
    Http *h = http_new(o);
    /* No listening socket of MHD's: http_listen.c accepts (see there why). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG;

    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (http_listen_open(h, o->host, o->port, err, errlen) < 0 ||
        http_tls_options(h, o, tls, &flags, err, errlen) < 0)
        goto fail;
    /* Before the daemon: its threads may suspend a call at once. */
    if (http_wait_start(h) < 0 || http_guard_start(h) < 0) {
        snprintf(err, errlen, "cannot start the disconnect watcher or the connection guard");
        goto fail;
    }
    if (!(h->d = http_daemon(h, o, flags, tls))) {
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
    http_free(h);
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
    http_wait_resume_all(h);
    /* A call just woken still has to write its answer: give the requests
     * in flight a moment to complete before the daemon closes them. */
    for (int i = 0; i < (int)(HTTP_DRAIN_SECONDS * 100); i++) {
        if (__atomic_load_n(&h->active, __ATOMIC_ACQUIRE) == 0)
            break;
        usleep(10 * 1000);
    }
    http_free(h);
}
