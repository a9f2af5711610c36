/*
 * job.c: the job table and its jobs' lives in it, apart from how a job
 * comes in (job_submit.c) and the state machine it moves through
 * (job_state.c): the jobs and their references, adding, forgetting and
 * finding them, the clock thread (long-poll deadlines and the TTL),
 * cancelling, redelivering and waiting. See job.h.
 *
 * One lock guards the table and every job's mutable fields. Batches report
 * on the dispatcher thread (job_state_batch_start, job_state_batch_done);
 * handlers read and cancel from MHD threads; the clock thread ends long
 * polls at their deadline and expires finished jobs. Wake functions are
 * always called with the lock released, since they take http's locks.
 */
#include "jobs/job_impl.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "core/clock.h"
#include "store/store_cluster.h"

const char *const job_names[] = {"queued", "running", "succeeded", "failed",
                                 "timed_out", "worker_lost", "cancelled"};
const char *const job_ops[] = {"apply_async", "map_async", "starmap_async"};

int
job_ended(JobStatus s)
{
    return s >= JOB_SUCCEEDED;
}

const char *
job_status_name(JobStatus s)
{
    return job_names[s];
}

int
job_status_parse(const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(job_names); i++)
        if (strcmp(job_names[i], name) == 0)
            return (int)i;
    return -1;
}

const char *
job_id(const Job *j)
{
    return j->id;
}

CallOp
job_op(const Job *j)
{
    return j->op;
}

const char *
job_func(const Job *j)
{
    return j->func;
}

Job *
job_ref(Job *j)
{
    __atomic_add_fetch(&j->refs, 1, __ATOMIC_RELAXED);
    return j;
}

void
job_unref(Job *j)
{
    if (!j || __atomic_sub_fetch(&j->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    batch_unref(j->batch);
    batch_unref(j->given_up);
    free(j->result);
    free(j->fail);
    free(j->key);
    free(j->request);
    free(j->func_copy);
    job_hook_free(j->cb);
    free(j);
}

/* --- the clock thread: long-poll deadlines and the TTL --- */

/* Moves w from the table's list (lock held) to *fired, to be woken once
 * the lock is dropped. */
static void
job_wait_fire_later(JobTable *t, JobWait *w, JobWait **fired)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        t->waits = w->next;
    if (w->next)
        w->next->prev = w->prev;
    if (w->jprev)
        w->jprev->jnext = w->jnext;
    else
        w->job->waits = w->jnext;
    if (w->jnext)
        w->jnext->jprev = w->jprev;
    w->next = *fired;
    *fired = w;
}

/* A job's end touches its own long polls only, however many others wait. */
void
job_take_waits(JobTable *t, Job *j, JobWait **fired)
{
    for (JobWait *w = j ? j->waits : t->waits, *next; w; w = next) {
        next = j ? w->jnext : w->next;
        job_wait_fire_later(t, w, fired);
    }
}

void
job_fire(JobWait *fired)
{
    for (JobWait *w = fired, *next; w; w = next) {
        next = w->next;
        w->wake(w->ctx);
        job_unref(w->job);
        free(w);
    }
}

/* Adds j to the table (lock held). */
void
job_insert(JobTable *t, Job *j)
{
    HASH_ADD(hh, t->by_id, id, strlen(j->id), j);
    HASH_ADD(hh_seq, t->by_seq, seq, sizeof(j->seq), j);
    if (j->key)
        HASH_ADD_KEYPTR(hh_key, t->by_key, j->key, strlen(j->key), j);
    j->older = t->newest;
    if (t->newest)
        t->newest->newer = j;
    else
        t->oldest = j;
    t->newest = j;
    t->count++;
    t->by_status[j->status]++;
    j->in_table = 1;
    job_ref(j); /* the table's */
}

/* Forgets j (lock held): it becomes unknown, 404. */
void
job_remove(JobTable *t, Job *j)
{
    HASH_DELETE(hh, t->by_id, j);
    /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): the analyzer misreads uthash */
    HASH_DELETE(hh_seq, t->by_seq, j);
    if (j->key)
        HASH_DELETE(hh_key, t->by_key, j);
    if (j->newer)
        j->newer->older = j->older;
    else
        t->newest = j->older;
    if (j->older)
        j->older->newer = j->newer;
    else
        t->oldest = j->newer;
    t->count--;
    t->by_status[j->status]--;
    j->in_table = 0;
    job_unref(j);
}

