/*
 * http_stream.c: streams. A request body read a line at a time as it
 * arrives (route body HTTP_BODY_LINES with an NDJSON Content-Type), and an
 * answer written as it is produced (http_stream_reply).
 *
 * Both sleep the same way: the connection is suspended through the
 * request's stream waiter (http_wait_pause) when the handler has no room for
 * more lines, or nothing to write, and the producer's http_wait_wake resumes
 * it. libmicrohttpd then calls again: with the body bytes not yet taken,
 * or the content reader. Returning from either without taking or writing
 * anything, and without suspending, would make MHD spin.
 *
 * libmicrohttpd 0.9.75 writes an answer only after the whole request has
 * been read, so a stream's lines start after its body ends; the handler
 * holds (or spills) what is produced meanwhile. A body poold gives up on
 * (more than --max-body of an unwanted rest) is answered before its end,
 * past MHD instead (http_raw.c).
 *
 * A lines body may be a generator's, as slow as it likes: only a line
 * itself must keep the pace, from its first byte (the guard's deadline,
 * moved on as its bytes come). Between two lines the body is off every
 * clock, libmicrohttpd's idle timeout included, which would otherwise
 * close a connection whose generator pauses longer than it.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"
#include "http/http_impl.h"
#include "http/lines.h"

int
http_stream_lines(HttpReq *r)
{
    return r->lines;
}

HttpWaiter *
http_stream_open(HttpReq *r, void *ctx, void (*ctx_free)(void *), HttpGoneFn gone, void (*closed)(void *))
{
    HttpWaiter *w = http_wait_defer(r, NULL, ctx, ctx_free);

    if (!w)
        return NULL;
    w->stream = 1;
    w->gone_fn = gone;
    w->closed = closed;
    http_wait_unref(w); /* no producer's reference: it borrows until closed */
    return w;
}

void *
http_stream_ctx(HttpReq *r)
{
    return r->waiter && r->waiter->stream ? r->waiter->ctx : NULL;
}

/* --- the body, a line at a time --- */

/* Called when the request's headers are in (http_request.c). */
int
http_stream_lines_wanted(HttpReq *r)
{
    const char *type = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);

    return r->route && r->route->body == HTTP_BODY_LINES && http_parse_ndjson(type);
}

/* Hands one line on; blank ones (a trailing "\r" too) are not items. */
static void
http_stream_line(HttpReq *r, const char *line, size_t len)
{
    if (len && line[len - 1] == '\r')
        len--;
    if (len == 0)
        return;
    r->lines_in++;
    r->line_state = r->route->line(r, line, len);
}

/*
 * The handler said FULL: ask it again, and sleep until a wake while it
 * still says so. Returns 1 when lines may flow (or are to be dropped), 0
 * when the connection now sleeps.
 */
static int
http_stream_lines_wait(HttpReq *r)
{
    for (;;) {
        r->line_state = r->route->line(r, NULL, 0);
        if (r->line_state != HTTP_LINE_FULL)
            return 1;
        switch (r->waiter ? http_wait_pause(r->waiter) : -1) {
        case 1:
            return 0;
        case -1: /* stopping, or a handler that cannot be woken */
            r->line_state = HTTP_LINE_STOP;
            return 1;
        }
    }
}

/* A line longer than --max-body: it is no item, and no line after it is
 * handed on; its bytes are dropped to its newline (at the pace a line
 * keeps), and the rest of the body after it as after a STOP. Only its
 * bytes past the limit count as that unwanted rest: those of the piece at
 * hand up to the limit do not, as those held before did not. */
static void
http_stream_overlong_begin(HttpReq *r)
{
    r->overlong = r->skipping = 1;
    r->within = r->http->max_body - r->len;
    free(r->body);
    r->body = NULL;
    r->len = r->cap = 0;
}

int
http_stream_overlong(HttpReq *r, char *detail, size_t len)
{
    if (r->overlong)
        snprintf(detail, len, "a line of the body is longer than --max-body (%zu bytes)", r->http->max_body);
    return r->overlong;
}

