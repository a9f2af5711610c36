/*
 * store.c: see store.h.
 *
 * The writer thread takes the whole queue at once and writes it in one
 * transaction: under load a commit carries hundreds of jobs, idle it
 * carries one, and nobody waits for a timer. With WAL and
 * synchronous=NORMAL a commit survives a crash of poold (the kernel has
 * the pages) but not of the machine; synchronous=FULL syncs each commit.
 *
 * When a commit fails, new jobs' writes fail with it (their submits are
 * refused) and status changes and deletions go back to the queue's head,
 * to be tried again a second later, so that a disk that fills for a while
 * loses nothing that was accepted.
 *
 * Locks: s->lock guards the queue and the health; s->db_lock the
 * connection (the writer, and store_load before it has work).
 *
 * This file is the queue and its writer; the backend (store_db.c for
 * SQLite, store_redis.c for Redis) is what they say to the database.
 */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"

#include "store/store_impl.h"

/* Appends op to the queue (s->lock held). */
static void
store_push(Store *s, StoreOp *op)
{
    op->next = NULL;
    if (s->tail)
        s->tail->next = op;
    else
        s->head = op;
    s->tail = op;
    pthread_cond_signal(&s->cond);
}

#define STORE_MAX_TRIES 10 /* a change that fails this often is dropped */

/*
 * After a commit: confirms or fails new jobs and frees what was written.
 * Updates and deletions that failed go back to the queue's head, in
 * order, unless a newer update of the same job has come since; one that
 * failed STORE_MAX_TRIES times while others were written is dropped (the
 * row keeps an older state: at worst the job runs again after a restart).
 */
static void
store_settle(Store *s, StoreOp *ops, int some_ok)
{
    StoreOp *keep = NULL, **end = &keep, *next, *newer, *last = NULL;

    for (StoreOp *op = ops; op; op = next) {
        next = op->next;
        if (op->kind == STORE_ADD && op->done)
            op->done(op->ctx, op->ok ? SVC_OK : SVC_ERROR, op->same ? &op->same->job : NULL);
        free(op->same);
        op->same = NULL;
        /* A try counts only when others went in meanwhile: a full disk
         * fails them all, and that is not this change's fault. */
        if (op->ok || op->kind == STORE_ADD || op->kind == STORE_NONE ||
            (some_ok && ++op->tries >= STORE_MAX_TRIES)) {
            if (!op->ok && op->kind == STORE_UPDATE && op->tries >= STORE_MAX_TRIES)
                log_msg(LOG_ERROR, "job=%s its new state could not be stored after %d tries; dropped", op->job.id,
                        op->tries);
            free(op);
            continue;
        }
        *end = op;
        end = &op->next;
    }
    *end = NULL;
    if (!keep)
        return;
    pthread_mutex_lock(&s->lock);
    for (StoreOp **p = &keep; *p;) {
        StoreOp *op = *p;
        newer = NULL;
        if (op->kind == STORE_UPDATE)
            HASH_FIND(hh, s->pending, &op->job.seq, sizeof(op->job.seq), newer);
        if (newer) { /* a later state of the job is queued: this one is moot */
            *p = op->next;
            free(op);
            continue;
        }
        if (op->kind == STORE_UPDATE)
            HASH_ADD(hh, s->pending, job.seq, sizeof(op->job.seq), op);
        last = op;
        p = &op->next;
    }
    if (keep) {
        last->next = s->head;
        s->head = keep;
        if (!s->tail)
            s->tail = last;
    }
    pthread_mutex_unlock(&s->lock);
}

/* Waits on s->cond (s->lock held) at most `seconds`; pthread's answer. */
static int
store_sleep(Store *s, double seconds)
{
    return clock_cond_wait_until(&s->cond, &s->lock, clock_mono() + seconds);
}

/* Records a commit's outcome (s->lock held). After a failure, nothing is
 * tried for a second: new jobs are refused at once meanwhile (store_add),
 * instead of each paying for a commit bound to fail. Only a new row
 * written (a job's, or the probe's) makes the store healthy again: on a
 * full disk, updates and deletions may still go through in place while
 * no new job can. */
