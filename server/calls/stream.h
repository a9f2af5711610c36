/*
 * stream.h: one imap or imap_unordered call, run as a window of chunks on
 * the pool, whose results come out as NDJSON lines.
 *
 * The items come either all at once (a JSON array) or one at a time as the
 * body arrives (stream_feed). At most `buffersize` chunks are in flight:
 * sent to the pool, or back but not yet turned into lines. Lines wait in an
 * outbox that the connection drains (stream_read); while the client is
 * still uploading, it cannot read (HTTP/1.1 as libmicrohttpd speaks it
 * answers only after the whole request), so the outbox spills to an
 * unlinked temporary file instead of memory, up to --max-spill.
 *
 * Threads: stream_feed, stream_end_input, stream_read and stream_close are
 * the connection's (one MHD thread at a time); the pool's callbacks run on
 * the dispatcher; stream_cancel on any thread. The stream knows no HTTP: it
 * calls wake() when its connection has something new to do.
 */
#ifndef POOLD_STREAM_H
#define POOLD_STREAM_H

#include <jansson.h>
#include <sys/types.h>

#include "core/common.h"
#include "core/outcome.h"
#include "pool/pool.h"

typedef struct Stream Stream;

/* Called with the stream's lock held, from any thread: the connection
 * should run again (a result is back, or the stream was cancelled). It
 * must not call back into the stream. */
typedef void (*StreamWakeFn)(void *ctx);

typedef struct StreamOptions {
    Pool *pool;
    int ordered;          /* imap: lines in input order; else completion order */
    int lines;            /* the items come through stream_feed */
    size_t max_spill;     /* bytes of lines held on disk while uploading */
    StreamWakeFn wake;
    void *wake_ctx;
} StreamOptions;

/* stream_read's answers besides a byte count. */
#define STREAM_WAIT 0     /* nothing to write now: wake() will follow */
#define STREAM_END (-1)   /* every line is written */
#define STREAM_ERROR (-2) /* cancelled: close the connection */

/* Takes call (a map whose iterable is the items, or empty when they come
 * as lines). NULL when out of memory (call is freed). */
Stream *stream_new(Call *call, const StreamOptions *o);

/*
 * Sends the first chunks. Returns SVC_OK, or what pool_submit refused with
 * (SVC_EFULL, SVC_ESTOPPED, SVC_EUNAVAIL, SVC_ENOMEM) while no line exists
 * yet, so that the caller can answer with a plain error instead.
 */
int stream_start(Stream *s);

/* One item, parsed from one line (taken). Returns 0 to go on, 1 when the
 * window is full: give it no more items until wake() and stream_poll()
 * says 0. -1 when the stream takes no more input (stream_input_refused):
 * the rest of the body is not wanted. */
int stream_feed(Stream *s, json_t *item);

/* After wake(): 0 when stream_feed may go on, 1 while the window is full,
 * -1 as stream_feed. */
int stream_poll(Stream *s);

/* A line of the body is not an item (not JSON: "InvalidItem",
 * OUTCOME_INVALID; too long: "TooLarge", OUTCOME_TOO_LARGE): the stream
 * ends with a final line that says so; the lines after it are not read. */
void stream_reject(Stream *s, const char *type, const char *msg, Outcome why);

/* The items are all in (the body ended). */
void stream_end_input(Stream *s);

/* 1 once the stream was cut before the input ended (over --max-spill, or
 * poold stopping): the rest of the body is not wanted. */
int stream_input_refused(Stream *s);

/* Copies up to max bytes of lines into buf: a count, STREAM_WAIT,
 * STREAM_END or STREAM_ERROR. With stopping set (poold is shutting down
 * and the connection cannot wait) it cuts the stream rather than wait. */
ssize_t stream_read(Stream *s, char *buf, size_t max, int stopping);

/* Any thread: the client is gone. Drops the chunks not started, kills the
 * workers running the others, and wakes the connection. */
void stream_cancel(Stream *s);

Stream *stream_ref(Stream *s);
void stream_unref(Stream *s);

/* The connection is done with the stream: cancels what is unfinished and
 * never wakes again. Drops the caller's reference. */
void stream_close(Stream *s);

/* Once the input has ended: when the stream was cut (or its first item
 * refused) before any item's line was written, the outcome the answer
 * should say (OUTCOME_INVALID, _TOO_LARGE, _QUEUE_FULL, ...) with the
 * error's type and message, for a plain problem answer in place of a
 * stream; else OUTCOME_OK. */
Outcome stream_refusal(Stream *s, char *type, size_t type_len, char *msg, size_t msg_len);

#endif
