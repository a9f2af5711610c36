/*
 * http.h: the libmicrohttpd glue, as its users see it. It owns the daemon,
 * the request phases, body limits, JSON parsing, replies and the
 * suspend/resume of deferred answers. It knows no handler: main hands it
 * the route table (handlers/routes.c), and handlers answer through the
 * helpers below.
 *
 * Public: main (start, stop) and the handlers (through handlers.h) include
 * it. What server/http/'s own files share is http_impl.h, which no one
 * else includes.
 */
#ifndef POOLD_HTTP_H
#define POOLD_HTTP_H

#include <jansson.h>
#include <sys/types.h>

#include "core/common.h"

/* A handler answers with one of the http_reply_* helpers, or defers with
 * http_wait_defer. Called on an MHD thread. */
typedef void (*HttpHandler)(HttpReq *r);

/* What a route's body must be. */
typedef enum {
    HTTP_BODY_ANY,   /* the handler reads it, if it wants it */
    HTTP_BODY_JSON,  /* JSON: 400 otherwise */
    HTTP_BODY_LINES, /* JSON, or with Content-Type application/x-ndjson,
                      * lines handed to the route's line function as
                      * they arrive, never held whole */
    HTTP_BODY_TEXT,  /* JSON the handler reads from the text, parsing it
                      * (http_json_parse) only if it must: not empty */
} HttpBody;

/* HttpLineFn's answers. */
#define HTTP_LINE_MORE 0  /* taken: send the next */
#define HTTP_LINE_FULL 1  /* taken, but send no more until http_wait_wake */
#define HTTP_LINE_STOP (-1) /* read no more: the rest of the body is dropped */

/*
 * Takes one line of an NDJSON body (without its newline; blank lines are
 * skipped), on an MHD thread, as it arrives. After an HTTP_LINE_FULL and a
 * wake, it is called with line NULL to ask whether it may go on (MORE) or
 * not yet (FULL). The handler runs as usual once the body has ended, and
 * answers; it may not answer before. A line longer than --max-body is not
 * handed on, nor any after it: the handler learns of it from
 * http_stream_overlong.
 */
typedef int (*HttpLineFn)(HttpReq *r, const char *line, size_t len);

struct Route {
    const char *method;
    const char *pattern;  /* literal path; at most one "{id}" segment */
    HttpHandler handler;
    HttpBody body;
    HttpLineFn line;      /* HTTP_BODY_LINES only */
    int open;             /* HTTP_OPEN: served without an API key (health
                           * probes); HTTP_KEY_IN_QUERY: the key may come
                           * as ?access_token=KEY too (RFC 6750 2.3), for a
                           * browser's EventSource, which sends no header */
};
#define HTTP_OPEN 1
#define HTTP_KEY_IN_QUERY 2

typedef struct HttpOptions {
    const char *host;
    int port;
    int threads;
    int max_conns;
    int max_conns_per_ip; /* 0: no limit */
    int conn_timeout;     /* seconds idle before a connection is closed,
                           * and a request's headers (then its body) get
                           * before a 408 (http_guard.c); 0: never */
    size_t max_body;      /* larger bodies get 413 */
    const Route *routes;  /* ends with a zero row */
    void *app;            /* handed to handlers through http_app() */
    const char *const *keys; /* API keys: every route but the open ones
                              * wants "Authorization: Bearer KEY"; NULL
                              * or empty for none */
    int nkeys;
    const char *tls_cert; /* PEM files: HTTPS through GnuTLS when both */
    const char *tls_key;  /* are set, plain HTTP when both are NULL */
} HttpOptions;

typedef struct Http Http;

/* Starts serving. NULL on failure with one line in err. */
Http *http_start(const HttpOptions *o, char *err, size_t errlen);

/* The port actually bound (useful with port 0). */
int http_port(const Http *h);

/* Stops accepting connections; those open go on being served. */
void http_quiesce(Http *h);

/* Answers what is still deferred with 503, then stops the daemon. */
void http_stop(Http *h);

/* --- for handlers --- */

void *http_app(HttpReq *r);
const json_t *http_json(HttpReq *r);      /* borrowed; NULL without a body */
/* An HTTP_BODY_TEXT route's body parsed as JSON bodies are (duplicate keys
 * refused), kept for http_json; on failure answers 400 saying why and
 * returns NULL. */
const json_t *http_json_parse(HttpReq *r);
const char *http_body(HttpReq *r, size_t *len); /* the raw body, borrowed */
const char *http_param(HttpReq *r);       /* the {id} segment, "" if none */
const char *http_query(HttpReq *r, const char *key);
const char *http_header(HttpReq *r, const char *name);
/* 1 when no API key is asked for or the request carries one: on an open
 * route, whether to tell it more than strangers. */
