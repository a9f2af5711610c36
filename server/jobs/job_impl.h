/*
 * job_impl.h: the job table's insides, shared by job.c (the table, waits
 * and expiry), job_submit.c (a job coming in), job_state.c (the state
 * machine's moves), job_hook.c (webhooks), job_store.c (the durable side:
 * writing jobs to the store and reading them back) and job_view.c (what
 * clients read).
 * Nothing else includes it.
 */
#ifndef POOLD_JOB_IMPL_H
#define POOLD_JOB_IMPL_H

#include <pthread.h>
#include <sys/types.h>

#include <nettle/sha2.h>
#include <uthash.h>

#include "jobs/job.h"
#include "jobs/job_state.h"
#include "webhook/webhook.h"

typedef struct JobWait {
    struct JobWait *prev, *next; /* in t->waits: every long poll */
    struct JobWait *jprev, *jnext; /* in job->waits: this job's */
    Job *job;                    /* a reference */
    double deadline;             /* monotonic */
    JobWakeFn wake;
    void *ctx;
} JobWait;

/* What a failed job keeps of its BatchFailure, the message and the
 * traceback allocated to their lengths: a BatchFailure has room for any
 * (12 KB), and a job may stay for --result-ttl. */
typedef struct JobFailure {
    Outcome outcome;
    size_t index;
    char type[64];
    char *traceback;    /* in text[], after the message; "" when none */
    char message[];
} JobFailure;

/* A job's webhook: where it goes, and how its delivery stands. */
typedef struct JobCallback {
    char *url, *error_url;     /* as the client gave them (error_url may be NULL) */
    const char *target;        /* url or error_url once the job ended, or NULL */
    char event[32];            /* "job.succeeded", "job.failed", ... */
    WebhookReport state;       /* after the last attempt */
    int pending;               /* to be handed to the webhook thread */
    int sending;               /* with the webhook thread */
} JobCallback;

struct Job {
    int refs;                  /* atomic */
    JobTable *table;
    char id[33];
    uint64_t seq;              /* creation order, for list cursors */
    CallOp op;
    const char *func;          /* borrowed from the registry, which outlives
                                * jobs, or func_copy */
    char *func_copy;           /* a stored job's function no longer registered */
    int priority;
    JobStatus status;
    double created, started, finished; /* wall clock, 0 when not yet */
    double finished_mono;      /* for the TTL */
    size_t total;              /* items */
    size_t done_at_end;        /* progress when it ended */
    Batch *batch;              /* a reference until the batch is done */
    char worker[32];
    pid_t pid;
    char *result;              /* JSON text, when succeeded */
    size_t result_len;
    JobFailure *fail;          /* when failed; NULL otherwise */
    char *key;                 /* Idempotency-Key, or NULL */
    uint8_t digest[SHA256_DIGEST_SIZE]; /* of the request body */
    Job *newer, *older;        /* in the table's list, newest first */
    Job *fin_next;             /* in the finished FIFO, for expiry */
    JobWait *waits;            /* its long polls */
    JobCallback *cb;           /* its webhook, or NULL */
    struct JobSubmit *submit;  /* while its first row is being written */
    int refused;               /* a submit not accepted (job_store_discard) */
    int in_table;
    char *request;             /* the submitted body when at most JOB_REQUEST_MAX
                                * bytes (what a dashboard shows), or NULL */
    double events_at;          /* dispatcher: when its last progress event went */
    uint64_t attempts;         /* replicas: how often a replica took it */
    int taken_here;            /* replicas: this replica took this attempt
                                * and has not finished it (job_cluster.c) */
    Batch *given_up;           /* replicas: the batch of an attempt here that
                                * was taken back (a reference): its start
                                * and end move nothing; no other attempt
                                * starts here until it is done */
    int in_fifo;               /* queued for expiry (job_expire_later) */
    char replica[64];          /* replicas: the one that took it, or "" */
    UT_hash_handle hh, hh_key, hh_seq;
};

struct JobTable {
    JobOptions opt;
    pthread_mutex_t lock;
    pthread_cond_t cond;       /* the clock thread sleeps on it */
    Job *by_id, *by_key, *by_seq;
    Job *newest, *oldest;
    size_t count;
    size_t by_status[JOB_NSTATUS]; /* of count: job_state_set keeps it */
    uint64_t seq;
    Job *fin_head, *fin_tail;  /* finished jobs, oldest first */
    JobWait *waits;            /* every long poll */
    double clock_due;          /* when the clock thread wakes next */
    struct StoreCluster *cluster; /* replicas (job_cluster.c), or NULL */
    pthread_t clock;
    int clock_started, quit;
};

#define JOB_REQUEST_MAX 2048

extern const char *const job_names[]; /* by JobStatus */
extern const char *const job_ops[];   /* by CallOp */

/* In job.c; "lock held" means t->lock. */
void job_insert(JobTable *t, Job *j);          /* lock held */
void job_remove(JobTable *t, Job *j);          /* lock held */
/* Takes j's long polls (every one when j is NULL) off the lists into
 * *fired (lock held), for job_fire once the lock is dropped. */
void job_take_waits(JobTable *t, Job *j, JobWait **fired);
void job_fire(JobWait *fired);                 /* lock not held */
/* Queues the ended j for expiry at finished_mono + TTL: the queue is in
 * that order, so j must have finished after every job already in it. */
