/*
 * job_submit.c: how a job comes into the table (job.c): its id and the
 * fingerprint of its Idempotency-Key, its admission (or the job its key
 * names already), its first row in the store (job_store.c), and its batch
 * started. Once in, the batch drives it (job_state.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <nettle/sha2.h>
#include <uthash.h>

#include "core/clock.h"
#include "functions/registry.h"
#include "jobs/job_impl.h"

/* 128 bits from getrandom(2), as 32 hex digits: ids are not guessable and
 * never a counter. */
static int
job_submit_id(char out[33])
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

/* The fingerprint of a call for its Idempotency-Key: the endpoint and the
 * body, so that one key cannot stand for a map and a starmap alike. */
static void
job_submit_digest(CallOp op, const char *body, size_t len, uint8_t out[SHA256_DIGEST_SIZE])
{
    struct sha256_ctx ctx;
    uint8_t tag = (uint8_t)op;

    sha256_init(&ctx);
    sha256_update(&ctx, 1, &tag);
    sha256_update(&ctx, len, (const uint8_t *)body);
    sha256_digest(&ctx, SHA256_DIGEST_SIZE, out);
}

/* A new job for call (borrowed): its id, its fingerprint, its webhook;
 * not yet in the table. NULL when out of memory. */
static Job *
job_submit_new(JobTable *t, const Call *call, int priority, const char *key, const char *body, size_t body_len)
{
    Job *j = calloc(1, sizeof(*j));

    if (!j)
        return NULL;
    j->refs = 1; /* the caller's */
    if (job_submit_id(j->id) < 0 || (key && !(j->key = strdup(key))))
        goto fail;
    j->table = t;
    j->op = call->op;
    j->func = call->fn->name;
    j->priority = priority;
    j->total = call_items(call);
    j->created = clock_wall();
    if (key)
        job_submit_digest(call->op, body, body_len, j->digest);
    /* Its arguments, for GET /v1/jobs/{id}: a small body is kept whole, a
     * large one not at all (a million jobs' bodies would be poold's memory). */
    if (body && body_len <= JOB_REQUEST_MAX && !(j->request = strndup(body, body_len)))
        goto fail;
    if (call->callback && (!(j->cb = calloc(1, sizeof(*j->cb))) || !(j->cb->url = strdup(call->callback)) ||
                           (call->error_callback && !(j->cb->error_url = strdup(call->error_callback)))))
        goto fail;
    return j;
fail:
    job_unref(j); /* what was copied goes with it */
    return NULL;
}

/*
 * Admits j into the table (lock held): SVC_OK, or SVC_EFULL past
 * --max-jobs, or SVC_ENOMEM. With a store, *js is set: j is marked as
 * being written before anyone can find it, so that a replay of its key
 * from now on waits for the commit. When key names a job already, j is
 * not admitted: the same call again is the same job, run once, and *same
 * is set to it (a new reference) with *joined when its done follows the
 * original's; another body under the key is SVC_EINVAL.
 */
static int
job_submit_admit(JobTable *t, Job *j, const char *key, JobSubmittedFn done, void *ctx, JobSubmit **js,
                 Job **same, int *joined, uint64_t seq)
{
    Job *old = NULL;

    if (key)
        HASH_FIND(hh_key, t->by_key, key, strlen(key), old);
    if (old) {
        if (memcmp(old->digest, j->digest, sizeof(j->digest)) != 0)
            return SVC_EINVAL;
        if ((*joined = job_store_join(old, done, ctx)) < 0)
            return *joined;
        *same = job_ref(old);
        return SVC_OK;
    }
    if ((long)t->count >= t->opt.max_jobs)
        return SVC_EFULL;
    if (!(j->seq = t->opt.replica ? seq : ++t->seq))
        return SVC_ESTORE;
    if (t->opt.store && !(*js = job_store_begin(j, done, ctx)))
        return SVC_ENOMEM;
    job_insert(t, j);
    return SVC_OK;
}

/*
 * Starts the admitted j's batch b (lock not held, since the batch's
 * callbacks take it). The job is visible already, so a DELETE may come
 * first: the batch is attached only once started, and cancelled then if
 * the job was. On a refusal j is discarded and the refusal returned.
 */
static int
job_submit_launch(JobTable *t, Job *j, Batch *b)
{
    int rc, cancelled;

    job_ref(j); /* the batch's, dropped in job_state_batch_done */
    job_events_created(j); /* before the batch: its start may come first */
    batch_on_progress(b, job_state_batch_progress);
    if ((rc = batch_start(b, t->opt.pool, j->priority, job_state_batch_done, job_state_batch_start, j)) != SVC_OK) {
        job_unref(j); /* the batch's, never to be used */
        /* The caller's and the table's references are left: the analyzer
         * cannot count atomic references. */
        job_store_discard(t, j, rc); /* NOLINT(clang-analyzer-unix.Malloc) */
        return rc;
    }
    pthread_mutex_lock(&t->lock);
    cancelled = j->status == JOB_CANCELLED;
    if (!job_ended(j->status))
        j->batch = batch_ref(b);
    pthread_mutex_unlock(&t->lock);
    if (cancelled)
        batch_cancel(b);
    return SVC_OK;
}

/* A new job and its batch; its admission (or the job its key names); its
 * first row; its batch started; done once it is accepted. Each refusal
 * undoes what came before it. */
int
job_submit(JobTable *t, Call *call, int priority, const char *key,
           const char *body, size_t body_len, JobSubmittedFn done, void *ctx,
           Job **job, int *created)
{
    Job *j = job_submit_new(t, call, priority, key, body, body_len);
    Batch *b = NULL;
    JobSubmit *js = NULL;
    int rc = SVC_ENOMEM, joined = 0;
    uint64_t seq;

    *job = NULL;
    *created = 0;
    if (!j) {
        call_free(call);
        goto cleanup;
    }
    if (!(b = batch_new(call))) /* which freed call */
        goto cleanup;
    /* Replicas number their jobs from Redis's one counter (store_seq),
     * which may ask Redis: outside the table's lock. */
    seq = t->opt.replica ? store_seq(t->opt.store) : 0;
    pthread_mutex_lock(&t->lock);
    rc = job_submit_admit(t, j, key, done, ctx, &js, job, &joined, seq);
    pthread_mutex_unlock(&t->lock);
    if (*job) { /* a replay; on disk already unless joined: a 202 is true */
        if (!joined)
            done(ctx, *job, SVC_OK);
        goto cleanup;
    }
    if (rc != SVC_OK)
        goto cleanup;
    if (js && (rc = job_store_write(t, js, body, body_len)) != SVC_OK) {
        job_store_discard(t, j, rc); /* js went with the refusal */
        goto cleanup;
    }
    if (t->cluster) { /* queued in Redis: the replica with room runs it */
        job_events_created(j);
        *job = job_ref(j);
        *created = 1;
        job_store_settle(t, js, 1);
        goto cleanup;
    }
    if ((rc = job_submit_launch(t, j, b)) != SVC_OK) {
        if (js)
            job_store_settle(t, js, 0);
        goto cleanup;
    }
    *job = job_ref(j);
    *created = 1;
    if (js) /* accepted once its row is on disk too */
        job_store_settle(t, js, 1);
    else
        done(ctx, j, SVC_OK);
cleanup:
    batch_unref(b);
    job_unref(j);
    return rc;
}

