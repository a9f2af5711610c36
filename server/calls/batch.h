/*
 * batch.h: runs one Call on the pool and gathers its results in input order.
 *
 * The sync handlers use it now; async jobs and imap will use the same path.
 * A batch is reference-counted: its creator holds one reference and every
 * submitted task holds one, so a batch outlives whichever side lets go
 * last (a client that disconnected, or a chunk still running).
 */
#ifndef POOLD_BATCH_H
#define POOLD_BATCH_H

#include <jansson.h>
#include <sys/types.h>

#include "core/common.h"
#include "pool/pool.h"

typedef enum {
    BATCH_OK,
    BATCH_ERROR,   /* an item raised (on_error "raise") */
    BATCH_LOST,    /* a worker died running an item */
    BATCH_TIMEOUT, /* an item ran past its timeout */
    BATCH_STOPPED, /* the pool shut down first */
    BATCH_UNAVAILABLE, /* no worker could start to run it */
    BATCH_CANCELLED, /* batch_cancel */
    BATCH_NOMEM,
} BatchOutcome;

typedef struct BatchFailure {
    BatchOutcome outcome;
    size_t index;        /* the item at fault */
    char type[64];       /* the function's error type, "WorkerLost", "TimedOut" */
    char message[4096];  /* holds a PooldError's whole */
} BatchFailure;

/* Called once, on the dispatcher thread, when the batch has its answer:
 * every chunk done, or the first failure under on_error "raise". */
typedef void (*BatchDoneFn)(Batch *b, void *ctx);

/* Called at most once, on the dispatcher thread before done, when the
 * first chunk goes to a worker. */
typedef void (*BatchStartFn)(Batch *b, void *ctx);

/* Takes ownership of call. NULL when out of memory (call is freed). */
Batch *batch_new(Call *call);

Batch *batch_ref(Batch *b);
void batch_unref(Batch *b);

/* The call the batch runs (borrowed). */
const Call *batch_call(const Batch *b);

/*
 * Cuts the call into tasks of the given priority and queues them.
 * done(b, ctx) follows exactly once when SVC_OK is returned, never
 * otherwise; start (may be NULL) before it. Returns SVC_OK, SVC_EFULL
 * (queue bound), SVC_ESTOPPED or SVC_ENOMEM.
 */
int batch_start(Batch *b, Pool *p, int priority, BatchDoneFn done,
                BatchStartFn start, void *ctx);

/* Any thread, after batch_start: drops the chunks not yet started and
 * kills the workers running the others. done follows, BATCH_CANCELLED,
 * unless the batch had its answer already. */
void batch_cancel(Batch *b);

/* Items whose chunk is back, and items in all (any thread). */
void batch_progress(const Batch *b, size_t *done, size_t *total);

/*
 * After done: the answer, as malloc'd JSON text (length in *len): the apply
 * result, or the array of map results (a failed item is {"error": {...}} in
 * its place under on_error "collect"). On failure NULL, with *f filled.
 * When nothing failed the workers' texts are spliced, never parsed.
 */
char *batch_result(Batch *b, BatchFailure *f, size_t *len);

/* Says how a task's worker ended (POOL_LOST), for the error a client
 * reads: the signal or exit status, and what it likely means. */
void batch_lost_message(const PoolResult *res, char *buf, size_t len);

/* After done: who ran the call (for apply), "" when unknown. */
const char *batch_worker(const Batch *b, pid_t *pid);

#endif
