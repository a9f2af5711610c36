/*
 * http_impl.h: what the files of server/http/ share behind http.h: the
 * daemon's state (Http), a request's (HttpReq), a waiter's (HttpWaiter),
 * and each file's functions for the others: http.c (start, stop,
 * replies), http_request.c (the request phases), http_wait.c (deferred
 * answers: suspend, wake, disconnect watch), http_stream.c, http_guard.c
 * and http_listen.c.
 *
 * Private to server/http/: only its .c files include it. Main and the
 * handlers include http.h (and http_parse.h, http_status.h), never this.
 */
#ifndef POOLD_HTTP_IMPL_H
#define POOLD_HTTP_IMPL_H

#include <pthread.h>
#include <stdint.h>

#include <microhttpd.h>
#include <uthash.h>

#include "http/http.h"
#include "http/http_parse.h"

/* A suspension the watcher has not looked at yet. */
typedef struct HttpPending {
    uint64_t id;
    double at;                /* when it was suspended (monotonic s) */
    int fd;
} HttpPending;

/* A second of a request body's deadline for each this many bytes that
 * come (http_guard.c). */
#define HTTP_GUARD_BODY_RATE 1024

typedef struct HttpPendingConn HttpPendingConn; /* http_listen.c's */
typedef struct HttpRawOut HttpRawOut;           /* http_raw.c's */

#define HTTP_STREAM_BLOCK (32 * 1024) /* bytes asked of a stream's reader at once */

/* A connection, as the guard (http_guard.c) watches it. */
typedef struct HttpConn {
    int fd;
    int64_t word;             /* atomic, swapped (http_guard.c): the
                               * request's deadline (monotonic ms << 1, the
                               * low bit set once its headers are in), 0
                               * while it is answered, -1 once the guard
                               * has taken the connection */
    int served;               /* atomic: a request has completed on it */
    struct HttpConn *prev, *next; /* in http->conns, under guard_lock */
} HttpConn;

struct Http {
    struct MHD_Daemon *d;
    const Route *routes;
    const char *const *keys;  /* see HttpOptions */
    int nkeys;
    char *tls_cert, *tls_key; /* the PEM texts, alive as long as the daemon */
    size_t max_body;
    void *app;
    int port;
    int max_conns;            /* --max-connections */
    int listen_fd;            /* http_listen.c's: ours, not MHD's; -1 once closed */
    int listen_stop;          /* eventfd: the listener must end */
    int listen_room;          /* eventfd: a close made room under the limit */
    int listen_quit;          /* atomic */
    int open_conns;           /* atomic: accepted and not yet closed by MHD */
    pthread_mutex_t pending_lock; /* guards pending */
    HttpPendingConn *pending; /* by fd: handed to MHD, not yet started */
    pthread_t listener;
    int listener_started;
    int active;               /* atomic: requests begun and not completed */
    pthread_mutex_t lock;     /* guards what follows */
    HttpWaiter *suspended;    /* by id; the table holds a reference each */
    uint64_t next_id;
    int stopping;
    HttpPending *pend;        /* ring of suspensions not yet watched */
    size_t pend_head, pend_len, pend_cap;
    HttpPending *rooms;       /* waits for room to write (http_wait_room):
                               * their ids and deadlines, unordered */
    size_t rooms_len, rooms_cap;
    int watch_ep;             /* epoll set of suspended sockets (EPOLLRDHUP) */
    int watch_stop;           /* eventfd: new suspensions, or stop */
    int watch_quit;           /* atomic: the watcher must end */
    pthread_t watcher;
    int watcher_started;
    int conn_timeout;         /* --connection-timeout, seconds; 0: none */
    pthread_mutex_t guard_lock; /* guards conns and guard_quit */
    pthread_cond_t guard_cond;
    HttpConn *conns;          /* every open connection, newest first */
    int guard_quit;
    pthread_t guard;
    int guard_inited, guard_started;
    char *guard_answer[2];    /* the 408s the guard writes, headers late [0]
                               * or a body [1]; NULL under TLS */
    size_t guard_answer_len[2];
};

struct HttpWaiter {
    int refs;                 /* atomic */
    pthread_mutex_t lock;     /* guards woken, suspended, gone, cancelled, late */
    int woken, suspended, gone, cancelled;
    int late;                 /* a wait for room passed its deadline */
    int stream;               /* http_stream_open's: sleeps and wakes many times,
                               * and woken is a wake not yet seen */
    HttpReadFn read;          /* a stream's answer */
    void (*closed)(void *ctx);
    uint64_t id;              /* key in http->suspended */
    int fd;                   /* the socket, once in the watch set */
    struct MHD_Connection *conn;
    Http *http;
    HttpResumeFn fn;
    HttpGoneFn gone_fn;
    void *ctx;
    void (*ctx_free)(void *);
    UT_hash_handle hh;        /* in http->suspended, under http->lock */
};

