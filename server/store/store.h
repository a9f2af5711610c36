/*
 * store.h: the durable copy of the async jobs, in one SQLite file (WAL),
 * or in Redis (store_redis.c: --store redis://), where several replicas
 * can share it.
 *
 * The job table (job.c) stays the index every request reads; the store is
 * what a restart reads back. It knows no HTTP and no pool: a job reaches it
 * as a StoreJob, plain data, and it answers through callbacks.
 *
 * One writer thread owns the connection and commits whatever has queued up
 * since its last commit in one transaction (group commit), so a burst of
 * submits costs one commit, not one each. A new job's write is confirmed
 * (StoreDoneFn) after its commit: that is what lets a 202 mean "on disk".
 * Status changes are fire and forget, and the pending change of a job is
 * replaced by a newer one instead of queued behind it.
 *
 * A store that cannot be written (the file cannot be opened, is corrupt,
 * or the disk is full) is unhealthy: new jobs are refused, their writes
 * failing, until a later commit succeeds. Nothing here exits the process.
 */
#ifndef POOLD_STORE_H
#define POOLD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/common.h"

typedef struct Store Store;

typedef struct StoreOptions {
    const char *path;  /* the database file; its directory is created */
    int fsync_full;    /* synchronous=FULL (power loss) instead of NORMAL */
    const char *redis_host; /* non-NULL: the jobs live in this Redis */
    int redis_port, redis_db;
    const char *replica;    /* Redis: this poold's name among its replicas
                             * (outlives the store) */
} StoreOptions;

/*
 * A job as the store keeps it. The strings are borrowed by the calls
 * below and copied when queued; NULL where the job has none.
 */
typedef struct StoreJob {
    uint64_t seq;            /* the job's creation order: the row's key */
    const char *id;
    const char *op;          /* "apply_async", "map_async", "starmap_async" */
    const char *func;
    int priority;
    const char *status;      /* a job_status_name() */
    const char *request;     /* the call's body, to run it again */
    size_t request_len;
    const char *key;         /* Idempotency-Key */
    const uint8_t *digest;   /* 32 bytes, with key */
    double created, started, finished; /* wall clock, 0 when not yet */
    uint64_t total, done;    /* progress */
    const char *worker;
    int pid;
    const char *result;      /* JSON text, when succeeded */
    size_t result_len;
    int fail_outcome;        /* an Outcome (core/outcome.h), with fail_type */
    uint64_t fail_index;
    const char *fail_type;
    const char *fail_message;
    const char *callback;    /* the webhook's state, JSON text (schema 2) */
    const char *fail_traceback; /* a runtime function's traceback (schema 3) */
    const char *replica;     /* Redis: the replica that took it, NULL before */
    uint64_t attempts;       /* Redis: how often a replica took it */
} StoreJob;

/* The schema this build writes; PRAGMA user_version holds a file's. */
#define STORE_SCHEMA_VERSION 3

/*
 * Opens (or creates) the database, migrates it to this build's schema and
 * starts the writer. NULL only when out of memory: a file that cannot be
 * opened gives a store that is unhealthy from the start (store_healthy
 * says why), so that poold serves sync calls and refuses jobs. A Redis
 * that cannot be reached is unhealthy too, and connected again later.
 */
Store *store_open(const StoreOptions *o);

/* Writes what is queued and closes. NULL is fine. */
void store_close(Store *s);

/* 1 when the last commit succeeded; else 0 with the reason in why. Any
 * thread. */
int store_healthy(Store *s, char *why, size_t len);

/* Called once, on the writer thread, after the job's commit (SVC_OK) or
 * its failure (SVC_ERROR). same is NULL, but for a job whose
 * Idempotency-Key another replica's job holds already (Redis): then
 * nothing was written, and same is that job's row (borrowed for the
 * call). */
typedef void (*StoreDoneFn)(void *ctx, int rc, const StoreJob *same);

/* Queues a new job's row (copied). done follows exactly once when SVC_OK
 * is returned; else SVC_ESTORE (the file never opened), SVC_ESTOPPED or
 * SVC_ENOMEM. */
int store_add(Store *s, const StoreJob *j, StoreDoneFn done, void *ctx);

/* The next job number. SQLite: 0 (the job table numbers its own jobs).
 * Redis: a number no replica has used, from a block this poold took
 * (INCRBY), or 0 when none can be had (Redis away). Any thread. */
uint64_t store_seq(Store *s);

/* Queues the job's mutable fields (status, times, progress, worker,
 * result, failure), replacing a change of the same job still queued. */
void store_update(Store *s, const StoreJob *j);

/* Queues the deletion of the job's row (it expired, or was refused):
 * only if the row is still job id's, so that a refused job never takes
 * with it a row another poold wrote under its number. */
void store_forget(Store *s, uint64_t seq, const char *id);

/* Waits up to `seconds` until everything queued so far is written (or
 * failed). Any thread but the writer. */
void store_flush(Store *s, double seconds);

/* Called for each job read back, in creation order; strings are borrowed
 * for the call only. */
typedef void (*StoreLoadFn)(void *ctx, const StoreJob *j);

/*
 * Reads every job back, first deleting those that finished more than ttl
 * seconds ago. Call before anything is queued. Returns the number read, or
 * -1 when the store is unhealthy.
 */
long store_load(Store *s, double ttl, StoreLoadFn fn, void *ctx);

#endif
