/*
 * job_cluster.c: the job table as one replica of several sharing Redis
 * (--store redis://; store/store_cluster.h). The rows in Redis are the
 * truth; the table is this replica's copy of them, kept current by the
 * store's watcher (job_cluster_row), so that every read (GET, the list,
 * long polls) is served from memory as with one poold.
 *
 * A job submitted here is written queued and left to the queue: whichever
 * replica has room takes it (job_cluster_taken, maybe this one) and runs
 * it as a job read back after a restart runs (job_store_rerun). While a
 * replica runs a job its own copy is the one that moves, and its writes
 * are the row's; every other replica only follows. A job taken again
 * after its replica fell silent counts one more attempt, and the copy
 * with more attempts wins.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "core/clock.h"
#include "core/log.h"
#include "jobs/job_impl.h"
#include "store/store_cluster.h"

/* Jobs a replica takes beyond its idle workers: one each, so that a worker
 * that frees finds the next job here, not a round trip away. */
#define JOB_CLUSTER_PREFETCH 1

void
job_cluster_insert(JobTable *t, Job *j)
{
    Job *newer = NULL, *older = t->newest; /* j goes between them */

    while (older && older->created > j->created) {
        newer = older;
        older = older->older;
    }
    job_insert(t, j); /* at the newest end, and in the indexes */
    if (!newer)
        return;
    t->newest = j->older; /* off the newest end ... */
    t->newest->newer = NULL;
    j->newer = newer; /* ... and in its place */
    j->older = older;
    newer->older = j;
    if (older)
        older->newer = j;
    else
        t->oldest = j;
}

/* Whether this replica runs j's attempt now: its copy is the one that
 * moves (lock held). */
static int
job_cluster_mine(const JobTable *t, const Job *j)
{
    return j->taken_here && strcmp(j->replica, t->opt.replica) == 0;
}

/* Gives up this replica's attempt at j, which runs elsewhere now (lock
 * held): its batch becomes given_up, whose start and end move nothing.
 * The batch, to cancel once the lock is dropped (a reference), or NULL. */
static Batch *
job_cluster_abandon(Job *j)
{
    Batch *b = j->batch;

    j->taken_here = 0;
    if (!b)
        return NULL;
    j->batch = NULL;
    batch_unref(j->given_up); /* none: no attempt starts here while one is given up */
    j->given_up = b;          /* the table's reference, moved */
    return batch_ref(b);
}

/* The webhook's state as the row has it, into j's copy (lock held): a
 * redelivery may be asked of any replica, and each shows the attempts.
 * Updated in place (the webhook thread and job_hook_fire read j->cb), and
 * not while this replica delivers it itself. */
static void
job_cluster_callback(Job *j, const char *text)
{
    Job row = {.cb = NULL};
    JobCallback *cb = j->cb, *now;

    if (!text || (cb && (cb->sending || cb->pending)))
        return;
    snprintf(row.id, sizeof(row.id), "%s", j->id);
    job_hook_load(&row, text, 0);
    if (!(now = row.cb))
        return;
    if (!cb) {
        j->cb = now; /* a job that had none in this copy: nobody reads it yet */
        return;
    }
    cb->state = now->state;
    snprintf(cb->event, sizeof(cb->event), "%s", now->event);
    if (now->target)
        cb->target = now->target == now->error_url && cb->error_url ? cb->error_url : cb->url;
    job_hook_free(now);
}

/* j (in the table) takes r's status st and what goes with it, as a copy:
 * no webhook and no write, which are the running replica's (lock held).
 * An end wakes its long polls into *fired. */
static void
job_cluster_follow(JobTable *t, Job *j, const StoreJob *r, JobStatus st, JobWait **fired)
{
    JobStatus from = j->status;

    j->attempts = r->attempts;
    snprintf(j->replica, sizeof(j->replica), "%s", r->replica ? r->replica : "");
    snprintf(j->worker, sizeof(j->worker), "%s", r->worker ? r->worker : "");
    j->pid = r->pid;
    j->started = r->started;
    j->done_at_end = r->done;
    job_cluster_callback(j, r->callback);
    if (st == from)
        return;
    /* Taken back from a silent replica, a job runs again: a copy may move
     * back to queued, which the state machine allows no job of its own. */
    t->by_status[from]--;
    t->by_status[st]++;
    j->status = st;
    if (st == JOB_RUNNING)
        job_events_started(j);
    if (!job_ended(st))
        return;
    free(j->result);
    free(j->fail);
    j->result = NULL;
    j->fail = NULL;
    job_store_revive_end(j, r, st);
    j->finished_mono = clock_mono() - (clock_wall() - j->finished);
    job_expire_later(t, j);
    job_take_waits(t, j, fired);
    job_events_ended(j);
}