struct HttpReq {
    Http *http;
    struct MHD_Connection *conn;
    const Route *route;
    int status;               /* an answer known before the handler: 404, 405, 413 */
    int answered;             /* the status queued, 0 before */
    double began;             /* for the request log */
    char line[96];            /* "POST /v1/apply", for the request log */
    char allow[64];           /* the methods a 405 names */
    char *body;
    size_t len, cap;
    json_t *json;
    char param[HTTP_PARAM_MAX];
    HttpWaiter *waiter;
    const char *why;          /* a 400's detail known from the headers, or NULL */
    int close;                /* the answer closes the connection: its framing
                               * cannot be trusted */
    int begun;                /* its headers went to the access handler: it
                               * counts in http->active */
    int early;                /* answered past MHD (http_raw.c), before the
                               * body's end or for MHD's refusal of its
                               * headers: MHD writes nothing, and the
                               * connection closes */
    int raw;                  /* that answer is all out, the writing half
                               * shut */
    double raw_at;            /* since then (monotonic s) */
    HttpRawOut *out;          /* a stream answered past MHD: what is left */
    struct HttpReq *unparsed_next, *unparsed_prev; /* http_request.c's list of */
    struct HttpReq **unparsed_head;                /* its thread's requests whose
                                                    * headers are still read;
                                                    * NULL: not listed */
    int lines;                /* the body goes to route->line as it comes */
    int line_state;           /* HTTP_LINE_*: the line function's last word */
    unsigned long lines_in;   /* lines handed on so far */
    int lines_kept_alive;     /* TCP keepalive is on (http_stream.c) */
    int overlong;             /* a line passed --max-body: no line after it
                               * is handed on (http_stream_overlong) */
    int skipping;             /* inside that line: dropped to its newline */
    size_t within;            /* that line's bytes still under --max-body, not
                               * yet dropped: they do not count in dropped */
    int untimed;              /* MHD's idle timeout is off: a lines body
                               * between two lines */
    size_t dropped;           /* bytes of the body read and dropped: after
                               * STOP, or once the request was refused */
    HttpConn *guard;          /* its connection's, NULL if unguarded */
    int guard_asleep;         /* a lines body asleep, off the guard's clock */
};

/* libmicrohttpd's idle timeout for a --connection-timeout of t seconds: a
 * second past the guard's deadlines (http.c says why); 0, none. */
#define HTTP_IDLE_TIMEOUT(t) ((unsigned)((t) > 0 ? (t) + 1 : 0))

/* http_request.c: libmicrohttpd's callbacks, as http.c hands them to
 * MHD_start_daemon (cls is the Http, or unused for unescape). */
/* MHD_OPTION_URI_LOG_CALLBACK's: a request line is in; the request begins. */
void *http_request_uri(void *cls, const char *uri, struct MHD_Connection *c);
/* MHD logged fmt (http.c's logger): when it is refusing a request's
 * Content-Length on this thread, poold answers first. */
void http_request_mhd_said(const char *fmt);
/* More than --max-body of an unwanted body was dropped: answers r now,
 * past MHD (its refusal, or its handler's answer as at the body's end),
 * and takes the piece at hand as http_raw_piece does. */
enum MHD_Result http_request_answer_now(HttpReq *r, size_t *size);
enum MHD_Result http_request_access(void *cls, struct MHD_Connection *c, const char *url,
                                    const char *method, const char *version, const char *upload_data,
                                    size_t *upload_data_size, void **req_cls);
void http_request_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                            enum MHD_RequestTerminationCode toe);
size_t http_request_unescape(void *cls, struct MHD_Connection *c, char *s);
/* 1 when no key is asked for or c carries one (http_authorized's answer). */
int http_request_authorized(const Http *h, struct MHD_Connection *c, const Route *route);

/* http_wait.c */
/* Starts the disconnect watcher's thread. 0, or -1. */
int http_wait_start(Http *h);
/* Stops the watcher and frees its set. Safe after a failed start. */
void http_wait_stop(Http *h);
/* After the handler deferred: suspends the connection, or answers now if
 * the wake came first. MHD thread. */
void http_wait_suspend(HttpReq *r);
/* Re-entered after a resume: answers through the waiter. MHD thread. */
void http_wait_resumed(HttpReq *r);
/* The request is complete: the waiter loses its connection. */
void http_wait_release(HttpWaiter *w);
/* At stop: resumes every suspended connection; unwoken, they answer 503. */
void http_wait_resume_all(Http *h);
/* A stream's connection sleeps until the next http_wait_wake. MHD thread.
 * Returns 1 when it sleeps, 0 when a wake came first (go on at once), -1
 * when poold is stopping (it cannot sleep). */
int http_wait_pause(HttpWaiter *w);
/* The same until socket fd has room to write (or the next wake), for
 * --connection-timeout at most: -1 too once a wait has lasted that long
 * (the caller closes). */
