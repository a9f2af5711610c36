/*
 * job_store.c: the job table's durable side. Every job's first row is
 * queued before its batch starts and confirmed by the store's commit
 * before the submit is (so a 202 means the job is on disk); each change of
 * state follows it; job_store_recover reads the jobs back at start-up.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/clock.h"
#include "store/store_cluster.h"
#include "jobs/job_impl.h"
#include "core/log.h"
#include "functions/registry.h"

/* j as the store keeps it (lock held); the strings are j's. */
static void
job_store_record(const Job *j, StoreJob *r)
{
    *r = (StoreJob){
        .seq = j->seq, .id = j->id, .op = job_ops[j->op], .func = j->func, .priority = j->priority,
        .status = job_names[j->status], .key = j->key, .digest = j->key ? j->digest : NULL,
        .created = j->created, .started = j->started, .finished = j->finished,
        .total = j->total, .done = j->done_at_end, .worker = j->worker[0] ? j->worker : NULL,
        .pid = (int)j->pid, .result = j->result, .result_len = j->result_len,
        .replica = j->replica[0] ? j->replica : NULL, .attempts = j->attempts,
    };
    if (j->fail) {
        r->fail_outcome = (int)j->fail->outcome;
        r->fail_index = j->fail->index;
        r->fail_type = j->fail->type;
        r->fail_message = j->fail->message;
        r->fail_traceback = j->fail->traceback[0] ? j->fail->traceback : NULL;
    }
}

void
job_store_persist(JobTable *t, const Job *j)
{
    StoreJob r;
    char *cb;

    if (!t->opt.store)
        return;
    job_store_record(j, &r);
    r.callback = cb = job_hook_text(j);
    store_update(t->opt.store, &r);
    free(cb);
}

/* A replay of the same Idempotency-Key, waiting with the original. */
typedef struct JobReplay {
    struct JobReplay *next;
    JobSubmittedFn done;
    void *ctx;
} JobReplay;

/*
 * A submit whose row is being written. Its end needs both halves: the
 * commit (writer thread) and the batch's start (the submitting thread),
 * in either order; whichever comes second tells the caller, once.
 */
struct JobSubmit {
    int refs;                  /* atomic: the writer's and the submitter's */
    Job *job;                  /* a reference */
    JobSubmittedFn done;
    void *ctx;
    /* t->lock */
    int written, rc;           /* the commit came, with this outcome */
    int settled, started;      /* the submit is over; its batch started */
    Job *same;                 /* replicas: the job its Idempotency-Key
                                * names already (a reference), answered
                                * instead; j was not written */
    JobReplay *replays;        /* the same Idempotency-Key meanwhile: told
                                * with the original, never before its commit */
};

