/*
 * http_guard.c: what http does against hostile clients that libmicrohttpd
 * 0.9.75 lets through.
 *
 * A client that sends its request slowly. MHD's connection timeout is an
 * idle timeout: every byte that arrives resets it, so a client that
 * dribbles a header a byte a second (slow loris), or a body, holds its
 * connection, and a slot of --max-connections, for as long as it likes.
 * The guard gives each request's headers --connection-timeout to arrive in
 * full, counted from the start of the connection or the end of its
 * previous request, so an idle keep-alive connection is held no longer
 * than MHD would hold it; and then its body --connection-timeout more, and
 * a second more for each HTTP_GUARD_BODY_RATE bytes that come, so a large
 * upload that moves is never cut, one that trickles is (Apache's
 * mod_reqtimeout counts the same way). Once the body is in, MHD's idle
 * timeout alone applies: a long poll or a stream, suspended, is never
 * timed out (MHD stops its clock), and neither is an NDJSON body while
 * poold makes it wait for room (its clock starts again at the wake).
 *
 * A thread looks at the connections a few times per timeout. A late one
 * that has sent part of a request is answered 408 (problem+json), written
 * by the guard itself: MHD calls the access handler only once the headers
 * are complete, and lets a response be queued only from there, on the
 * connection's own thread. The answer goes in one non-blocking send (the
 * socket is otherwise silent while MHD reads a request: it has nothing to
 * write), then the socket is shut down; MHD reads the end of the stream,
 * closes the connection and frees it as for a client that left. A late
 * connection that sent nothing since its last answer is idle, not slow:
 * it is shut down unanswered, as MHD's idle timeout would, since a client
 * that reuses it just then would take a 408 for its next request's answer.
 * Under TLS nothing is written either: the guard has no TLS session to
 * write through.
 *
 * Who answers is settled by one word per connection (HttpConn.word),
 * swapped atomically: the guard takes it for a deadline it saw pass, MHD's
 * thread takes it back to answer (http_guard_off) or to move the deadline.
 * Whoever loses the swap stays silent: MHD's side refuses the request
 * (MHD_NO), so a request complete at the very moment of its deadline gets
 * the 408 or its own answer, never both. The socket stays MHD's to close,
 * and MHD closes it only after it has told us (MHD_CONNECTION_NOTIFY_CLOSED,
 * which takes the guard's lock), so the descriptor written to and shut
 * down is never one reused by another connection.

 */
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/clock.h"
#include "http/http_impl.h"
#include "core/log.h"
#include "core/metrics.h"

/* How often the guard looks, at most: a connection is cut between its
 * deadline and a quarter of its timeout (or half a second) later, before
 * MHD's idle timeout (a second past it) would close it unanswered. */
#define HTTP_GUARD_TICK_MAX 0.5

/* TCP_INFO's times are in jiffies (up to 10 ms): a byte counts as come
 * after the wait began only when it came this much later. */
#define HTTP_GUARD_SLACK_MS 20

/* HttpConn.word, besides a deadline: */
#define HTTP_GUARD_OFF 0    /* none: the request is being answered */
#define HTTP_GUARD_CUT (-1) /* the guard's: it answered 408, or cut */
#define HTTP_GUARD_BODY 1   /* the deadline's low bit: the headers are in */

static int64_t
http_guard_now(void)
{
    return (int64_t)(clock_mono() * 1000);
}