/* Drops up to len bytes of an unwanted rest (a STOP's, a long line's past
 * --max-body, what follows it): those that keep the whole under
 * --max-body. Returns how many. */
static size_t
http_stream_drop(HttpReq *r, size_t len)
{
    size_t room = r->http->max_body - r->dropped;

    if (len > room)
        len = room;
    r->dropped += len;
    return len;
}

/* Takes what it can of a piece; see http_stream_lines_piece. Returns 1
 * when --max-body of an unwanted rest was dropped and more comes (left
 * untaken in *size): the answer must go now. */
static int
http_stream_lines_take(HttpReq *r, const char *data, size_t *size)
{
    size_t off = 0, n = *size;

    /* libmicrohttpd 0.9.75 (process_request_body) hands on the next chunk
     * of a chunked body in the very pass that suspended the connection,
     * when the call before took all it was given. Asleep, take nothing:
     * bytes left untaken end the pass, and come again after the wake.
     * Lines taken now could leave the connection asleep with no wake to
     * come, and a pause now would suspend it twice (see http_wait.c). */
    if (r->waiter && http_wait_asleep(r->waiter))
        return 0;
    if (r->line_state == HTTP_LINE_FULL && !http_stream_lines_wait(r))
        return 0; /* asleep: the same bytes come again after the wake */
    while (off < n && r->line_state != HTTP_LINE_STOP && !r->status && !r->overlong) {
        const char *line;
        size_t len, used;
        int rc = lines_next(&r->body, &r->len, &r->cap, data + off, n - off, r->http->max_body, &used,
                            &line, &len);
        off += used;
        if (rc == LINES_MORE)
            break;
        if (rc != LINES_LINE) {
            if (rc == LINES_TOOLONG) /* one line: the body as a whole has no bound */
                http_stream_overlong_begin(r);
            else
                r->status = 500;
            break;
        }
        http_stream_line(r, line, len);
        if (r->line_state == HTTP_LINE_FULL && !http_stream_lines_wait(r))
            break;
    }
    if (r->skipping) {
        const char *nl = memchr(data + off, '\n', n - off);
        size_t end = nl ? (size_t)(nl - data) + 1 : n, within = r->within < end - off ? r->within : end - off;
        r->within -= within;
        off += within;
        size_t taken = http_stream_drop(r, end - off);
        r->skipping = !nl || taken < end - off;
        off += taken;
    }
    if (!r->skipping && (r->line_state == HTTP_LINE_STOP || r->status || r->overlong))
        off += http_stream_drop(r, n - off);
    *size = n - off;
    /* Not wanted: read and dropped, so the answer can go at the body's end;
     * but only up to --max-body, or an endless producer would hold the
     * connection (and a read thread's time) for ever. */
    return *size && r->dropped == r->http->max_body;
}

/* 1 while a lines body is on the clock: before its first line (the call:
 * headers and then nothing would otherwise hold a connection for ever),
 * inside a line, or past the lines it wants (what is dropped keeps the
 * pace of any body). */
static int
http_stream_in_line(const HttpReq *r)
{
    return r->lines_in == 0 || r->len > 0 || r->skipping || r->overlong || r->line_state == HTTP_LINE_STOP ||
           r->status;
}

/* A generator may pause for ever between lines, but its client may not
 * vanish for ever: TCP keepalive finds a dead peer in about two minutes
 * (60 s idle, then 6 probes 10 s apart), which no clock of ours does. */
static void
http_stream_keepalive(HttpReq *r)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    int on = 1, idle = 60, intvl = 10, cnt = 6;

    if (!ci)
        return;
    setsockopt(ci->connect_fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

/* Turns MHD's idle timeout off (between two lines) or on again. */
static void
http_stream_untimed(HttpReq *r, int untimed)
{
    if (r->untimed == untimed || r->http->conn_timeout <= 0)
        return;
    if (untimed && !r->lines_kept_alive) {
        r->lines_kept_alive = 1;
        http_stream_keepalive(r);
    }
    MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT,
                              untimed ? 0u : HTTP_IDLE_TIMEOUT(r->http->conn_timeout));
    r->untimed = untimed;
}

