/*
 * http_guard.c: what http does against hostile clients that libmicrohttpd
 * 0.9.75 lets through.
 *
 * A client that sends its headers slowly. MHD's connection timeout is an
 * idle timeout: every byte that arrives resets it, so a client that
 * dribbles a header a byte a second (slow loris) holds its connection, and
 * a slot of --max-connections, for as long as it likes. The guard gives
 * each request's headers --connection-timeout to arrive in full, counted
 * from the start of the connection or the end of its previous request, so
 * an idle keep-alive connection is held no longer than MHD would hold it.
 * Once the headers are in, MHD's idle timeout alone applies: a long upload
 * or a slow stream goes on as long as bytes move, and a connection
 * suspended for a long poll is never timed out (MHD stops its clock).
 *
 * A thread looks at the connections a few times per timeout, and shuts a
 * late one's socket down; MHD reads the end of the stream, closes the
 * connection and frees it as for a client that left. No answer is sent:
 * the client has not finished asking. The socket stays MHD's to close, and
 * MHD closes it only after it has told us (MHD_CONNECTION_NOTIFY_CLOSED,
 * which takes the guard's lock), so the descriptor shut down is never one
 * reused by another connection.
 *
 * A NUL in the URL. MHD decodes "%00" to a NUL byte and hands the path and
 * each query value on as C strings, which then end there: "/v1/jobs/ID%00/
 * result" would be read as GET /v1/jobs/ID, "limit=5%00x" as limit=5. The
 * decoder here leaves "%00" as it came, so such a path matches no job and
 * such a value fails its own check, as any other stray character does.
 */
#include <stdlib.h>
#include <sys/socket.h>

#include "clock.h"
#include "http_impl.h"
#include "log.h"

/* How often the guard looks, at most: a connection is cut between its
 * timeout and a quarter of it (or a second) later. */
#define HTTP_GUARD_TICK_MAX 1.0

static void *
http_guard_run(void *arg)
{
    Http *h = arg;
    double tick = (double)h->conn_timeout / 4 < HTTP_GUARD_TICK_MAX ? (double)h->conn_timeout / 4
                                                                     : HTTP_GUARD_TICK_MAX;
    int64_t limit = (int64_t)h->conn_timeout * 1000;

    pthread_mutex_lock(&h->guard_lock);
    while (!h->guard_quit) {
        int64_t now = (int64_t)(clock_mono() * 1000);
        for (HttpConn *hc = h->conns; hc; hc = hc->next) {
            int64_t since = __atomic_load_n(&hc->since_ms, __ATOMIC_RELAXED);
            if (since && now - since > limit && !hc->cut) {
                hc->cut = 1;
                shutdown(hc->fd, SHUT_RDWR);
                log_msg(LOG_DEBUG, "closed a connection that sent no complete request headers within "
                                   "--connection-timeout (%d s)", h->conn_timeout);
            }
        }
        if (h->conns)
            clock_cond_wait_until(&h->guard_cond, &h->guard_lock, clock_mono() + tick);
        else /* nothing to watch: sleep until a connection comes */
            pthread_cond_wait(&h->guard_cond, &h->guard_lock);
    }
    pthread_mutex_unlock(&h->guard_lock);
    return NULL;
}

int
http_guard_start(Http *h)
{
    pthread_mutex_init(&h->guard_lock, NULL);
    clock_cond_init(&h->guard_cond);
    h->guard_inited = 1;
    if (h->conn_timeout <= 0)
        return 0;
    if (pthread_create(&h->guard, NULL, http_guard_run, h) != 0)
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
        hc->since_ms = (int64_t)(clock_mono() * 1000);
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

void
http_guard_mark(struct MHD_Connection *c, int busy)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    HttpConn *hc = ci ? ci->socket_context : NULL;

    if (hc)
        __atomic_store_n(&hc->since_ms, busy ? 0 : (int64_t)(clock_mono() * 1000), __ATOMIC_RELAXED);
}

static int
http_guard_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t
http_guard_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    char *out = s;

    (void)cls;
    (void)c;
    for (const char *in = s; *in;) {
        int hi = in[0] == '%' ? http_guard_hex(in[1]) : -1, lo = hi >= 0 ? http_guard_hex(in[2]) : -1;
        if (lo >= 0 && (hi || lo)) {
            *out++ = (char)(hi * 16 + lo);
            in += 3;
        } else {
            *out++ = *in++; /* "%00", a stray '%' and the rest stay as they came */
        }
    }
    *out = '\0';
    return (size_t)(out - s);
}
