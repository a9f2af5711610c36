/*
 * job.c: see job.h.
 *
 * One lock guards the table and every job's mutable fields. Batches report
 * on the dispatcher thread (job_batch_start, job_batch_done); handlers read
 * and cancel from MHD threads; the clock thread ends long polls at their
 * deadline and expires finished jobs. Wake functions are always called
 * with the lock released, since they take http's locks.
 */
#include "jobs/job_impl.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <nettle/sha2.h>
#include <uthash.h>

#include "core/clock.h"
#include "core/log.h"
#include "functions/registry.h"

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
    free(j->result);
    free(j->fail);
    free(j->key);
    free(j->func_copy);
    job_hook_free(j->cb);
    free(j);
}

/* 128 bits from getrandom(2), as 32 hex digits: ids are not guessable and
 * never a counter. */
static int
job_new_id(char out[33])
{
    uint8_t raw[16];
    size_t got = 0;

    while (got < sizeof(raw)) {
        ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
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

/* Takes j's waits (every wait when j is NULL) off the lists, into *fired.
 * A job's end touches its own long polls only, however many others wait. */
static void
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
        if (j->in_table && j->cb && (j->cb->sending || j->cb->pending)) {
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
                store_forget(t->opt.store, j->seq);
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
}

void
job_table_free(JobTable *t)
{
    if (!t)
        return;
    job_table_stop(t);
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

/* --- the state machine, driven by the batch --- */

void
job_expire_later(JobTable *t, Job *j)
{
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

/* Moves j, in the table, to status s (lock held). */
void
job_set_status(JobTable *t, Job *j, JobStatus s)
{
    t->by_status[j->status]--;
    t->by_status[s]++;
    j->status = s;
}

/* Ends j with status s (lock held): stamps it, queues it for expiry and
 * collects its long polls into *fired. */
void
job_end(JobTable *t, Job *j, JobStatus s, JobWait **fired)
{
    size_t total;

    if (j->batch)
        batch_progress(j->batch, &j->done_at_end, &total);
    if (s == JOB_SUCCEEDED)
        j->done_at_end = j->total;
    job_set_status(t, j, s);
    j->finished = clock_wall();
    j->finished_mono = clock_mono();
    /* Succeeded jobs at debug: there may be tens of thousands a second. */
    log_msg(s == JOB_SUCCEEDED ? LOG_DEBUG : LOG_INFO, "job=%s func=%s status=%s duration_ms=%.1f%s%s",
            j->id, j->func, job_status_name(s), (j->finished - j->created) * 1e3, j->fail ? " error=" : "",
            j->fail ? j->fail->type : "");
    job_expire_later(t, j);
    job_take_waits(t, j, fired);
    /* A job that poold's own stop cut short stays queued or running on
     * disk, so that the next start runs it instead of failing it (and
     * tells its webhook then). */
    if (!(s == JOB_FAILED && j->fail && j->fail->outcome == OUTCOME_STOPPED)) {
        job_hook_due(j, s);
        job_persist(t, j);
    }
}

/* A BatchStartFn: the first task went to a worker. */
void
job_batch_start(Batch *b, void *ctx)
{
    Job *j = ctx;
    JobTable *t = j->table;
    pid_t pid;
    const char *worker = batch_worker(b, &pid);

    pthread_mutex_lock(&t->lock);
    if (j->status == JOB_QUEUED) {
        job_set_status(t, j, JOB_RUNNING);
        j->started = clock_wall();
        snprintf(j->worker, sizeof(j->worker), "%s", worker);
        j->pid = pid;
        job_persist(t, j);
    }
    pthread_mutex_unlock(&t->lock);
}

static JobStatus
job_status_of(Outcome o)
{
    switch (o) {
    case OUTCOME_OK: return JOB_SUCCEEDED;
    case OUTCOME_WORKER_LOST: return JOB_WORKER_LOST;
    case OUTCOME_TIMED_OUT: return JOB_TIMED_OUT;
    case OUTCOME_CANCELLED: return JOB_CANCELLED;
    default: return JOB_FAILED;
    }
}

/* A failed job's copy of f (JobFailure). NULL when out of memory. */
JobFailure *
job_failure_new(const BatchFailure *f)
{
    size_t len = strnlen(f->message, sizeof(f->message));
    JobFailure *jf = malloc(sizeof(*jf) + len + 1);

    if (!jf)
        return NULL;
    jf->outcome = f->outcome;
    jf->index = f->index;
    snprintf(jf->type, sizeof(jf->type), "%s", f->type);
    memcpy(jf->message, f->message, len);
    jf->message[len] = '\0';
    return jf;
}

/* A BatchDoneFn: the job has its answer. Dispatcher thread. */
void
job_batch_done(Batch *b, void *ctx)
{
    Job *j = ctx;
    JobTable *t = j->table;
    JobWait *fired = NULL;
    BatchFailure f = {0};
    size_t len = 0;
    char *result = batch_result(b, &f, &len);
    JobFailure *fail = result ? NULL : job_failure_new(&f);
    pid_t pid;
    const char *worker = batch_worker(b, &pid);
    Batch *drop;

    pthread_mutex_lock(&t->lock);
    if (!job_ended(j->status)) { /* a cancelled job stays cancelled */
        JobStatus s = result ? JOB_SUCCEEDED : job_status_of(f.outcome);
        j->result = result;
        j->result_len = len;
        result = NULL;
        j->fail = fail;
        fail = NULL;
        snprintf(j->worker, sizeof(j->worker), "%s", worker);
        j->pid = pid;
        if (!j->started)
            j->started = clock_wall();
        job_end(t, j, s, &fired);
    }
    drop = j->batch;
    j->batch = NULL;
    pthread_mutex_unlock(&t->lock);
    free(result);
    free(fail);
    job_fire(fired);
    job_hook_fire(t, j);
    batch_unref(drop);
    job_unref(j); /* the batch's reference */
}

/* --- submitting --- */

/* The fingerprint of a call for its Idempotency-Key: the endpoint and the
 * body, so that one key cannot stand for a map and a starmap alike. */
static void
job_digest(CallOp op, const char *body, size_t len, uint8_t out[SHA256_DIGEST_SIZE])
{
    struct sha256_ctx ctx;
    uint8_t tag = (uint8_t)op;

    sha256_init(&ctx);
    sha256_update(&ctx, 1, &tag);
    sha256_update(&ctx, len, (const uint8_t *)body);
    sha256_digest(&ctx, SHA256_DIGEST_SIZE, out);
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

int
job_submit(JobTable *t, Call *call, int priority, const char *key,
           const char *body, size_t body_len, JobSubmittedFn done, void *ctx,
           Job **job, int *created)
{
    Job *j = calloc(1, sizeof(*j)), *old = NULL;
    Batch *b = NULL;
    JobSubmit *js = NULL;
    int rc = SVC_ENOMEM;

    *job = NULL;
    *created = 0;
    if (!j || job_new_id(j->id) < 0 || (key && !(j->key = strdup(key)))) {
        call_free(call);
        goto cleanup;
    }
    j->refs = 1; /* the caller's */
    j->table = t;
    j->op = call->op;
    j->func = call->fn->name;
    j->priority = priority;
    j->total = call_items(call);
    j->created = clock_wall();
    if (key)
        job_digest(call->op, body, body_len, j->digest);
    if (call->callback && (!(j->cb = calloc(1, sizeof(*j->cb))) || !(j->cb->url = strdup(call->callback)) ||
                           (call->error_callback && !(j->cb->error_url = strdup(call->error_callback))))) {
        call_free(call);
        goto cleanup;
    }
    if (!(b = batch_new(call)))
        goto cleanup;

    pthread_mutex_lock(&t->lock);
    if (key)
        HASH_FIND(hh_key, t->by_key, key, strlen(key), old);
    if (old) { /* the same call again: the same job, run once */
        int joined = 0;
        rc = memcmp(old->digest, j->digest, sizeof(j->digest)) == 0 ? SVC_OK : SVC_EINVAL;
        if (rc == SVC_OK && (joined = job_write_join(old, done, ctx)) < 0)
            rc = joined;
        if (rc == SVC_OK)
            *job = job_ref(old);
        pthread_mutex_unlock(&t->lock);
        if (rc == SVC_OK && !joined) /* on disk already: a 202 is true */
            done(ctx, *job, SVC_OK);
        goto cleanup;
    }
    if ((long)t->count >= t->opt.max_jobs) {
        pthread_mutex_unlock(&t->lock);
        rc = SVC_EFULL;
        goto cleanup;
    }
    j->seq = ++t->seq;
    /* Marked as being written before anyone can find it: a replay of its
     * key from now on waits for the commit. */
    if (t->opt.store && !(js = job_write_begin(j, done, ctx))) {
        pthread_mutex_unlock(&t->lock);
        rc = SVC_ENOMEM;
        goto cleanup;
    }
    job_insert(t, j);
    pthread_mutex_unlock(&t->lock);

    if (js && (rc = job_write(t, js, body, body_len)) != SVC_OK) {
        js = NULL;
        job_discard(t, j);
        goto cleanup;
    }
    /* Started outside the lock: the batch's callbacks take it. The job is
     * visible already, so a DELETE may come first: the batch is attached
     * only once started, and cancelled then if the job was. */
    job_ref(j); /* the batch's, dropped in job_batch_done */
    if ((rc = batch_start(b, t->opt.pool, priority, job_batch_done, job_batch_start, j)) != SVC_OK) {
        job_unref(j); /* the batch's, never to be used */
        /* The caller's and the table's references are left: the analyzer
         * cannot count atomic references. */
        job_discard(t, j); /* NOLINT(clang-analyzer-unix.Malloc) */
        if (js)
            job_write_settle(t, js, 0);
        goto cleanup;
    }
    pthread_mutex_lock(&t->lock);
    int cancelled = j->status == JOB_CANCELLED;
    if (!job_ended(j->status))
        j->batch = batch_ref(b);
    pthread_mutex_unlock(&t->lock);
    if (cancelled)
        batch_cancel(b);
    *job = job_ref(j);
    *created = 1;
    if (js) /* accepted once its row is on disk too */
        job_write_settle(t, js, 1);
    else
        done(ctx, j, SVC_OK);
cleanup:
    batch_unref(b);
    job_unref(j);
    return rc;
}

Job *
job_find(JobTable *t, const char *id)
{
    Job *j = NULL;

    pthread_mutex_lock(&t->lock);
    HASH_FIND(hh, t->by_id, id, strlen(id), j);
    if (j)
        job_ref(j);
    pthread_mutex_unlock(&t->lock);
    return j;
}

/* --- cancelling and waiting --- */

int
job_cancel(JobTable *t, Job *j)
{
    JobWait *fired = NULL;
    Batch *b = NULL;

    pthread_mutex_lock(&t->lock);
    if (job_ended(j->status)) {
        pthread_mutex_unlock(&t->lock);
        return SVC_EINVAL;
    }
    if (j->batch)
        b = batch_ref(j->batch);
    job_end(t, j, JOB_CANCELLED, &fired);
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
        job_persist(t, j);
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