int http_wait_room(HttpWaiter *w, int fd);
/* 1 while a stream's connection sleeps and no wake has come since. */
int http_wait_asleep(HttpWaiter *w);

/* http.c */
/* A problem's JSON text (malloc'd; NULL out of memory), as
 * http_reply_problem answers it. ext: members added, stolen. */
char *http_problem_text(int status, const char *detail, json_t *ext);

/* http_raw.c: answers written past libmicrohttpd, on the connection's MHD
 * thread. */
/* From now on r is answered past MHD (r->early): the guard stays silent.
 * 0, or -1 when the guard has answered first (the caller closes). */
int http_raw_begin(HttpReq *r);
/* A whole answer (text taken, as http_queue's), with Connection: close,
 * in one try; then the writing half is shut. */
void http_raw_reply(HttpReq *r, int status, char *text, const char *type, const char *const *headers);
/* Begins a stream's answer (http_stream_reply's): its head now, its body
 * as read() gives it, pumped by the two below. */
void http_raw_stream(HttpReq *r, int status, const char *type, HttpReadFn read, const char *const *headers);
/* A body piece once r is answered past MHD: writes what the stream has,
 * and leaves the piece untaken while the connection sleeps; once all is
 * out, drops it, for a second and up to twice --max-body in all, within
 * --connection-timeout of the answer. MHD_NO closes. */
enum MHD_Result http_raw_piece(HttpReq *r, size_t *size);
/* The body ended: MHD_YES while the stream still sleeps (MHD calls again
 * at the wake), MHD_NO once all is out (the connection closes). */
enum MHD_Result http_raw_end(HttpReq *r);
void http_raw_free(HttpReq *r);

/* http_guard.c */
/* Starts the guard's thread when there is a timeout to keep. 0, or -1.
 * After TLS is set up: no 408 is written under TLS. */
int http_guard_start(Http *h);
/* After MHD_stop_daemon: every connection has gone. Safe if not started. */
void http_guard_stop(Http *h);
/* MHD_OPTION_NOTIFY_CONNECTION's callback (cls is the Http). */
void http_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                       enum MHD_ConnectionNotificationCode code);
/* The connection's guard state; NULL when it is unguarded (no timeout).
 * Each function below takes NULL, and then does nothing and returns 0.
 * All run on the connection's MHD thread, and return -1 when the guard
 * has taken the connection first: it answered, or cut it, and the caller
 * answers nothing (the access handler returns MHD_NO). */
HttpConn *http_guard_conn(struct MHD_Connection *c);
/* Starts the clock: --connection-timeout from now, for a request's body
 * (body 1: its headers are in) or for its headers. */
int http_guard_arm(const Http *h, HttpConn *hc, int body);
/* Stops the clock: the request is in and is answered now, or its body
 * sleeps because poold makes it wait. */
int http_guard_off(HttpConn *hc);
/* bytes of the body came: the deadline moves on by their share of a
 * second (HTTP_GUARD_BODY_RATE). */
int http_guard_more(HttpConn *hc, size_t bytes);
/* The request completed: the next one's headers have --connection-timeout
 * from now. */
int http_guard_done(const Http *h, struct MHD_Connection *c);
/* MHD's thread answers the connection past MHD itself: the guard stays
 * silent from now on, and every function above returns -1. */
int http_guard_take(HttpConn *hc);

/* http_listen.c */
/* Binds and listens on host:port (sets listen_fd and port). 0, or -1 with
 * err filled. Before the daemon starts. */
int http_listen_open(Http *h, const char *host, int port, char *err, size_t errlen);
/* Starts accepting into h->d. 0, or -1. */
int http_listen_run(Http *h);
/* Stops accepting and closes the socket: a new connection is refused.
 * Safe to call twice, and after a failed open. */
void http_listen_close(Http *h);
/* After MHD_stop_daemon (its threads notify until then): closes and frees
 * the rest. */
void http_listen_free(Http *h);
/* MHD_OPTION_NOTIFY_CONNECTION's callback (cls is the Http): counts the
 * connections closed, and tells the guard. */
void http_listen_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                        enum MHD_ConnectionNotificationCode code);

/* http_stream.c */
/* 1 when the request's body should go to its route's line function. */
int http_stream_lines_wanted(HttpReq *r);
/* The headers of a lines request are in: its body starts between lines,
 * off the clocks. -1 when the guard has taken the connection. */
int http_stream_lines_begin(HttpReq *r);
/* A body piece of a lines request: hands its lines on, keeps a partial
 * last one, sets *size to what it did not take (the connection then
 * sleeps), and keeps the clocks. MHD_NO when the connection should close:
 * more than --max-body was dropped after the handler wanted no more, or
 * the guard answered first. MHD thread. */
enum MHD_Result http_stream_lines_piece(HttpReq *r, const char *data, size_t *size);
/* The body ended: hands on its last line if it had no newline, and puts
 * the connection back on MHD's idle timeout. */
void http_stream_lines_end(HttpReq *r);

#endif
