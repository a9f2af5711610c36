/*
 * http_raw.c: answers poold writes on a connection past libmicrohttpd,
 * where 0.9.75 would let it queue none, or would write a wrong one:
 *   - while a request's body still comes: MHD takes a response only before
 *     the body or after its end, and a refused body, or the unwanted rest
 *     of an NDJSON one, may never end (http_request.c, http_stream.c);
 *   - for a Content-Length MHD cannot read, which it refuses with a page
 *     of its own whose header block it writes twice (http_request.c).
 *
 * Always on the connection's own MHD thread, from one of MHD's callbacks,
 * when MHD itself is not writing: the request's body or headers are being
 * read, and MHD has nothing queued. The answer says Connection: close;
 * once it is all out, the writing half is shut, so whatever MHD would
 * write after it fails and the connection closes. Under TLS the bytes go
 * through the connection's own GnuTLS session, which MHD uses on this
 * thread only and not during a callback, so poold's records follow MHD's
 * in order (the guard's 408, written from a thread of its own, cannot).
 *
 * A whole answer (a problem) goes in one try: it is small, and the socket
 * has nothing else to write. A stream (an NDJSON answer) is pumped from its
 * reader as its lines come, in chunks: the connection sleeps (suspended)
 * while the reader has nothing yet, or the socket no room
 * (http_wait_room), with the body bytes MHD gave left untaken, so that MHD
 * calls again with them at the wake.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <gnutls/gnutls.h>

#include "core/clock.h"
#include "core/log.h"
#include "http/http_impl.h"

/* Room before a chunk's bytes for its size line. */
#define HTTP_RAW_FRAME 16

/* Seconds the rest of a body is still read and dropped after the answer,
 * at least: a client busy sending (curl) reads the answer between two
 * sends, and a close before it has would reset the connection under it,
 * the answer unread. */
#define HTTP_RAW_LINGER 1.0

struct HttpRawOut {
    size_t off, len;          /* buf[off, len) is still to write */
    int ended;                /* the last chunk is in buf */
    char buf[HTTP_RAW_FRAME + HTTP_STREAM_BLOCK + 8];
};

int
http_raw_begin(HttpReq *r)
{
    /* The guard writes its 408 on the socket too: it must stay silent. */
    if (http_guard_take(r->guard) < 0)
        return -1;
    r->early = 1;
    return 0;
}

/* r's socket, and its TLS session (NULL on plain HTTP); -1 if none. */
static int
http_raw_socket(const HttpReq *r, gnutls_session_t *tls)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *ti = NULL;

    *tls = NULL;
    if (r->http->tls_cert && !(ti = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION)))
        return -1;
    *tls = ti ? ti->tls_session : NULL;
    return ci ? ci->connect_fd : -1;
}

/* Writes what it can of data without blocking: the bytes written, 0 when
 * the socket is full (then call again with the same bytes: a TLS record
 * begun waits in GnuTLS), -1 on an error. */
static ssize_t
http_raw_write(const HttpReq *r, const char *data, size_t len)
{
    gnutls_session_t tls;
    int fd = http_raw_socket(r, &tls);
    ssize_t n;

    if (fd < 0)
        return -1;
    if (tls) {
        n = gnutls_record_send(tls, data, len);
        return n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED ? 0 : n < 0 ? -1 : n;
    }
    n = send(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    return n >= 0 ? n : errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
}

/* The answer is out: shuts the writing half (after TLS's close_notify,
 * which tells the client that nothing was cut). */
static void
http_raw_shut(HttpReq *r)
{
    gnutls_session_t tls;
    int fd = http_raw_socket(r, &tls);

    if (tls)
        (void)gnutls_bye(tls, GNUTLS_SHUT_WR); /* one try, as the rest */
    if (fd >= 0)
        shutdown(fd, SHUT_WR);
    r->raw = 1;
    r->raw_at = clock_mono();
}

/* An answer's status line and headers, Date and Connection: close among
 * them, and the headers given but any Connection, into buf: its length,
 * or 0 when they do not fit. */
static size_t
http_raw_head(char *buf, size_t cap, int status, const char *type, const char *const *headers)
{
    char date[40];
    time_t now = time(NULL);
    struct tm tm;
    int n;

    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm)); /* as MHD writes it */
    n = snprintf(buf, cap, "HTTP/1.1 %d %s\r\nDate: %s\r\nConnection: close\r\nContent-Type: %s\r\n", status,
                 MHD_get_reason_phrase_for((unsigned)status), date, type);

    for (size_t i = 0; headers && headers[i] && headers[i + 1] && n > 0 && (size_t)n < cap; i += 2)
        if (strcasecmp(headers[i], MHD_HTTP_HEADER_CONNECTION) != 0)
            n += snprintf(buf + n, cap - (size_t)n, "%s: %s\r\n", headers[i], headers[i + 1]);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

void
http_raw_reply(HttpReq *r, int status, char *text, const char *type, const char *const *headers)
{
    char head[1024], *all = NULL;
    size_t hn = http_raw_head(head, sizeof(head), status, type, headers);
    int n = hn && text ? asprintf(&all, "%sContent-Length: %zu\r\n\r\n%s", head, strlen(text), text) : -1;

    for (size_t off = 0; n > 0 && off < (size_t)n;) {
        ssize_t w = http_raw_write(r, all + off, (size_t)n - off);
        if (w <= 0)
            break; /* a client that reads nothing gets what fit */
        off += (size_t)w;
    }
    free(all);
    free(text);
    http_raw_shut(r);
    r->answered = status;
}