/* Brings the row r into the table (lock held): j when it is there
 * already, else a new copy. Returns j (borrowed), or NULL; *drop is an
 * attempt's batch this replica must give up (taken again elsewhere). */
static Job *
job_cluster_merge(JobTable *t, Job *j, const StoreJob *r, JobWait **fired, Batch **drop)
{
    int st = job_status_parse(r->status);

    if (st < 0)
        return NULL;
    if (!j) {
        if (!(j = job_store_revive(t, r, st)))
            return NULL;
        job_cluster_insert(t, j);
        job_unref(j); /* the table's reference is the one left */
        job_events_created(j);
    } else if (r->attempts < j->attempts) {
        return j; /* an older row than the copy */
    } else if (job_cluster_mine(t, j)) {
        /* It runs here, and this copy moves first, while the row says so:
         * a row taken again, reclaimed or cancelled meanwhile (a news
         * missed, or read before this replica knew) is followed. */
        if (r->attempts == j->attempts && r->replica && strcmp(r->replica, t->opt.replica) == 0 &&
            !job_ended((JobStatus)st))
            return j;
        *drop = job_cluster_abandon(j);
    } else if (job_ended(j->status) && r->attempts == j->attempts &&
               (!job_ended((JobStatus)st) || (JobStatus)st == j->status)) {
        /* Ended as this attempt ends (a row still behind this copy, whose
         * own end is yet to be written, moves nothing back): only its
         * webhook moves now. Another end of the same attempt (a cancel
         * that came first) replaces the copy's. */
        job_cluster_callback(j, r->callback);
        return j;
    }
    job_cluster_follow(t, j, r, (JobStatus)st, fired);
    return j;
}

/* A StoreClusterHooks.row: a job changed on some replica. */
static void
job_cluster_row(void *ctx, const StoreJob *r)
{
    Job *j = job_cluster_adopt(ctx, r);

    job_unref(j);
}

Job *
job_cluster_adopt(JobTable *t, const StoreJob *r)
{
    JobWait *fired = NULL;
    Batch *drop = NULL;
    Job *j = NULL;

    pthread_mutex_lock(&t->lock);
    HASH_FIND(hh, t->by_id, r->id, strlen(r->id), j);
    if ((j = job_cluster_merge(t, j, r, &fired, &drop)))
        job_ref(j);
    pthread_mutex_unlock(&t->lock);
    if (drop) {
        log_msg(LOG_WARN, "job=%s taken again by replica %s: its attempt here is stopped", r->id,
                r->replica ? r->replica : "?");
        batch_cancel(drop);
        batch_unref(drop);
    }
    job_fire(fired);
    return j;
}

/* Job seq, if this replica runs its attempt (a new reference), or NULL. */
static Job *
job_cluster_running_here(JobTable *t, uint64_t seq)
{
    Job *j = NULL;

    pthread_mutex_lock(&t->lock);
    HASH_FIND(hh_seq, t->by_seq, &seq, sizeof(seq), j);
    if (j && job_cluster_mine(t, j))
        job_ref(j);
    else
        j = NULL;
    pthread_mutex_unlock(&t->lock);
    return j;
}

/* A StoreClusterHooks.cancel: stop job seq if it runs here. Between its
 * take and its start, the cancel ends the copy, and its start then
 * cancels the batch (job_store_rerun). */
static void
job_cluster_cancel(void *ctx, uint64_t seq)
{
    JobTable *t = ctx;
    Job *j = job_cluster_running_here(t, seq);

    if (j)
        job_cancel_here(t, j);
    job_unref(j);
}

/* A StoreClusterHooks.lost: this replica's attempt at job seq was taken
 * back; it is stopped without an end of its own, and the copy shows the
 * job queued again until the row's news says more. */
static void
job_cluster_lost(void *ctx, uint64_t seq)
{
    JobTable *t = ctx;
    Batch *drop = NULL;
    Job *j = NULL;

    pthread_mutex_lock(&t->lock);
    HASH_FIND(hh_seq, t->by_seq, &seq, sizeof(seq), j);
    if (j && job_cluster_mine(t, j)) {
        drop = job_cluster_abandon(j);
        j->replica[0] = '\0';
        if (!job_ended(j->status)) {
            t->by_status[j->status]--;
            t->by_status[JOB_QUEUED]++;
            j->status = JOB_QUEUED;
        }
    }
    pthread_mutex_unlock(&t->lock);
    if (drop)
        batch_cancel(drop);
    batch_unref(drop);
}

/* A StoreClusterHooks.room: jobs to take now; none while the pool cannot
 * run them (it stops, or its workers cannot start). */