static void
store_note(Store *s, int rc, const char *why, int wrote_row)
{
    if (rc != 0 && s->open) {
        if (s->healthy)
            log_msg(LOG_ERROR, "%s; new async jobs are refused until a write succeeds", why);
        s->healthy = 0;
        snprintf(s->why, sizeof(s->why), "%s", why);
        s->retry_at = clock_mono() + 1.0;
    } else if (rc == 0 && !s->healthy && wrote_row) {
        log_msg(LOG_INFO, "job store: writes succeed again");
        s->healthy = 1;
    }
}

/* Whether the batch wrote a new job's row. */
static int
store_wrote_row(const StoreOp *ops)
{
    for (const StoreOp *op = ops; op; op = op->next)
        if (op->kind == STORE_ADD && op->ok)
            return 1;
    return 0;
}

/* The writer's wait for work (s->lock held): idle after deletions, it
 * shrinks the file a step a second; after a failure, it lets a second
 * pass whatever comes. */
static void
store_wait(Store *s)
{
    while (!s->quit && (!s->head || (!s->healthy && s->open && clock_mono() < s->retry_at))) {
        if (!s->healthy && s->open && !s->head && clock_mono() >= s->retry_at)
            return; /* nothing to write: the probe tells when new jobs could be */
        if (!s->healthy && s->open && clock_mono() < s->retry_at) {
            store_sleep(s, s->retry_at - clock_mono());
        } else if (!s->tidy) {
            pthread_cond_wait(&s->cond, &s->lock);
        } else if (store_sleep(s, 1.0) == ETIMEDOUT && !s->head) {
            pthread_mutex_unlock(&s->lock);
            pthread_mutex_lock(&s->db_lock);
            s->be->shrink(s, 1);
            pthread_mutex_unlock(&s->db_lock);
            pthread_mutex_lock(&s->lock);
        }
    }
}