int http_authorized(HttpReq *r);

/* Replies with body as JSON (the reference is stolen). */
void http_reply_json(HttpReq *r, int status, json_t *body);

/* The same with extra headers: name, value pairs, NULL-terminated. */
void http_reply_json_h(HttpReq *r, int status, json_t *body, const char *const *headers);

/* Replies with bytes that outlive the answer (compiled in), of the
 * type, with extra headers (name, value pairs, NULL-terminated, or NULL). */
void http_reply_static(HttpReq *r, int status, const char *type, const void *data, size_t len,
                       const char *const *headers);

/* Replies with text (malloc'd JSON, taken) as the body. */
void http_reply_text(HttpReq *r, int status, char *text);

/* The same for a body of another Content-Type. */
void http_reply_typed(HttpReq *r, int status, const char *type, char *text);

/*
 * Replies application/problem+json (RFC 9457) with the type and title that
 * belong to status, the detail, and the members of ext (stolen, may be NULL;
 * it may override type and title). A 503 carries Retry-After. This is the
 * one place that turns an error into its answer.
 */
void http_reply_problem(HttpReq *r, int status, const char *detail, json_t *ext);

/* The same with the headers given (name, value pairs, NULL-terminated, or
 * NULL) instead of those the status brings (a 503's Retry-After: 1), for
 * an answer that knows better. */
void http_reply_problem_h(HttpReq *r, int status, const char *detail, json_t *ext, const char *const *headers);

/* Called on an MHD thread once the waiter is woken; it must reply. */
typedef void (*HttpResumeFn)(HttpReq *r, void *ctx);

/*
 * Defers the answer: when the handler returns, the connection is suspended
 * (no thread waits for it) until http_wait_wake(). Returns the waiter with one
 * reference for the producer, who must call http_wait_wake once and then
 * http_wait_unref. ctx is the handler's; ctx_free (may be NULL) frees it
 * when the waiter goes. NULL when out of memory (ctx is then freed).
 */
HttpWaiter *http_wait_defer(HttpReq *r, HttpResumeFn fn, void *ctx, void (*ctx_free)(void *));

/* Any thread. Resumes the connection, which then calls fn. Safe when the
 * client has gone. */
void http_wait_wake(HttpWaiter *w);

/* Called at most once, from http's watcher thread, when the client hangs
 * up while its answer is deferred; ctx is the waiter's. The producer
 * should stop its work and wake the waiter as usual. */
typedef void (*HttpGoneFn)(void *ctx);

/* Asks to be told (gone) if the client leaves while suspended. Call right
 * after http_wait_defer, before the handler returns. */
void http_wait_on_gone(HttpWaiter *w, HttpGoneFn gone);

void http_wait_unref(HttpWaiter *w);

/* --- streams: a body read line by line, an answer written as it comes --- */

/* 1 when the body comes as lines to the route's HttpLineFn. */
int http_stream_lines(HttpReq *r);

/* 1 when a line of the body was longer than --max-body, with detail (len
 * bytes) saying so: that line and the rest of the body were dropped, and
 * the lines before it were handed on. */
int http_stream_overlong(HttpReq *r, char *detail, size_t len);

/*
 * Makes the request a stream with the handler's ctx (freed by ctx_free,
 * may be NULL, once http is done with it). Its waiter is borrowed: the
 * producer may http_wait_wake it until closed(ctx) is called, on an MHD thread,
 * when the request is over; gone(ctx) may come before, from another
 * thread, when the client hangs up while the connection sleeps. NULL when
 * out of memory (ctx is then freed).
 */
HttpWaiter *http_stream_open(HttpReq *r, void *ctx, void (*ctx_free)(void *), HttpGoneFn gone,
                        void (*closed)(void *));

/* The ctx given to http_stream_open, NULL before. */
void *http_stream_ctx(HttpReq *r);

/* HttpReadFn's answers besides a byte count. */
#define HTTP_READ_WAIT 0      /* nothing now: the connection sleeps until http_wait_wake */
#define HTTP_READ_END (-1)    /* the answer is complete */
#define HTTP_READ_ERROR (-2)  /* abort: the connection is closed */

/* Fills buf with up to max bytes of the answer, on an MHD thread. With
 * stopping set, poold is shutting down and the connection cannot sleep:
 * the stream must end instead of answering HTTP_READ_WAIT. */
typedef ssize_t (*HttpReadFn)(void *ctx, char *buf, size_t max, int stopping);

/* Answers a stream (after http_stream_open) with the body read() writes, in
 * chunked transfer encoding. */
void http_stream_reply(HttpReq *r, int status, const char *type, HttpReadFn read);

#endif