void job_expire_later(JobTable *t, Job *j);    /* lock held */

/* In job_state.c: the moves of the state machine (job_state.h has its
 * rule), lock held unless said. */
/* Moves j, in the table, to status s when the rule allows: 1, else 0 and
 * nothing changed. The one writer of a tabled job's status. */
int job_state_set(JobTable *t, Job *j, JobStatus s);
/* Ends j with the ended status s when the rule allows (1, else 0): stamps
 * it, queues it for expiry, collects its long polls into *fired and makes
 * its webhook due (job_hook_fire must follow once the lock is dropped). */
int job_state_end(JobTable *t, Job *j, JobStatus s, JobWait **fired);
/* A failed job's copy of f. NULL when out of memory. */
JobFailure *job_state_failure_new(const BatchFailure *f);
/* The BatchStartFn of every job (lock not held): the first task went to a
 * worker. */
void job_state_batch_start(Batch *b, void *ctx);
/* Its BatchProgressFn (lock not held): a chunk came back. */
void job_state_batch_progress(Batch *b, void *ctx);
/* Its BatchDoneFn (lock not held): the job has its answer. Dispatcher
 * thread; drops the batch's reference to the job. */
void job_state_batch_done(Batch *b, void *ctx);

/* In job_events.c: its life on the event stream (any lock state). */
void job_events_created(const Job *j);
void job_events_started(const Job *j);
void job_events_progress(Job *j, size_t done, size_t total); /* dispatcher */
void job_events_ended(const Job *j);
void job_events_callback(const Job *j, const WebhookReport *r);

/* In job_cluster.c: jobs shared with other replicas (lock not held). */
/* Starts following the store's replicas when opt.replica is set: SVC_OK
 * (also without), or SVC_ENOMEM. */
int job_cluster_start(JobTable *t);
void job_cluster_stop(JobTable *t);
/* The job row r describes, brought into the table or brought up to date
 * there: a new reference, or NULL when it cannot be read. */
Job *job_cluster_adopt(JobTable *t, const StoreJob *r);
/* Inserts j (lock held) by its creation time, not at the newest end: a
 * job another replica made may be older than those here. */
void job_cluster_insert(JobTable *t, Job *j);
/* Cancels j here only (job.c's cancel without asking Redis). */
int job_cancel_here(JobTable *t, Job *j);

/* In job_hook.c. */
/* Chooses the webhook of j, which has just ended with s (lock held):
 * job_hook_fire must follow once the lock is dropped. */
void job_hook_due(Job *j, JobStatus s);
/* Hands a due webhook to the webhook thread (lock not held). */
void job_hook_fire(JobTable *t, Job *j);
/* The callback's state as the store keeps it: JSON text (malloc'd), or
 * NULL; and back (lock held, or j not yet shared), a delivery left
 * unfinished to resume here when resume is set. */
char *job_hook_text(const Job *j);
void job_hook_load(Job *j, const char *text, int resume);
/* The callback as GET shows it (new reference), or NULL (lock held). */
json_t *job_hook_json(const Job *j);
void job_hook_free(JobCallback *cb);

/* In job_store.c. */
typedef struct JobSubmit JobSubmit;
/* Queues j's new state for the store, if there is one (lock held). */
void job_store_persist(JobTable *t, const Job *j);
/* Marks j as being written (lock held, before j is in the table), for
 * done to learn the submit's end. NULL when out of memory. */
JobSubmit *job_store_begin(Job *j, JobSubmittedFn done, void *ctx);
/* Queues j's first row before its batch starts, so that every later state
 * queues behind it. SVC_OK, then job_store_settle must follow, once; or a
 * refusal, and js is gone. */
int job_store_write(JobTable *t, JobSubmit *js, const char *body, size_t body_len);
/* A replay of j's Idempotency-Key while j's row is being written joins
 * the original (lock held): 1, its done follows the original's; 0 when
 * j is written (answer at once); SVC_ENOMEM. */
int job_store_join(Job *j, JobSubmittedFn done, void *ctx);
/* The submit is over: its batch started, or not (and the job is gone).
 * done follows once both this and the commit are in, if it started. */
void job_store_settle(JobTable *t, JobSubmit *js, int started);
/* Takes j, a submit refused with rc (an SVC_ code), out of the table, the
 * store and the pool, and logs why (lock not held). */
void job_store_discard(JobTable *t, Job *j, int rc);
/* A job read back (from a row): who it is and what it runs, status
 * queued, not in the table; NULL (logged) when the row cannot be read
 * back. st is the row's status, parsed. */
Job *job_store_revive(JobTable *t, const StoreJob *r, int st);
/* Its end as the row has it (j not yet in the table, or its status set
 * by the caller). */
void job_store_revive_end(Job *j, const StoreJob *r, JobStatus st);
/* The stored call of r, parsed again: NULL with why filled. */
Call *job_store_recall(JobTable *t, Job *j, const StoreJob *r, char *why, size_t len);
/* Runs j's call c (taken) again: a job read back (it fails if it cannot
 * be queued), or one taken from Redis's queue by this replica (give_back:
 * the refusal is returned, the job left as it was). SVC_OK, or that
 * refusal. */
int job_store_rerun(JobTable *t, Job *j, Call *c, int give_back);

#endif