static void *
store_run(void *arg)
{
    Store *s = arg;
    char why[256];

    pthread_mutex_lock(&s->lock);
    for (;;) {
        store_wait(s);
        if (!s->head && !s->quit && !s->healthy && s->open) {
            pthread_mutex_unlock(&s->lock);
            pthread_mutex_lock(&s->db_lock);
            int rc = s->be->probe(s, why, sizeof(why));
            pthread_mutex_unlock(&s->db_lock);
            pthread_mutex_lock(&s->lock);
            store_note(s, rc, why, 1);
            continue;
        }
        if (!s->head)
            break;
        StoreOp *ops = s->head;
        s->head = s->tail = NULL;
        s->busy = 1;
        HASH_CLEAR(hh, s->pending); /* taken ops can no longer be replaced */
        pthread_mutex_unlock(&s->lock);

        int some_ok;
        pthread_mutex_lock(&s->db_lock);
        int rc = s->be->commit(s, ops, why, sizeof(why), &some_ok);
        pthread_mutex_unlock(&s->db_lock);

        pthread_mutex_lock(&s->lock);
        store_note(s, rc, why, store_wrote_row(ops));
        pthread_mutex_unlock(&s->lock);
        store_settle(s, ops, some_ok);
        pthread_mutex_lock(&s->lock);
        s->busy = 0;
        pthread_cond_broadcast(&s->flushed);
        if (s->quit && rc != 0) /* stopping: what cannot be written now stays unwritten */
            break;
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* --- the public calls --- */

Store *
store_open(const StoreOptions *o)
{
    Store *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->db_lock, NULL);
    clock_cond_init(&s->cond);
    clock_cond_init(&s->flushed);
    s->be = o->redis_host ? &store_redis_backend : &store_db_backend;
    s->be->connect(s, o);
    if (pthread_create(&s->writer, NULL, store_run, s) != 0) {
        store_close(s);
        return NULL;
    }
    s->started = 1;
    return s;
}

void
store_close(Store *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->quit = 1;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    if (s->started)
        pthread_join(s->writer, NULL);
    /* Left only when the last commit failed at the stop: new jobs among
     * them were never confirmed, and the rest is at-least-once anyway. */
    HASH_CLEAR(hh, s->pending);
    StoreOp *left = s->head; /* detached: settling may put updates back */
    s->head = s->tail = NULL;
    for (StoreOp *op = left; op; op = op->next)
        op->ok = 0;
    store_settle(s, left, 0);
    HASH_CLEAR(hh, s->pending);
    for (StoreOp *op = s->head, *next; op; op = next) {
        next = op->next;
        free(op);
    }
    s->be->close(s);
    pthread_cond_destroy(&s->cond);
    pthread_cond_destroy(&s->flushed);
    pthread_mutex_destroy(&s->db_lock);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int
store_healthy(Store *s, char *why, size_t len)
{
    int ok;

    pthread_mutex_lock(&s->lock);
    ok = s->healthy;
    if (!ok)
        snprintf(why, len, "%s", s->why);
    pthread_mutex_unlock(&s->lock);
    return ok;
}

/* Copies str into *at (advancing it); NULL stays NULL. */
static const char *
store_copy(char **at, const char *str, size_t len)
{
    char *dst = *at;

    if (!str)
        return NULL;
    memcpy(dst, str, len);
    dst[len] = '\0';
    *at += len + 1;
    return dst;
}

/* A queued op holding a copy of j (the request only for an add). */
static StoreOp *
store_op_new(StoreOpKind kind, const StoreJob *j)
{
    size_t req = kind == STORE_ADD && j->request ? j->request_len : 0;
    size_t res = kind != STORE_FORGET && j->result ? j->result_len : 0;
    const char *strs[] = {j->id,     j->op,        j->func,         j->status,   j->key,           j->worker,
                          j->fail_type, j->fail_message, j->callback, j->fail_traceback, j->replica};
    size_t lens[ARRAY_LEN(strs)], need = req + 1 + res + 1 + 32;
    StoreOp *op;
    char *at;

    for (size_t i = 0; i < ARRAY_LEN(strs); i++)
        need += (lens[i] = (kind != STORE_FORGET || i == 0) && strs[i] ? strlen(strs[i]) : 0) + 1;
    if (!(op = calloc(1, sizeof(*op) + need)))
        return NULL;
    op->kind = kind;
    op->job.seq = j->seq;
    if (kind == STORE_FORGET) { /* its seq, and its id: whose row it is */
        at = op->buf;
        op->job.id = j->id ? store_copy(&at, j->id, lens[0]) : NULL;
        return op;
    }
    op->job = *j;
    at = op->buf;
    op->job.id = store_copy(&at, j->id, lens[0]);
    op->job.op = store_copy(&at, j->op, lens[1]);
    op->job.func = store_copy(&at, j->func, lens[2]);
    op->job.status = store_copy(&at, j->status, lens[3]);
    op->job.key = store_copy(&at, j->key, lens[4]);
    op->job.worker = store_copy(&at, j->worker, lens[5]);
    op->job.fail_type = store_copy(&at, j->fail_type, lens[6]);
    op->job.fail_message = store_copy(&at, j->fail_message, lens[7]);
    op->job.callback = store_copy(&at, j->callback, lens[8]);
    op->job.fail_traceback = store_copy(&at, j->fail_traceback, lens[9]);
    op->job.replica = store_copy(&at, j->replica, lens[10]);
    op->job.request = req ? store_copy(&at, j->request, req) : NULL;
    op->job.result = res ? store_copy(&at, j->result, res) : NULL;
    op->job.digest = j->key && j->digest ? memcpy(at, j->digest, 32) : NULL;
    return op;
}

StoreOp *
store_op_copy(const StoreJob *j)
{
    return store_op_new(STORE_ADD, j);
}

uint64_t
store_seq(Store *s)
{
    uint64_t seq = 0;
    char why[256];

    /* Each commit tops the block up past half of it (store_redis.c); only
     * more submits than that within one commit find it empty, and then
     * this one takes the next block itself. */
    for (int tries = 0; tries < 2 && !seq; tries++) {
        pthread_mutex_lock(&s->lock);
        if (s->seq_next < s->seq_end)
            seq = s->seq_next++;
        pthread_mutex_unlock(&s->lock);
        if (seq || tries || s->be != &store_redis_backend)
            continue;
        pthread_mutex_lock(&s->db_lock);
        if (store_redis_dial(s, why, sizeof(why)) == 0 && store_redis_numbers(s, why, sizeof(why)) < 0)
            store_redis_drop(s);
        pthread_mutex_unlock(&s->db_lock);
    }
    return seq;
}

int
store_add(Store *s, const StoreJob *j, StoreDoneFn done, void *ctx)
{
    StoreOp *op = store_op_new(STORE_ADD, j);
    int rc = SVC_OK;

    if (!op)
        return SVC_ENOMEM;
    op->done = done;
    op->ctx = ctx;
    pthread_mutex_lock(&s->lock);
    if (!s->open || (!s->healthy && clock_mono() < s->retry_at)) /* it never opened, or just failed */
        rc = SVC_ESTORE;
    else if (s->quit)
        rc = SVC_ESTOPPED;
    else {
        HASH_ADD(hh, s->pending, job.seq, sizeof(op->job.seq), op);
        store_push(s, op);
    }
    pthread_mutex_unlock(&s->lock);
    if (rc != SVC_OK)
        free(op);
    return rc;
}

void
store_update(Store *s, const StoreJob *j)
{
    StoreOp *op, *old = NULL;

    if (!s->open) /* it never opened (set once, before the writer starts) */
        return;
    if (!(op = store_op_new(STORE_UPDATE, j))) { /* the row keeps its older state: at worst the job runs again */
        log_msg(LOG_ERROR, "job store: out of memory; job %s keeps its older state on disk", j->id);
        return;
    }
    pthread_mutex_lock(&s->lock);
    HASH_FIND(hh, s->pending, &j->seq, sizeof(j->seq), old);
    if (old && old->kind == STORE_ADD) {
        /* Its row is not written yet: one INSERT of the newer state does
         * for both (a short job's whole life, often). */
        StoreJob nj = *j;
        StoreOp *add;
        nj.request = old->job.request;
        nj.request_len = old->job.request_len;
        if ((add = store_op_new(STORE_ADD, &nj))) {
            add->done = old->done;
            add->ctx = old->ctx;
            old->done = NULL;
            free(op);
            op = add;
        } else { /* keep both, the ADD then this update; only the update is replaceable */
            HASH_DEL(s->pending, old);
            old = NULL;
        }
    }
    if (old) {
        HASH_DEL(s->pending, old);
        old->kind = STORE_NONE;
    }
    HASH_ADD(hh, s->pending, job.seq, sizeof(op->job.seq), op);
    store_push(s, op);
    pthread_mutex_unlock(&s->lock);
}

void
store_forget(Store *s, uint64_t seq, const char *id)
{
    StoreJob j = {.seq = seq, .id = id};
    StoreOp *op;

    StoreOp *old = NULL;

    if (!s->open || !(op = store_op_new(STORE_FORGET, &j)))
        return; /* the row stays; the next start deletes it as expired */
    pthread_mutex_lock(&s->lock);
    HASH_FIND(hh, s->pending, &seq, sizeof(seq), old);
    if (old) /* nothing folds into a row about to go */
        HASH_DEL(s->pending, old);
    store_push(s, op);
    pthread_mutex_unlock(&s->lock);
}

void
store_flush(Store *s, double seconds)
{
    double end = clock_mono() + seconds;

    pthread_mutex_lock(&s->lock);
    while ((s->head || s->busy) && s->open && s->started && !s->quit && clock_mono() < end)
        clock_cond_wait_until(&s->flushed, &s->lock, end);
    pthread_mutex_unlock(&s->lock);
}

/* The reading is the backend's, under the connection's lock: the writer
 * runs already, and may shrink the file meanwhile. */
long
store_load(Store *s, double ttl, StoreLoadFn fn, void *ctx)
{
    long n;

    pthread_mutex_lock(&s->db_lock);
    n = s->be->load(s, ttl, fn, ctx);
    pthread_mutex_unlock(&s->db_lock);
    return n;
}