static size_t
job_cluster_room(void *ctx)
{
    JobTable *t = ctx;
    char why[256];
    long spare;

    if (!pool_ready(t->opt.pool, why, sizeof(why)))
        return 0;
    spare = pool_submit_spare(t->opt.pool) + JOB_CLUSTER_PREFETCH;
    return spare > 0 ? (size_t)spare : 0;
}

/* Fails j, taken here, whose call cannot be read back (lock not held). */
static void
job_cluster_unrunnable(JobTable *t, Job *j, const char *why)
{
    BatchFailure f = {.outcome = OUTCOME_FUNCTION_ERROR};
    JobWait *fired = NULL;

    snprintf(f.type, sizeof(f.type), "RecoveryError");
    snprintf(f.message, sizeof(f.message), "cannot run on replica %s: %s", t->opt.replica, why);
    pthread_mutex_lock(&t->lock);
    if (job_state_ok(j->status, JOB_FAILED)) {
        free(j->fail);
        j->fail = job_state_failure_new(&f);
        job_state_end(t, j, JOB_FAILED, &fired);
    }
    j->taken_here = 0;
    pthread_mutex_unlock(&t->lock);
    job_fire(fired);
    job_hook_fire(t, j);
}

/* j's copy as the attempt this replica has just taken (lock held):
 * queued, whatever it said, with what an earlier attempt left gone. */
static void
job_cluster_claim(JobTable *t, Job *j, const StoreJob *r)
{
    t->by_status[j->status]--;
    t->by_status[JOB_QUEUED]++;
    j->status = JOB_QUEUED;
    free(j->result);
    free(j->fail);
    j->result = NULL;
    j->fail = NULL;
    j->result_len = 0;
    j->attempts = r->attempts;
    snprintf(j->replica, sizeof(j->replica), "%s", t->opt.replica);
    j->taken_here = 1;
}

/* A StoreClusterHooks.taken: this replica holds the job now; run it. */
static int
job_cluster_taken(void *ctx, const StoreJob *r)
{
    JobTable *t = ctx;
    Job *j = job_cluster_adopt(t, r);
    char why[300];
    int rc = 0;
    Call *c;

    if (!j)
        return -1;
    pthread_mutex_lock(&t->lock);
    if (j->batch || j->given_up) {
        rc = 1; /* an earlier attempt's batch is still here: not now */
    } else if (job_ended(j->status) && j->attempts == r->attempts) {
        rc = 2; /* cancelled since it was taken (its news came first) */
    } else {
        job_cluster_claim(t, j, r);
    }
    pthread_mutex_unlock(&t->lock);
    if (rc) {
        job_unref(j);
        return rc == 1;
    }
    if (!(c = job_store_recall(t, j, r, why, sizeof(why)))) {
        job_cluster_unrunnable(t, j, why);
    } else if ((rc = job_store_rerun(t, j, c, 1)) != SVC_OK) {
        pthread_mutex_lock(&t->lock);
        j->taken_here = 0;
        pthread_mutex_unlock(&t->lock);
        /* A stop, a full queue or no worker passes: back to Redis's queue;
         * a job too big for this pool fails (as a sync call would). */
        if (rc == SVC_ESTOPPED || rc == SVC_EFULL || rc == SVC_EUNAVAIL || rc == SVC_ENOMEM) {
            rc = 1;
        } else {
            job_cluster_unrunnable(t, j, rc == SVC_E2BIG ? "it needs more tasks than --max-queue"
                                                         : "it cannot be queued");
            rc = 0;
        }
    }
    job_unref(j);
    return rc;
}

/* A StoreClusterHooks.held: the jobs whose leases this replica renews. */
static size_t
job_cluster_held(void *ctx, uint64_t *seqs, size_t max)
{
    JobTable *t = ctx;
    size_t n = 0;

    pthread_mutex_lock(&t->lock);
    for (Job *j = t->newest; j && n < max; j = j->older)
        if (job_cluster_mine(t, j) && !job_ended(j->status))
            seqs[n++] = j->seq;
    pthread_mutex_unlock(&t->lock);
    return n;
}

int
job_cluster_start(JobTable *t)
{
    StoreClusterHooks h = {.ctx = t, .row = job_cluster_row, .cancel = job_cluster_cancel,
                           .lost = job_cluster_lost, .room = job_cluster_room, .taken = job_cluster_taken,
                           .held = job_cluster_held};
    StoreClusterOptions o = {.replica = t->opt.replica, .claim_after = t->opt.claim_after};

    if (!t->opt.replica || !t->opt.store)
        return SVC_OK;
    return (t->cluster = store_cluster_start(t->opt.store, &o, &h)) ? SVC_OK : SVC_ENOMEM;
}

void
job_cluster_stop(JobTable *t)
{
    store_cluster_free(t->cluster);
    t->cluster = NULL;
}
