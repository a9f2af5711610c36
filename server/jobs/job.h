/*
 * job.h: the table of async jobs, their state machine, their waiters and
 * their expiry.
 *
 * A job is one async call (apply_async, map_async, starmap_async) with a
 * random 128-bit id. The table owns its lock and one clock thread, which
 * ends long polls at their deadline and forgets finished jobs after
 * --result-ttl. It knows no HTTP: a long poll is a JobWakeFn the caller
 * gives, and the table calls it once, when the job ends or the deadline
 * passes, whichever comes first. It runs jobs through batch.c, so it knows
 * the pool only as the thing a batch is started on.
 *
 * With a store (store.h), every job is written there before its submit is
 * confirmed, each change of state follows it, and job_store_recover reads
 * them back after a restart: finished jobs keep their answers until their
 * TTL, queued and running ones run again (at least once, never lost).
 *
 * States: queued -> running -> succeeded | failed | timed_out | worker_lost,
 * and cancelled from queued or running (job_state.h has the rule). An id
 * the table does not hold is unknown (404), never "pending".
 */
#ifndef POOLD_JOB_H
#define POOLD_JOB_H

#include <jansson.h>

#include "calls/batch.h"
#include "calls/call.h"
#include "core/common.h"
#include "store/store.h"
#include "webhook/webhook.h"

typedef struct Job Job;


typedef enum {
    JOB_QUEUED,
    JOB_RUNNING,
    JOB_SUCCEEDED,
    JOB_FAILED,
    JOB_TIMED_OUT,
    JOB_WORKER_LOST,
    JOB_CANCELLED,
} JobStatus;
#define JOB_NSTATUS (JOB_CANCELLED + 1)

typedef struct JobOptions {
    Pool *pool;
    long max_jobs;       /* jobs held at once, finished ones included */
    double result_ttl;   /* seconds a finished job is kept */
    Store *store;        /* NULL: jobs live in memory only (--store memory) */
    Webhooks *webhooks;  /* where finished jobs' callbacks go */
    const Registry *reg; /* to run stored jobs again after a restart */
    CallLimits limits;   /* the async calls' limits, for the same */
    const char *replica; /* non-NULL: the store is Redis, shared with other
                          * replicas (job_cluster.c); this one's name */
    double claim_after;  /* replicas: seconds of silence before a job is
                          * taken back from its replica */
} JobOptions;

JobTable *job_table_new(const JobOptions *o);

/* Ends every long poll now (their wake functions run) and stops the
 * clock; later waits return at once. Call after the pool has stopped, so
 * that every job has ended or will not run. */
void job_table_stop(JobTable *t);

/* Frees the table, once nothing can reach it (HTTP has stopped). */
void job_table_free(JobTable *t);

/* The end of a submit: rc is SVC_OK once the job is accepted (written to
 * the store, when there is one), or SVC_ESTORE when the store could not
 * write it (the job is then gone). j is borrowed for the call. Called
 * once, on any thread, perhaps before job_submit returns. */
typedef void (*JobSubmittedFn)(void *ctx, Job *j, int rc);

/*
 * Creates a job for call (taken) and starts it on the pool. key is the
 * client's Idempotency-Key (NULL for none) and body the request body it
 * fingerprints (and the store keeps, to run it again). Returns SVC_OK with
 * *job (a new reference) and *created (0 when the key named an existing
 * job with the same body, which is returned instead): done follows, once.
 * Else, without done: SVC_EINVAL when the key is known with another body;
 * SVC_EFULL past --max-jobs or --max-queue; SVC_E2BIG when the call alone
 * needs more tasks than --max-queue; SVC_ESTORE when the store is known
 * to be unwritable; SVC_ESTOPPED; SVC_ENOMEM.
 */
int job_submit(JobTable *t, Call *call, int priority, const char *key,
               const char *body, size_t body_len, JobSubmittedFn done, void *ctx,
               Job **job, int *created);

/* A new reference to the job with this id, or NULL when unknown. */
Job *job_find(JobTable *t, const char *id);

Job *job_ref(Job *j);
void job_unref(Job *j);

const char *job_id(const Job *j);
CallOp job_op(const Job *j);
const char *job_func(const Job *j);

int job_ended(JobStatus s);
const char *job_status_name(JobStatus s);

/* Parses a status name; -1 when unknown. */
int job_status_parse(const char *name);

/*
 * Cancels the job: a queued one never runs; a running one has its
 * unstarted chunks dropped and its running tasks' workers killed (and
 * replaced), on whichever replica runs it. Returns SVC_OK, SVC_EINVAL
 * when the job had already ended, SVC_ESTORE when the replicas' Redis
 * cannot be asked, SVC_ENOFUNC when Redis no longer holds the job.
 */
int job_cancel(JobTable *t, Job *j);

/*
 * Delivers the ended job's webhook again, with a fresh budget of attempts
 * and the same webhook-id. SVC_OK; SVC_EINVAL when the job has not ended;
 * SVC_ENOFUNC when it has no webhook to send (none given, or cancelled);
 * SVC_EFULL while a delivery is under way; SVC_ESTOPPED once stopping.
 */
int job_redeliver(JobTable *t, Job *j);

/* Called once, from the table's threads, when the job ends or the
 * deadline passes; ctx is the caller's. */
typedef void (*JobWakeFn)(void *ctx);

/*
 * Waits for the job to end, at most `seconds`. Returns 1 when the job has
 * already ended (wake is not called), 0 when wake will be called exactly
 * once, or SVC_ENOMEM.
 */
int job_wait(JobTable *t, Job *j, double seconds, JobWakeFn wake, void *ctx);

/* --- job_store.c: the durable side --- */

/*
 * Reads the store's jobs back into the table, once, before HTTP serves:
 * finished ones as they were, queued and running ones queued again.
 * Returns the number of jobs read, or -1 when the store is unhealthy (the
 * table then starts empty).
 */
long job_store_recover(JobTable *t);

/* 1 when new jobs can be accepted by the store (always, without one);
 * else 0 with the reason in why. */
int job_store_ready(JobTable *t, char *why, size_t len);

/* 1 when the table's jobs can be answered for (always, but for a replica
 * that has lost the replicas' Redis, or not yet read it: its copy may
 * be behind); else 0 with the reason in why. */
int job_store_current(JobTable *t, char *why, size_t len);

/* --- job_view.c: the jobs as clients read them --- */

/* The job as GET /v1/jobs/{id} shows it (new reference); its result only
 * when with_result (a list leaves results out, to stay bounded). */
json_t *job_view_json(JobTable *t, Job *j, int with_result);

/* The status code of the ended job's outcome (200, 410, 422, 500, 502,
 * 503, 504: http_status() of the Outcome job_state_outcome gives it, the
 * number its error carries too), or 0 while it is queued or running. */
int job_view_outcome_code(JobTable *t, Job *j);

/* The job's status and, once ended, its answer: the result as JSON text
 * (malloc'd, *len set) for JOB_SUCCEEDED, else NULL with *f filled for a
 * failure. Returns the status. */
JobStatus job_view_outcome(JobTable *t, Job *j, char **result, size_t *len,
                           BatchFailure *f);

/*
 * Lists jobs newest first, at most limit, only those in status (-1: any),
 * starting after the job named by cursor (NULL: from the newest). Returns a
 * new reference {"jobs": [...], "next_cursor": id | null}.
 */
json_t *job_view_list(JobTable *t, int status, size_t limit, const char *cursor);

/* How many jobs the table holds in each status, into counts. */
void job_view_counts(JobTable *t, size_t counts[JOB_NSTATUS]);

#endif
