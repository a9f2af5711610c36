/*
 * worker.h: a worker process's loop, and the pure part of it that runs one
 * task. A worker knows tasks, functions and its socket: never MHD, a
 * connection or a job.
 */
#ifndef POOLD_WORKER_H
#define POOLD_WORKER_H

#include "core/common.h"
#include "functions/registry.h"
#include "worker/wire.h"

typedef struct WorkerEnv {
    const Registry *reg;
    WireClaim *claims; /* shared with the dispatcher; see wire.h */
    size_t nclaims;
    size_t memory_limit; /* RLIMIT_AS in bytes; 0 for none */
    long cpu_limit;      /* CPU seconds per task (RLIMIT_CPU); 0 for none */
    size_t max_result;   /* the longest result a warm runtime may send */
} WorkerEnv;

/* The worker's life (a ForkserverWorkerFn; arg is a WorkerEnv). Reads task
 * frames from sock, runs each task it wins the claim of, answers one result
 * frame per task, and exits when the socket closes. */
void worker_main(unsigned number, int sock, void *arg);

/* Kills the process group of every exec function a worker runs (their
 * claims say which). Async-signal-safe: the fork server calls it when the
 * main process dies (a ForkserverCleanupFn; arg is the WorkerEnv). */
void worker_kill_groups(void *arg);

/*
 * Runs one task: payload is [id, items, kwds] as JSON text (wire.h; an
 * apply's body for WIRE_MODE_APPLY_BODY), mode a WIRE_MODE_*. With progress (may be NULL), it records when each item
 * starts (wire.h, WireClaim) for the dispatcher's deadlines. Returns the
 * result payload (wire.h: plain values when *fails is 0, outcomes
 * otherwise) as malloc'd JSON text, its length in *len, the count of
 * failed items in *fails and the index of the first in *first. NULL when
 * the payload is not a task or memory ran out.
 */
char *worker_execute(const Registry *reg, const char *payload, size_t plen,
                     uint32_t mode, WireClaim *progress, size_t *len,
                     uint32_t *fails, uint64_t *first);

#endif