/* Sets hc's word unless the guard has taken the connection: 0, or -1. */
static int
http_guard_set(HttpConn *hc, int64_t to)
{
    int64_t old;

    if (!hc)
        return 0;
    old = __atomic_load_n(&hc->word, __ATOMIC_ACQUIRE);
    do {
        if (old == HTTP_GUARD_CUT)
            return -1;
    } while (!__atomic_compare_exchange_n(&hc->word, &old, to, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
    return 0;
}

HttpConn *
http_guard_conn(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci ? ci->socket_context : NULL;
}

int
http_guard_arm(const Http *h, HttpConn *hc, int body)
{
    int64_t deadline = http_guard_now() + (int64_t)h->conn_timeout * 1000;

    return http_guard_set(hc, deadline << 1 | (body ? HTTP_GUARD_BODY : 0));
}

int
http_guard_off(HttpConn *hc)
{
    return http_guard_set(hc, HTTP_GUARD_OFF);
}

int
http_guard_more(HttpConn *hc, size_t bytes)
{
    int64_t ms = (int64_t)(bytes / HTTP_GUARD_BODY_RATE * 1000 + bytes % HTTP_GUARD_BODY_RATE * 1000 /
                           HTTP_GUARD_BODY_RATE), old;

    if (!hc)
        return 0;
    old = __atomic_load_n(&hc->word, __ATOMIC_ACQUIRE);
    do {
        if (old == HTTP_GUARD_CUT)
            return -1;
        if (old == HTTP_GUARD_OFF || ms == 0)
            return 0;
    } while (!__atomic_compare_exchange_n(&hc->word, &old, old + (ms << 1), 0, __ATOMIC_ACQ_REL,
                                          __ATOMIC_ACQUIRE));
    return 0;
}

int
http_guard_take(HttpConn *hc)
{
    return http_guard_set(hc, HTTP_GUARD_CUT);
}

int
http_guard_done(const Http *h, struct MHD_Connection *c)
{
    HttpConn *hc = http_guard_conn(c);

    if (!hc)
        return 0;
    __atomic_store_n(&hc->served, 1, __ATOMIC_RELAXED);
    return http_guard_arm(h, hc, 0);
}

/*
 * 1 when a byte has come on hc since the wait for its next request's
 * headers began (at `began`, ms): a client in the middle of a request,
 * owed an answer, and not an idle one. The kernel keeps the count; MHD
 * has read the bytes already.
 */
static int
http_guard_begun(const HttpConn *hc, int64_t began, int64_t now)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);

    memset(&ti, 0, sizeof(ti));
    if (getsockopt(hc->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
        return 0;
    /* Its first request: any byte at all, which may have come before MHD
     * accepted the connection, so before `began`. */
    if (!__atomic_load_n(&hc->served, __ATOMIC_RELAXED))
        return len >= offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received) &&
               ti.tcpi_bytes_received > 0;
    return (int64_t)ti.tcpi_last_data_recv + HTTP_GUARD_SLACK_MS < now - began;
}

/* The guard took hc at `word`, a deadline now past: answers 408 if it
 * may, and shuts the socket down. Under guard_lock. */
static void
http_guard_cut(Http *h, HttpConn *hc, int64_t word, int64_t now)
{
    int body = (int)(word & HTTP_GUARD_BODY);
    int64_t began = (word >> 1) - (int64_t)h->conn_timeout * 1000;
    int answer = h->guard_answer[body] && (body || http_guard_begun(hc, began, now));

    if (answer) {
        /* One try: a client that reads nothing gets what fits. */
        (void)send(hc->fd, h->guard_answer[body], h->guard_answer_len[body], MSG_DONTWAIT | MSG_NOSIGNAL);
        if (!body) /* a request that never reached the access handler, counted here */
            metrics_http(-1, 408, (double)(now - began) / 1000);
    }
    shutdown(hc->fd, SHUT_RDWR);
    log_msg(LOG_DEBUG, "%s a connection whose request's %s not come within --connection-timeout (%d s)",
            answer ? "answered 408 and closed" : "closed", body ? "body had" : "headers had", h->conn_timeout);
}

static void *
http_guard_run(void *arg)
{
    Http *h = arg;
    double tick = (double)h->conn_timeout / 4 < HTTP_GUARD_TICK_MAX ? (double)h->conn_timeout / 4
                                                                     : HTTP_GUARD_TICK_MAX;

    pthread_mutex_lock(&h->guard_lock);
    while (!h->guard_quit) {
        int64_t now = http_guard_now();
        for (HttpConn *hc = h->conns; hc; hc = hc->next) {
            int64_t word = __atomic_load_n(&hc->word, __ATOMIC_ACQUIRE);
            /* A failed swap: MHD moved the deadline just now, seen at the
             * next tick. */
            if (word > 0 && now > word >> 1 &&
                __atomic_compare_exchange_n(&hc->word, &word, HTTP_GUARD_CUT, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                http_guard_cut(h, hc, word, now);
        }
        if (h->conns)
            clock_cond_wait_until(&h->guard_cond, &h->guard_lock, clock_mono() + tick);
        else /* nothing to watch: sleep until a connection comes */
            pthread_cond_wait(&h->guard_cond, &h->guard_lock);
    }
    pthread_mutex_unlock(&h->guard_lock);
    return NULL;
}

/* The guard's two 408s, whole HTTP answers: [0] for headers late, [1] for
 * a body. None under TLS. 0, or -1 out of memory. */
static int
http_guard_answers(Http *h)
{
    char detail[200];

    if (h->tls_cert)
        return 0;
    for (int body = 0; body < 2; body++) {
        char *text;
        if (body)
            snprintf(detail, sizeof(detail), "the request's body came too slowly: it has --connection-timeout "
                     "(%d s) from the end of the headers, and a second more for each %d bytes that come",
                     h->conn_timeout, HTTP_GUARD_BODY_RATE);
        else
            snprintf(detail, sizeof(detail), "the request's headers did not all come within --connection-timeout "
                     "(%d s)", h->conn_timeout);
        if (!(text = http_problem_text(408, detail, NULL)))
            return -1;
        int n = asprintf(&h->guard_answer[body], "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
                         "Content-Type: application/problem+json\r\nContent-Length: %zu\r\n\r\n%s",
                         strlen(text), text);
        free(text);
        if (n < 0) {
            h->guard_answer[body] = NULL;
            return -1;
        }
        h->guard_answer_len[body] = (size_t)n;
    }
    return 0;
}

int
http_guard_start(Http *h)
{
    pthread_mutex_init(&h->guard_lock, NULL);
    clock_cond_init(&h->guard_cond);
    h->guard_inited = 1;
    if (h->conn_timeout <= 0)
        return 0;
    if (http_guard_answers(h) < 0 || pthread_create(&h->guard, NULL, http_guard_run, h) != 0)
        return -1;
    h->guard_started = 1;
    return 0;
}

void
http_guard_stop(Http *h)
{
    if (!h->guard_inited)
        return;
    pthread_mutex_lock(&h->guard_lock);
    h->guard_quit = 1;
    pthread_cond_signal(&h->guard_cond);
    pthread_mutex_unlock(&h->guard_lock);
    if (h->guard_started)
        pthread_join(h->guard, NULL);
    pthread_cond_destroy(&h->guard_cond);
    pthread_mutex_destroy(&h->guard_lock);
    for (int i = 0; i < 2; i++) {
        free(h->guard_answer[i]);
        h->guard_answer[i] = NULL;
    }
    h->guard_inited = h->guard_started = 0;
}

void
http_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                  enum MHD_ConnectionNotificationCode code)
{
    Http *h = cls;
    HttpConn *hc = *socket_context;
    const union MHD_ConnectionInfo *ci;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci || !(hc = calloc(1, sizeof(*hc))))
            return; /* this connection goes unguarded; MHD's idle timeout still holds */
        hc->fd = ci->connect_fd;
        http_guard_arm(h, hc, 0);
        pthread_mutex_lock(&h->guard_lock);
        if ((hc->next = h->conns))
            hc->next->prev = hc;
        else
            pthread_cond_signal(&h->guard_cond); /* the guard sleeps while there are none */
        h->conns = hc;
        pthread_mutex_unlock(&h->guard_lock);
        *socket_context = hc;
    } else if (hc) {
        pthread_mutex_lock(&h->guard_lock);
        if (hc->prev)
            hc->prev->next = hc->next;
        else
            h->conns = hc->next;
        if (hc->next)
            hc->next->prev = hc->prev;
        pthread_mutex_unlock(&h->guard_lock);
        free(hc);
        *socket_context = NULL;
    }
}