void
http_raw_stream(HttpReq *r, int status, const char *type, HttpReadFn read, const char *const *headers)
{
    HttpRawOut *o = calloc(1, sizeof(*o));

    r->answered = status;
    if (!o || !r->waiter) {
        free(o); /* no stream without it: http_raw_pump closes */
        return;
    }
    r->waiter->read = read;
    o->len = http_raw_head(o->buf, sizeof(o->buf) - 32, status, type, headers);
    o->len += (size_t)sprintf(o->buf + o->len, "Transfer-Encoding: chunked\r\n\r\n");
    r->out = o;
}

/* Writes what it can of o: 1 when it is all out, 0 when the socket is
 * full, -1 on an error. */
static int
http_raw_flush(const HttpReq *r, HttpRawOut *o)
{
    while (o->off < o->len) {
        ssize_t n = http_raw_write(r, o->buf + o->off, o->len - o->off);
        if (n <= 0)
            return (int)n;
        o->off += (size_t)n;
    }
    o->off = o->len = 0;
    return 1;
}

/* The reader's next bytes into o as a chunk (the last one at its end): 1,
 * 0 while it has nothing yet, -1 on its error. */
static int
http_raw_fill(HttpReq *r, HttpRawOut *o, int stopping)
{
    HttpWaiter *w = r->waiter;
    ssize_t n = w->read(w->ctx, o->buf + HTTP_RAW_FRAME, HTTP_STREAM_BLOCK, stopping);
    char size[HTTP_RAW_FRAME];

    if (n > 0) { /* the size line goes just before the bytes: no copy of them */
        int k = snprintf(size, sizeof(size), "%zx\r\n", (size_t)n);
        o->off = HTTP_RAW_FRAME - (size_t)k;
        memcpy(o->buf + o->off, size, (size_t)k);
        memcpy(o->buf + HTTP_RAW_FRAME + n, "\r\n", 2);
        o->len = HTTP_RAW_FRAME + (size_t)n + 2;
        return 1;
    }
    if (n == HTTP_READ_END) {
        o->off = 0;
        o->len = (size_t)sprintf(o->buf, "0\r\n\r\n");
        o->ended = 1;
        return 1;
    }
    return n == HTTP_READ_WAIT ? 0 : -1;
}

/*
 * Writes r's stream as far as it can: 1 once all of it is out (the
 * writing half is shut), 0 while the connection sleeps (for the reader, or
 * for room on the socket), -1 on an error (the caller closes).
 */
static int
http_raw_pump(HttpReq *r)
{
    HttpRawOut *o = r->out;
    int stopping = 0;

    if (!o || !r->waiter)
        return -1;
    for (;;) {
        int rc = http_raw_flush(r, o), fd;
        gnutls_session_t tls;

        if (rc < 0)
            return -1;
        if (rc == 0) { /* full: asleep until it has room, or a wake */
            if ((fd = http_raw_socket(r, &tls)) < 0 || (rc = http_wait_room(r->waiter, fd)) < 0)
                return -1; /* stopping: it cannot wait */
            if (rc == 1)
                return 0;
            continue;
        }
        if (o->ended) {
            http_raw_shut(r);
            return 1;
        }
        if ((rc = http_raw_fill(r, o, stopping)) < 0)
            return -1;
        if (rc == 0 && (rc = http_wait_pause(r->waiter)) == 1)
            return 0;
        stopping |= rc < 0; /* poold stops: the reader ends the stream */
    }
}

enum MHD_Result
http_raw_piece(HttpReq *r, size_t *size)
{
    if (!r->raw) {
        /* Asleep (a pass that goes on after the suspension): nothing now. */
        int rc = r->waiter && http_wait_asleep(r->waiter) ? 0 : http_raw_pump(r);
        if (rc < 0)
            return MHD_NO;
        if (rc == 0)
            return MHD_YES; /* untaken: these bytes come again at the wake */
    }
    /* All out: the rest is read and dropped, so that the client, still
     * sending, reads the answer rather than a reset: for a second, and as
     * much again as was dropped before it, but within --connection-timeout
     * of the answer: the guard no longer watches, and a client dribbling
     * it would reset MHD's idle timeout with each byte, for ever. */
    r->dropped += *size;
    *size = 0;
    double since = clock_mono() - r->raw_at;
    int timeout = r->http->conn_timeout;
    if (since < HTTP_RAW_LINGER || (r->dropped <= 2 * r->http->max_body && (timeout <= 0 || since < timeout)))
        return MHD_YES;
    log_msg(LOG_INFO, "%s: closed after dropping more than --max-body of an unwanted body, or for "
            "--connection-timeout after its answer", r->line);
    return MHD_NO;
}

enum MHD_Result
http_raw_end(HttpReq *r)
{
    int rc = r->raw ? 1 : r->waiter && http_wait_asleep(r->waiter) ? 0 : http_raw_pump(r);

    /* MHD_NO closes: MHD must write nothing after poold's answer. */
    return rc == 0 ? MHD_YES : MHD_NO;
}

void
http_raw_free(HttpReq *r)
{
    free(r->out);
    r->out = NULL;
}
