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
#include "core/outcome.h"
#include "pool/pool.h"


/* How a batch failed. Its outcome is one of OUTCOME_FUNCTION_ERROR (an
 * item raised, on_error "raise"), _WORKER_LOST, _TIMED_OUT, _STOPPED (the
 * pool shut down first), _UNAVAILABLE (no worker could start to run it),
 * _CANCELLED (batch_cancel) or _NOMEM. */
typedef struct BatchFailure {
    Outcome outcome;
    size_t index;        /* the item at fault */
    char type[64];       /* the function's error type, "WorkerLost", "TimedOut" */
    char message[4096];  /* holds a PooldError's whole */
    char traceback[8192];/* a runtime function's remote traceback, or "" */
} BatchFailure;

/* Called once, on the dispatcher thread, when the batch has its answer:
 * every chunk done, or under on_error "raise" a failed item and every
 * chunk before it done. The failure answered is the failed item with the
 * lowest index, whatever order chunks end in; later chunks are not
 * waited for. */
typedef void (*BatchDoneFn)(Batch *b, void *ctx);

/* Called at most once, on the dispatcher thread before done, when the
 * first chunk goes to a worker. */
typedef void (*BatchStartFn)(Batch *b, void *ctx);

/* Called on the dispatcher thread when a chunk comes back and more are
 * to come (never for a batch of one chunk). */
typedef void (*BatchProgressFn)(Batch *b, void *ctx);

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

/* Before batch_start: progress is called with its ctx as chunks come back. */
void batch_on_progress(Batch *b, BatchProgressFn progress);

/* Any thread, after batch_start: drops the chunks not yet started and
 * kills the workers running the others. done follows, OUTCOME_CANCELLED,
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

/* The outcome a failed item's error object {"type", "message"[,
 * "outcome"]} carries (worker/wire.h): OUTCOME_FUNCTION_ERROR when it
 * says none. */
Outcome batch_item_outcome(const json_t *e);

/* Says how a task's worker ended (POOL_LOST), for the error a client
 * reads: the signal or exit status, and what it likely means. */
void batch_lost_message(const PoolResult *res, char *buf, size_t len);

/* After done: who ran the call (for apply), "" when unknown. */
const char *batch_worker(const Batch *b, pid_t *pid);

#endif