static void
job_store_submit_unref(JobSubmit *js)
{
    if (__atomic_sub_fetch(&js->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    job_unref(js->job);
    job_unref(js->same);
    free(js);
}

int
job_store_join(Job *j, JobSubmittedFn done, void *ctx)
{
    JobReplay *r;

    if (!j->submit)
        return 0;
    if (!(r = malloc(sizeof(*r))))
        return SVC_ENOMEM;
    *r = (JobReplay){.next = j->submit->replays, .done = done, .ctx = ctx};
    j->submit->replays = r;
    return 1;
}

/* Why a submit was refused, for its log line. */
static const char *
job_store_refusal(int rc)
{
    switch (rc) {
    case SVC_ESTORE: return "the store cannot write its row";
    case SVC_EFULL: return "the queue is full";
    case SVC_ESTOPPED: return "poold is stopping";
    case SVC_ENOMEM: return "out of memory";
    case SVC_EUNAVAIL: return "no worker can start";
    case SVC_EAGAIN: return "its Idempotency-Key names a job another replica took first";
    default: return "its tasks could not be queued";
    }
}

/* A submit that could not be accepted leaves nothing behind, and is
 * logged as what it is: refused, not cancelled. A full queue is
 * backpressure, expected under load: not worth a line each at info. */
void
job_store_discard(JobTable *t, Job *j, int rc)
{
    log_msg(rc == SVC_EFULL || rc == SVC_ESTOPPED || rc == SVC_EAGAIN ? LOG_DEBUG : LOG_INFO, "job=%s func=%s refused: %s", j->id,
            j->func, job_store_refusal(rc));
    pthread_mutex_lock(&t->lock);
    j->refused = 1;
    pthread_mutex_unlock(&t->lock);
    /* With replicas nothing of it runs here, and its row, if it landed
     * after all, is not this refusal's to end. */
    if (!t->cluster)
        job_cancel_here(t, j);
    pthread_mutex_lock(&t->lock);
    if (j->in_table)
        job_remove(t, j);
    pthread_mutex_unlock(&t->lock);
    /* A replica's add whose answer was lost may be in Redis all the same,
     * and taken by another replica already: its row stays (the client
     * was told 503; its retry with the same Idempotency-Key finds it). */
    if (t->opt.store && !(t->cluster && rc == SVC_ESTORE))
        store_forget(t->opt.store, j->seq, j->id);
}

/* Both halves are in: the job is accepted, or (its row not written) gone.
 * The caller took js off its job under the lock, so that no replay joins
 * it any more. */
static void
job_store_submit_end(JobTable *t, JobSubmit *js)
{
    Job *answer = js->same ? js->same : js->job;

    if (js->rc != SVC_OK || js->same)
        job_store_discard(t, js->job, js->same ? SVC_EAGAIN : js->rc);
    js->done(js->ctx, answer, js->rc);
    for (JobReplay *r = js->replays, *next; r; r = next) {
        next = r->next;
        r->done(r->ctx, answer, js->rc);
        free(r);
    }
}

/* A submit that did not start: its replays are told it is gone. */
static void
job_store_fail_replays(JobSubmit *js)
{
    for (JobReplay *r = js->replays, *next; r; r = next) {
        next = r->next;
        r->done(r->ctx, js->job, SVC_ESTORE);
        free(r);
    }
    js->replays = NULL;
}

/* A StoreDoneFn: the job's row is on disk (SVC_OK), or could not be
 * written, and then the job is not accepted. Writer thread. With
 * replicas, the row of the job its key names already (same) is the
 * answer instead: the same call is the same job, whichever replica took
 * it first. */
static void
job_store_written(void *ctx, int rc, const StoreJob *same)
{
    JobSubmit *js = ctx;
    JobTable *t = js->job->table;
    Job *other = same && rc == SVC_OK ? job_cluster_adopt(t, same) : NULL;
    int last;

    pthread_mutex_lock(&t->lock);
    js->written = 1;
    js->rc = rc == SVC_OK ? SVC_OK : SVC_ESTORE;
    if (t->cluster && !same && rc == SVC_OK) /* queued: this replica looks first */
        store_cluster_kick(t->cluster);
    if (same && rc == SVC_OK) {
        js->same = other;
        js->rc = !other ? SVC_ESTORE : memcmp(other->digest, js->job->digest, sizeof(other->digest)) ? SVC_EINVAL
                                                                                                      : SVC_OK;
    }
    if ((last = js->settled && js->started))
        js->job->submit = NULL;
    pthread_mutex_unlock(&t->lock);
    if (last)
        job_store_submit_end(t, js);
    job_store_submit_unref(js);
}

void
job_store_settle(JobTable *t, JobSubmit *js, int started)
{
    int last;

    pthread_mutex_lock(&t->lock);
    js->settled = 1;
    js->started = started;
    if ((last = started && js->written) || !started)
        js->job->submit = NULL;
    pthread_mutex_unlock(&t->lock);
    if (last)
        job_store_submit_end(t, js);
    else if (!started)
        job_store_fail_replays(js);
    job_store_submit_unref(js);
}

JobSubmit *
job_store_begin(Job *j, JobSubmittedFn done, void *ctx)
{
    JobSubmit *js = calloc(1, sizeof(*js));

    if (!js)
        return NULL;
    js->refs = 2;
    js->job = job_ref(j);
    js->done = done;
    js->ctx = ctx;
    j->submit = js;
    return js;
}

int
job_store_write(JobTable *t, JobSubmit *js, const char *body, size_t body_len)
{
    Job *j = js->job;
    StoreJob r;
    char *cb;
    int rc;

    pthread_mutex_lock(&t->lock);
    job_store_record(j, &r);
    r.callback = cb = job_hook_text(j);
    pthread_mutex_unlock(&t->lock);
    /* Its batch has not started: what r borrows from j cannot change, so
     * the body (up to --max-body) is copied without the table's lock. */
    r.request = body;
    r.request_len = body_len;
    rc = store_add(t->opt.store, &r, job_store_written, js);
    free(cb);
    if (rc != SVC_OK) {
        pthread_mutex_lock(&t->lock);
        j->submit = NULL;
        pthread_mutex_unlock(&t->lock);
        job_store_fail_replays(js);
        job_unref(js->job);
        free(js);
    }
    return rc;
}

int
job_store_ready(JobTable *t, char *why, size_t len)
{
    return !t->opt.store || (store_healthy(t->opt.store, why, len) && job_store_current(t, why, len));
}

int
job_store_current(JobTable *t, char *why, size_t len)
{
    return !t->cluster || store_cluster_current(t->cluster, why, len);
}

/* --- reading the jobs back --- */

/* What recovery gathers before it starts anything. */
typedef struct JobRerun {
    Job *job;           /* a reference */
    Call *call;
} JobRerun;

typedef struct JobLoad {
    JobTable *t;
    Job **ended;        /* references, to queue for expiry in finish order */
    size_t nended, cap_ended;
    JobRerun *rerun;    /* to run again, in creation order */
    size_t nrerun, cap_rerun;
} JobLoad;

static int
job_store_op_parse(const char *name)
{
    for (int i = 0; i <= CALL_STARMAP; i++)
        if (strcmp(job_ops[i], name) == 0)
            return i;
    return -1;
}

/* Makes room for one more element of size in *arr; 0, or -1 when out of
 * memory (*arr unchanged). */
static int
job_store_grow(void **arr, size_t n, size_t *cap, size_t size)
{
    size_t grown = *cap ? *cap * 2 : 256;
    void *bigger;

    if (n < *cap)
        return 0;
    if (!(bigger = realloc(*arr, grown * size)))
        return -1;
    *arr = bigger;
    *cap = grown;
    return 0;
}

/* Ends j (not yet started) as failed because it cannot run again. */
static void
job_store_fail_recovery(Job *j, const char *why)
{
    BatchFailure f = {.outcome = OUTCOME_FUNCTION_ERROR};

    snprintf(f.type, sizeof(f.type), "RecoveryError");
    snprintf(f.message, sizeof(f.message), "cannot run again after a restart: %s", why);
    j->fail = job_state_failure_new(&f);
}

/* The stored call of an unfinished job, parsed again under today's
 * registry and limits; NULL with why filled when it cannot run. */
Call *
job_store_recall(JobTable *t, Job *j, const StoreJob *r, char *why, size_t len)
{
    json_error_t jerr;
    json_t *body = r->request ? json_loadb(r->request, r->request_len, POOLD_BODY_JSON_FLAGS, &jerr) : NULL;
    CallError err;
    Call *c = NULL;

    if (!body)
        snprintf(why, len, "its stored request is not JSON");
    else if (call_parse(body, j->op, t->opt.reg, &t->opt.limits, &c, &err) != SVC_OK)
        snprintf(why, len, "%s", err.detail);
    json_decref(body);
    return c;
}

/* A job read back, without its end: who it is and what it runs (its
 * status queued). NULL, logged, when its row cannot be read back; st is
 * its stored status, parsed. */
Job *
job_store_revive(JobTable *t, const StoreJob *r, int st)
{
    const RegistryFn *fn = registry_find(t->opt.reg, r->func);
    int op = job_store_op_parse(r->op);
    Job *j = calloc(1, sizeof(*j));

    if (j)
        j->refs = 1; /* the caller's */
    if (!j || op < 0 || st < 0 || strlen(r->id) != 32 || (r->key && !(j->key = strdup(r->key))) ||
        (!fn && !(j->func_copy = strdup(r->func)))) {
        log_msg(LOG_ERROR, "job store: cannot read job %s back (seq %llu)", r->id,
                (unsigned long long)r->seq);
        job_unref(j);
        return NULL;
    }
    j->table = t;
    memcpy(j->id, r->id, 33);
    j->seq = r->seq;
    j->op = (CallOp)op;
    j->func = fn ? fn->name : j->func_copy;
    j->priority = r->priority;
    /* The view shows it as it showed it before the restart; none when
     * memory is short, as at submit. */
    if (r->request && r->request_len <= JOB_REQUEST_MAX)
        j->request = strndup(r->request, r->request_len);
    j->created = r->created;
    j->total = r->total;
    if (r->key && r->digest)
        memcpy(j->digest, r->digest, sizeof(j->digest));
    job_hook_load(j, r->callback, !t->opt.replica);
    return j;
}

/* The end of a job read back that had ended (st), as it was. Its status is
 * where it was left, not a move: it is not yet in the table. */
void
job_store_revive_end(Job *j, const StoreJob *r, JobStatus st)
{
    BatchFailure f = {.outcome = (Outcome)r->fail_outcome, .index = r->fail_index};

    j->status = st;
    j->started = r->started;
    j->finished = r->finished;
    j->done_at_end = r->done;
    snprintf(j->worker, sizeof(j->worker), "%s", r->worker ? r->worker : "");
    j->pid = r->pid;
    if (r->result && (j->result = malloc(r->result_len + 1))) {
        memcpy(j->result, r->result, r->result_len);
        j->result[r->result_len] = '\0';
        j->result_len = r->result_len;
    }
    if (r->fail_type) {
        snprintf(f.type, sizeof(f.type), "%s", r->fail_type);
        snprintf(f.message, sizeof(f.message), "%s", r->fail_message ? r->fail_message : "");
        snprintf(f.traceback, sizeof(f.traceback), "%s", r->fail_traceback ? r->fail_traceback : "");
        j->fail = job_state_failure_new(&f);
    }
}

/* The call of a job read back that had not ended, to run again; or, when
 * it cannot run, NULL and the job failed now (its webhook due). */
static Call *
job_store_revive_call(JobTable *t, Job *j, const StoreJob *r)
{
    char why[300];
    Call *c = job_store_recall(t, j, r, why, sizeof(why));

    if (!c) {
        job_store_fail_recovery(j, why);
        job_state_move(&j->status, JOB_FAILED); /* not yet in the table: no count to move */
        j->finished = clock_wall();
        job_hook_due(j, JOB_FAILED);
    }
    return c;
}

/* Keeps j (a reference) for job_store_recover: with its call c to run
 * again, or without to expire in finish order. 0, or -1 when out of
 * memory (nothing kept). */
static int
job_store_keep(JobLoad *l, Job *j, Call *c)
{
    if (c && job_store_grow((void **)&l->rerun, l->nrerun, &l->cap_rerun, sizeof(*l->rerun)) == 0)
        l->rerun[l->nrerun++] = (JobRerun){j, c};
    else if (!c && job_store_grow((void **)&l->ended, l->nended, &l->cap_ended, sizeof(*l->ended)) == 0)
        l->ended[l->nended++] = j;
    else
        return -1;
    return 0;
}

/* A StoreLoadFn: one stored job into the table. */
static void
job_store_load_one(void *ctx, const StoreJob *r)
{
    JobLoad *l = ctx;
    JobTable *t = l->t;
    int st = job_status_parse(r->status);
    Job *j = job_store_revive(t, r, st);
    Call *c = NULL;

    if (!j)
        return;
    if (job_ended((JobStatus)st))
        job_store_revive_end(j, r, (JobStatus)st);
    else
        c = job_store_revive_call(t, j, r);
    /* Its TTL runs from when it finished, by the wall clock. */
    j->finished_mono = clock_mono() - (clock_wall() - j->finished);
    if (job_store_keep(l, j, c) < 0) {
        log_msg(LOG_ERROR, "job store: out of memory reading job %s back", r->id);
        call_free(c);
        job_unref(j);
        return;
    }
    pthread_mutex_lock(&t->lock);
    job_insert(t, j);
    if (j->seq > t->seq)
        t->seq = j->seq;
    if (!c && !r->finished) /* failed now, by job_store_fail_recovery */
        job_store_persist(t, j);
    pthread_mutex_unlock(&t->lock);
}

static int
job_store_by_finish(const void *a, const void *b)
{
    double x = (*(Job *const *)a)->finished, y = (*(Job *const *)b)->finished;

    return x < y ? -1 : x > y;
}

/* Runs a recovered job again, or one this replica took; on a refusal (a
 * full queue, a stop) it fails, unless give_back: then the refusal is
 * returned and the job left as it was, for Redis's queue to have back. */
int
job_store_rerun(JobTable *t, Job *j, Call *c, int give_back)
{
    Batch *b = batch_new(c);
    Batch *cancel = NULL;
    int rc = b ? SVC_OK : SVC_ENOMEM;

    pthread_mutex_lock(&t->lock);
    if (!give_back)
        job_store_persist(t, j); /* queued again, no longer running */
    pthread_mutex_unlock(&t->lock);
    if (b) {
        job_ref(j); /* the batch's */
        if ((rc = batch_start(b, t->opt.pool, j->priority, job_state_batch_done, job_state_batch_start, j)) != SVC_OK)
            job_unref(j);
    }
    pthread_mutex_lock(&t->lock);
    if (rc == SVC_OK && !job_ended(j->status) && (!give_back || j->taken_here)) {
        j->batch = batch_ref(b);
    } else if (rc == SVC_OK && !job_ended(j->status)) { /* taken back meanwhile: it runs elsewhere */
        j->given_up = batch_ref(b);
        cancel = batch_ref(b);
    } else if (rc == SVC_OK) { /* cancelled while it was being queued */
        cancel = batch_ref(b);
        j->taken_here = 0;
    } else if (!give_back && job_state_ok(j->status, JOB_FAILED)) {
        JobWait *fired = NULL;
        job_store_fail_recovery(j, rc == SVC_EFULL || rc == SVC_E2BIG ? "the queue is full (--max-queue)"
                                                                        : "it could not be queued");
        job_state_end(t, j, JOB_FAILED, &fired); /* nobody waits yet: fired stays empty */
    }
    pthread_mutex_unlock(&t->lock);
    if (cancel)
        batch_cancel(cancel);
    batch_unref(cancel);
    job_hook_fire(t, j);
    batch_unref(b);
    return give_back ? rc : SVC_OK;
}

long
job_store_recover(JobTable *t)
{
    JobLoad l = {.t = t};
    double began = clock_mono();
    long n;

    /* Replicas read the rows as they follow them (job_cluster.c): the
     * queue and the leases say what runs again, and where. */
    if (!t->opt.store || t->opt.replica)
        return 0;
    n = store_load(t->opt.store, t->opt.result_ttl, job_store_load_one, &l);
    if (l.nended) /* qsort of NULL is undefined, even for 0 elements */
        qsort(l.ended, l.nended, sizeof(*l.ended), job_store_by_finish);
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < l.nended; i++)
        job_expire_later(t, l.ended[i]);
    pthread_mutex_unlock(&t->lock);
    for (size_t i = 0; i < l.nended; i++) /* deliveries a stop or a crash cut short go on */
        job_hook_fire(t, l.ended[i]);
    for (size_t i = 0; i < l.nrerun; i++)
        job_store_rerun(t, l.rerun[i].job, l.rerun[i].call, 0);
    if (n > 0)
        log_msg(LOG_INFO, "job store: %ld jobs read back, %zu of them to run again, in %.0f ms", n, l.nrerun,
                (clock_mono() - began) * 1e3);
    for (size_t i = 0; i < l.nended; i++)
        job_unref(l.ended[i]);
    for (size_t i = 0; i < l.nrerun; i++)
        job_unref(l.rerun[i].job);
    free(l.ended);
    free(l.rerun);
    return n;
}