/* After a piece: off the clocks between two lines; a line begun in the
 * piece gets --connection-timeout from now, one going on its bytes' share
 * of a second. -1 when the guard has taken the connection. */
static int
http_stream_lines_clock(HttpReq *r, unsigned long lines_before, int was_in_line, size_t taken)
{
    if (!http_stream_in_line(r)) {
        http_stream_untimed(r, 1);
        return http_guard_off(r->guard);
    }
    http_stream_untimed(r, 0);
    if (r->lines_in > lines_before || !was_in_line)
        return http_guard_arm(r->http, r->guard, 1);
    return http_guard_more(r->guard, taken);
}

int
http_stream_lines_begin(HttpReq *r)
{
    return http_stream_lines_clock(r, 0, 0, 0);
}

enum MHD_Result
http_stream_lines_piece(HttpReq *r, const char *data, size_t *size)
{
    size_t given = *size;
    unsigned long lines = r->lines_in;
    int was_in_line;

    if (r->early) /* answered already, or being answered */
        return http_raw_piece(r, size);
    if (r->guard_asleep) {
        r->guard_asleep = 0;
        if (http_guard_arm(r->http, r->guard, 1) < 0)
            return MHD_NO;
    }
    was_in_line = http_stream_in_line(r);
    if (http_stream_lines_take(r, data, size))
        return http_request_answer_now(r, size); /* the stream so far, then the rest of this piece */
    if (r->waiter && http_wait_asleep(r->waiter)) {
        /* No MHD_NO now, whoever won: MHD must not close a suspended
         * connection. A guard that won is met at the wake. A suspended
         * connection is off MHD's idle timeout too. */
        if (r->guard) {
            r->guard_asleep = 1;
            http_guard_off(r->guard);
        }
        return MHD_YES;
    }
    return http_stream_lines_clock(r, lines, was_in_line, given - *size) < 0 ? MHD_NO : MHD_YES;
}

void
http_stream_lines_end(HttpReq *r)
{
    if (r->len && r->line_state != HTTP_LINE_STOP && !r->status && !r->overlong)
        http_stream_line(r, r->body, r->len);
    r->len = 0;
    http_stream_untimed(r, 0);
}

/* --- the answer, as it comes --- */

static ssize_t
http_stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    HttpWaiter *w = cls;
    int stopping = 0;

    (void)pos;
    for (;;) {
        ssize_t n = w->read(w->ctx, buf, max, stopping);
        if (n > 0)
            return n;
        if (n == HTTP_READ_END)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (n == HTTP_READ_ERROR)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        switch (http_wait_pause(w)) {
        case 1:
            return 0; /* suspended: MHD calls again after the wake */
        case -1:
            stopping = 1;
            break;
        }
    }
}

static void
http_stream_free(void *cls)
{
    http_wait_unref(cls);
}

void
http_stream_reply(HttpReq *r, int status, const char *type, HttpReadFn read)
{
    HttpWaiter *w = r->waiter;
    struct MHD_Response *resp;

    if (r->answered || !w || !w->stream)
        return;
    if (r->early) { /* before the body's end: past MHD */
        static const char *const headers[] = {"X-Accel-Buffering", "no", MHD_HTTP_HEADER_CACHE_CONTROL, "no-store",
                                              NULL};
        http_raw_stream(r, status, type, read, headers);
        return;
    }
    w->read = read;
    __atomic_add_fetch(&w->refs, 1, __ATOMIC_RELAXED); /* the response's */
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, HTTP_STREAM_BLOCK, http_stream_reader, w,
                                             http_stream_free);
    if (!resp) {
        http_wait_unref(w);
        http_reply_problem(r, 500, "out of memory", NULL);
        return;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    /* Proxies that buffer (nginx) would hold the lines back. */
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->answered = status;
}