void
job_expire_later(JobTable *t, Job *j)
{
    if (j->in_fifo) /* a replica's copy may end twice (job_cluster.c) */
        return;
    j->in_fifo = 1;
    j->fin_next = NULL;
    job_ref(j); /* the FIFO's */
    if (t->fin_tail) {
        t->fin_tail->fin_next = j;
    } else {
        t->fin_head = j;
        pthread_cond_signal(&t->cond); /* the first expiry to schedule */
    }
    t->fin_tail = j;
}

/* Whether j's webhook is still being delivered by the replica that ran it
 * (lock held): its copy here keeps the shared row until it is done. */
static int
job_tick_delivers_elsewhere(const JobTable *t, const Job *j)
{
    return t->cluster && j->cb->target && !j->cb->state.done && strcmp(j->replica, t->opt.replica) != 0;
}

/* One pass of the clock (lock held): collects due long polls into *fired,
 * forgets expired jobs, and returns the next time something is due. */
static double
job_tick(JobTable *t, JobWait **fired)
{
    double now = clock_mono(), next = now + 3600;

    for (JobWait *w = t->waits, *after; w; w = after) {
        after = w->next;
        if (w->deadline <= now)
            job_wait_fire_later(t, w, fired);
        else if (w->deadline < next)
            next = w->deadline;
    }
    Job *kept = NULL;

    while (t->fin_head && t->fin_head->finished_mono + t->opt.result_ttl <= now) {
        Job *j = t->fin_head;
        t->fin_head = j->fin_next;
        if (!t->fin_head)
            t->fin_tail = NULL;
        j->in_fifo = 0;
        if (j->in_table && !job_ended(j->status)) {
            /* Taken again by a replica since it ended (job_cluster.c):
             * its new end queues it again. */
            job_unref(j);
            continue;
        }
        if (j->in_table && j->cb && (j->cb->sending || j->cb->pending || job_tick_delivers_elsewhere(t, j))) {
            /* Its webhook is still being delivered: the job (and its row,
             * which a restart resumes from) stays another TTL, queued
             * again after this pass (with a TTL of 0 it would come round
             * at once). The FIFO's reference goes with it. */
            j->fin_next = kept;
            kept = j;
            continue;
        }
        if (j->in_table) {
            if (t->opt.store)
                store_forget(t->opt.store, j->seq, j->id);
            job_remove(t, j);
        }
        job_unref(j); /* the FIFO's reference */
    }
    for (Job *j = kept, *after; j; j = after) {
        after = j->fin_next;
        /* Looked at again a TTL from now, and not sooner than a second. */
        j->finished_mono = now + (t->opt.result_ttl < 1 ? 1 - t->opt.result_ttl : 0);
        job_expire_later(t, j);
        job_unref(j); /* job_expire_later took its own */
    }
    if (t->fin_head && t->fin_head->finished_mono + t->opt.result_ttl < next)
        next = t->fin_head->finished_mono + t->opt.result_ttl;
    return next;
}

