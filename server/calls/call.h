/*
 * call.h: one client call, parsed and validated, and cut into task payloads.
 *
 * Pure: it reads a JSON body and the registry, and writes nothing else. Every
 * rule about the request fields lives here, so the HTTP handlers and (later)
 * the async job path check a body the same way.
 */
#ifndef POOLD_CALL_H
#define POOLD_CALL_H

#include <jansson.h>

#include "core/common.h"
#include "core/jscan.h"
#include "functions/registry.h"

typedef enum { CALL_APPLY, CALL_MAP, CALL_STARMAP } CallOp;

struct Call {
    CallOp op;
    const RegistryFn *fn; /* borrowed from the registry */
    json_t *args;         /* apply: positional arguments (owned ref) */
    json_t *kwds;         /* apply: keyword arguments (owned ref) */
    json_t *iterable;     /* map, starmap: the items (owned ref), or NULL
                           * when they are text: */
    char *body_text;      /* apply: the body as it came (malloc'd), sent
                           * as the task: no re-encoding; or NULL */
    size_t body_len;      /* its bytes, the NUL after them not counted */
    char *items_text;     /* the iterable's text (malloc'd) and where each */
    JscanItems items;     /* item is in it (call_parse_text) */
    size_t chunksize;     /* items per task; 0 for apply */
    int collect;          /* on_error: 1 for "collect", 0 for "raise" */
    int priority;         /* async: higher runs first; 0 by default */
    double timeout;       /* seconds per item; 0 for none */
    int retries;          /* runs again after a worker dies under it */
    size_t nitems;        /* items to run, kept when the values go */
    size_t buffersize;    /* imap: chunks (tasks) in flight at most, as
                           * Python's imap counts them; 0 outside imap */
    char *callback;       /* async: where the finished job is POSTed, or NULL */
    char *error_callback; /* async: where a failed one is, or NULL */
};

/* What the server allows: the pool size (for the default chunksize) and
 * the most items one map may carry. */
typedef struct CallLimits {
    int processes;
    long max_items;
    int async;        /* the call is an async job: it may carry "priority" */
    double timeout;   /* --task-timeout: a call's default; 0 for none */
    double max_timeout; /* --max-task-timeout: 0 for no cap */
    int stream;       /* an imap: chunksize defaults to 1, "buffersize" is
                       * taken, "on_error" is not (a stream always goes on) */
    int lines;        /* the items come later, one NDJSON line each: the
                       * body must not carry "iterable" */
} CallLimits;

#define CALL_MAX_RETRIES 10
#define CALL_MAX_BUFFERSIZE 10000 /* imap: the most chunks in flight */
#define CALL_MAX_STREAM_CHUNKSIZE 10000 /* imap: items per chunk, so that a
                                         * window stays a bounded number of
                                         * items (NDJSON input waits for a
                                         * whole chunk) */

typedef struct CallError {
    int code;          /* SVC_EINVAL (bad field) or SVC_ENOFUNC */
    char field[32];    /* the field at fault, "" when none */
    char detail[256];  /* one sentence for the client */
} CallError;

/*
 * Validates body for op within lim and returns a new Call in *out (free
 * with call_free). Returns SVC_OK, or SVC_EINVAL / SVC_ENOFUNC with err
 * filled.
 */
int call_parse(const json_t *body, CallOp op, const Registry *reg,
               const CallLimits *lim, Call **out, CallError *err);

/*
 * The same from the body's text: a map's or starmap's items are checked
 * and sliced from it (jscan.h), never built as JSON values; the rest of
 * the body is parsed as usual. SVC_EAGAIN when the text is not one the
 * scanner vouches for: parse it whole and call call_parse, which also
 * words any error in its JSON.
 */
int call_parse_text(const char *text, size_t len, CallOp op, const Registry *reg,
                    const CallLimits *lim, Call **out, CallError *err);

void call_free(Call *c);

/* An apply keeps a copy of the body call_parse checked, to send as its
 * task as it is (WIRE_MODE_APPLY_BODY): building the frame anew cost more
 * than the rest of the call. Nothing happens for a map, or when memory is
 * short (the frame is built then). */
void call_keep_body(Call *c, const char *text, size_t len);

/* The kept body as the apply's payload (WIRE_MODE_APPLY_BODY), handed
 * over (caller frees), with its length in *len; NULL when none is kept:
 * then call_chunk_payload builds the frame. */
char *call_take_body(Call *c, size_t *len, uint32_t *mode);

/* Items to run: 1 for apply. */
size_t call_items(const Call *c);

/* Drops the call's JSON values (args, kwds, iterable) once its payloads
 * are built: they belong to the request body, which the HTTP thread that
 * parsed it should be the one to free. Counts and chunking stay. */
void call_drop_values(Call *c);

/* Tasks the call splits into: ceil(items / chunksize), 1 for apply. */
size_t call_chunks(const Call *c);

/* The first item of chunk i. */
size_t call_chunk_first(const Call *c, size_t i);

/* Items in chunk i. */
size_t call_chunk_len(const Call *c, size_t i);

/* The wire payload of chunk i (malloc'd JSON text, caller frees), the
 * frame [id, items, kwds] of worker/wire.h, with its byte length in *len
 * and its WIRE_MODE_* in *mode. NULL when out of memory. */
char *call_chunk_payload(const Call *c, size_t i, size_t *len, uint32_t *mode);

/* The wire payload of one task of fn over items (an args array for apply,
 * else the items), as call_chunk_payload. items and kwds are borrowed. */
char *call_payload(const RegistryFn *fn, CallOp op, json_t *items, json_t *kwds,
                   size_t *len, uint32_t *mode);

/* imap's default window, in chunks: enough to keep every worker's
 * pipeline full (the dispatcher writes several tasks ahead per worker). */
size_t call_default_buffersize(int processes);

/* Python's default chunksize for map: ceil(n / (4 * processes)), at least 1. */
size_t call_default_chunksize(size_t n, int processes);

#endif
