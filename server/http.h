/*
 * http.h: the libmicrohttpd glue. It owns the daemon, the request phases,
 * body limits, JSON parsing, replies and the suspend/resume of deferred
 * answers. It knows no handler: main hands it the route table
 * (handlers/routes.c), and handlers answer through the helpers below.
 */
#ifndef POOLD_HTTP_H
#define POOLD_HTTP_H

#include <jansson.h>

#include "common.h"

/* A handler answers with one of the http_reply_* helpers, or defers with
 * http_defer. Called on an MHD thread. */
typedef void (*HttpHandler)(HttpReq *r);

struct Route {
    const char *method;
    const char *pattern;  /* literal path; at most one "{id}" segment */
    HttpHandler handler;
    int json_body;        /* the body must be JSON: 400 otherwise */
};

typedef struct HttpOptions {
    const char *host;
    int port;
    int threads;
    int max_conns;
    size_t max_body;      /* larger bodies get 413 */
    const Route *routes;  /* ends with a zero row */
    void *app;            /* handed to handlers through http_app() */
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
const char *http_body(HttpReq *r, size_t *len); /* the raw body, borrowed */
const char *http_param(HttpReq *r);       /* the {id} segment, "" if none */
const char *http_query(HttpReq *r, const char *key);
const char *http_header(HttpReq *r, const char *name);

/* Replies with body as JSON (the reference is stolen). */
void http_reply_json(HttpReq *r, int status, json_t *body);

/* The same with extra headers: name, value pairs, NULL-terminated. */
void http_reply_json_h(HttpReq *r, int status, json_t *body, const char *const *headers);

/* Replies with text (malloc'd JSON, taken) as the body. */
void http_reply_text(HttpReq *r, int status, char *text);

/*
 * Replies application/problem+json (RFC 9457) with the type and title that
 * belong to status, the detail, and the members of ext (stolen, may be NULL;
 * it may override type and title). A 503 carries Retry-After. This is the
 * one place that turns an error into its answer.
 */
void http_reply_problem(HttpReq *r, int status, const char *detail, json_t *ext);

/* Called on an MHD thread once the waiter is woken; it must reply. */
typedef void (*HttpResumeFn)(HttpReq *r, void *ctx);

/*
 * Defers the answer: when the handler returns, the connection is suspended
 * (no thread waits for it) until http_wake(). Returns the waiter with one
 * reference for the producer, who must call http_wake once and then
 * http_waiter_unref. ctx is the handler's; ctx_free (may be NULL) frees it
 * when the waiter goes. NULL when out of memory (ctx is then freed).
 */
HttpWaiter *http_defer(HttpReq *r, HttpResumeFn fn, void *ctx, void (*ctx_free)(void *));

/* Any thread. Resumes the connection, which then calls fn. Safe when the
 * client has gone. */
void http_wake(HttpWaiter *w);

/* Called at most once, from http's watcher thread, when the client hangs
 * up while its answer is deferred; ctx is the waiter's. The producer
 * should stop its work and wake the waiter as usual. */
typedef void (*HttpGoneFn)(void *ctx);

/* Asks to be told (gone) if the client leaves while suspended. Call right
 * after http_defer, before the handler returns. */
void http_waiter_on_gone(HttpWaiter *w, HttpGoneFn gone);

void http_waiter_unref(HttpWaiter *w);

#endif