static void *
job_clock_run(void *arg)
{
    JobTable *t = arg;

    pthread_mutex_lock(&t->lock);
    while (!t->quit) {
        JobWait *fired = NULL;
        double next = job_tick(t, &fired);
        if (fired) {
            pthread_mutex_unlock(&t->lock);
            job_fire(fired);
            pthread_mutex_lock(&t->lock);
            continue;
        }
        t->clock_due = next;
        clock_cond_wait_until(&t->cond, &t->lock, next);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

JobTable *
job_table_new(const JobOptions *o)
{
    JobTable *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    t->opt = *o;
    pthread_mutex_init(&t->lock, NULL);
    clock_cond_init(&t->cond);
    if (pthread_create(&t->clock, NULL, job_clock_run, t) != 0) {
        job_table_free(t);
        return NULL;
    }
    t->clock_started = 1;
    if (job_cluster_start(t) != SVC_OK) {
        job_table_free(t);
        return NULL;
    }
    return t;
}

void
job_table_stop(JobTable *t)
{
    JobWait *fired = NULL;

    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->quit = 1;
    job_take_waits(t, NULL, &fired);
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
    if (t->clock_started)
        pthread_join(t->clock, NULL);
    t->clock_started = 0;
    job_fire(fired);
    store_cluster_stop(t->cluster); /* what this replica held goes back to the queue */
}

void
job_table_free(JobTable *t)
{
    if (!t)
        return;
    job_table_stop(t);
    job_cluster_stop(t);
    while (t->fin_head) {
        Job *j = t->fin_head;
        t->fin_head = j->fin_next;
        job_unref(j);
    }
    while (t->newest)
        job_remove(t, t->newest); /* NOLINT(clang-analyzer-unix.Malloc): the analyzer misreads uthash */
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

/* What job_find asks Redis for: the table, and the job once adopted. */
typedef struct JobFetch {
    JobTable *t;
    Job *found;
} JobFetch;

/* A StoreLoadFn: the row read now, brought into the table. */
static void
job_find_fetched(void *ctx, const StoreJob *r)
{
    JobFetch *f = ctx;

    f->found = job_cluster_adopt(f->t, r);
}

Job *
job_find(JobTable *t, const char *id)
{
    JobFetch f = {.t = t};

    pthread_mutex_lock(&t->lock);
    HASH_FIND(hh, t->by_id, id, strlen(id), f.found);
    if (f.found)
        job_ref(f.found);
    pthread_mutex_unlock(&t->lock);
    /* With replicas, a job submitted a moment ago elsewhere may not have
     * reached this copy yet: Redis is asked before a 404. */
    if (!f.found && t->cluster && strlen(id) == 32)
        store_cluster_fetch(t->cluster, id, job_find_fetched, &f);
    return f.found;
}

/* --- cancelling and waiting --- */

int
job_cancel(JobTable *t, Job *j)
{
    int rc;

    /* With replicas the row decides, wherever the job runs: Redis cancels
     * it (or says it ended first) and tells the replica that runs it. */
    if (!t->cluster)
        return job_cancel_here(t, j);
    if ((rc = store_cluster_cancel(t->cluster, j->seq, j->id)) != 1)
        return rc == 0 ? SVC_EINVAL : rc;
    /* Cancelled, whether here or by the watcher first (its replica heard
     * of it on poold:cancels): the copy ends cancelled either way. */
    job_cancel_here(t, j);
    return SVC_OK;
}

int
job_cancel_here(JobTable *t, Job *j)
{
    JobWait *fired = NULL;
    Batch *b = NULL;

    pthread_mutex_lock(&t->lock);
    if (!job_state_ok(j->status, JOB_CANCELLED)) { /* it ended first */
        pthread_mutex_unlock(&t->lock);
        return SVC_EINVAL;
    }
    if (j->batch)
        b = batch_ref(j->batch);
    job_state_end(t, j, JOB_CANCELLED, &fired);
    pthread_mutex_unlock(&t->lock);
    if (b) { /* its done callback still comes, and finds the job ended */
        batch_cancel(b);
        batch_unref(b);
    }
    job_fire(fired);
    return SVC_OK;
}

int
job_redeliver(JobTable *t, Job *j)
{
    int rc = SVC_OK;

    pthread_mutex_lock(&t->lock);
    if (t->quit)
        rc = SVC_ESTOPPED;
    else if (!job_ended(j->status))
        rc = SVC_EINVAL;
    else if (!j->cb || !j->cb->target)
        rc = SVC_ENOFUNC;
    else if (j->cb->sending || j->cb->pending)
        rc = SVC_EFULL;
    if (rc == SVC_OK) { /* a fresh budget of attempts, the same webhook-id */
        memset(&j->cb->state, 0, sizeof(j->cb->state));
        j->cb->pending = 1;
        job_store_persist(t, j);
    }
    pthread_mutex_unlock(&t->lock);
    if (rc == SVC_OK)
        job_hook_fire(t, j);
    return rc;
}

int
job_wait(JobTable *t, Job *j, double seconds, JobWakeFn wake, void *ctx)
{
    JobWait *w = calloc(1, sizeof(*w));

    if (!w)
        return SVC_ENOMEM;
    pthread_mutex_lock(&t->lock);
    if (job_ended(j->status) || t->quit) {
        pthread_mutex_unlock(&t->lock);
        free(w);
        return 1;
    }
    w->job = job_ref(j);
    w->deadline = clock_mono() + seconds;
    w->wake = wake;
    w->ctx = ctx;
    w->next = t->waits;
    if (t->waits)
        t->waits->prev = w;
    t->waits = w;
    w->jnext = j->waits;
    if (j->waits)
        j->waits->jprev = w;
    j->waits = w;
    if (w->deadline < t->clock_due)
        pthread_cond_signal(&t->cond); /* nearer than the clock sleeps for */
    pthread_mutex_unlock(&t->lock);
    return 0;
}
