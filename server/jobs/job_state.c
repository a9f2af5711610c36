/*
 * job_state.c: a job's state machine, apart from the table that holds the
 * jobs (job.c). First its rule, as pure functions (job_state.h): which
 * status may follow which, and what a batch's end or a job's end means;
 * then the moves that apply it to a job in the table, driven by the
 * batch's reports (its start, its answer) and by job.c's cancel.
 */
#include "jobs/job_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "jobs/job_impl.h"
#include "store/store_cluster.h"

/* --- the rule --- */

#define JOB_STATE_BIT(s) (1u << (s))
#define JOB_STATE_ENDS                                                                         \
    (JOB_STATE_BIT(JOB_SUCCEEDED) | JOB_STATE_BIT(JOB_FAILED) | JOB_STATE_BIT(JOB_TIMED_OUT) | \
     JOB_STATE_BIT(JOB_WORKER_LOST) | JOB_STATE_BIT(JOB_CANCELLED))

/* The statuses each status may move to, a bit each; an ended status has
 * none. A queued job may end without running: an empty map succeeds at
 * once, a stop or a crash loop fails its batch before any worker reads it,
 * a DELETE cancels it. */
static const unsigned job_state_next[JOB_NSTATUS] = {
    [JOB_QUEUED] = JOB_STATE_BIT(JOB_RUNNING) | JOB_STATE_ENDS,
    [JOB_RUNNING] = JOB_STATE_ENDS,
};

int
job_state_ok(JobStatus from, JobStatus to)
{
    return (unsigned)from < JOB_NSTATUS && (unsigned)to < JOB_NSTATUS && (job_state_next[from] & JOB_STATE_BIT(to));
}

int
job_state_move(JobStatus *status, JobStatus to)
{
    if (!job_state_ok(*status, to))
        return 0;
    *status = to;
    return 1;
}

JobStatus
job_state_of_outcome(Outcome o)
{
    switch (o) {
    case OUTCOME_OK: return JOB_SUCCEEDED;
    case OUTCOME_WORKER_LOST: return JOB_WORKER_LOST;
    case OUTCOME_TIMED_OUT: return JOB_TIMED_OUT;
    case OUTCOME_CANCELLED: return JOB_CANCELLED;
    default: return JOB_FAILED;
    }
}

/*
 * The Outcome a failed job answers with. A worker's loss, a timeout and a
 * cancel end a job in a status of their own (job_state_of_outcome), so a
 * failed job holding one of them (or a number a store row should not
 * hold) failed in a way poold did not foresee: internal.
 */
static Outcome
job_state_failure(Outcome o)
{
    switch (o) {
    case OUTCOME_FUNCTION_ERROR: return OUTCOME_FUNCTION_ERROR;
    case OUTCOME_STOPPED: return OUTCOME_STOPPED;
    case OUTCOME_UNAVAILABLE: return OUTCOME_UNAVAILABLE;
    case OUTCOME_NOMEM: return OUTCOME_NOMEM;
    default: return OUTCOME_INTERNAL;
    }
}

int
job_state_outcome(JobStatus s, const Outcome *fail, Outcome *out)
{
    switch (s) {
    case JOB_SUCCEEDED: *out = OUTCOME_OK; break;
    case JOB_CANCELLED: *out = OUTCOME_CANCELLED; break;
    case JOB_WORKER_LOST: *out = OUTCOME_WORKER_LOST; break;
    case JOB_TIMED_OUT: *out = OUTCOME_TIMED_OUT; break;
    case JOB_FAILED: *out = fail ? job_state_failure(*fail) : OUTCOME_INTERNAL; break;
    default: return 0;
    }
    return 1;
}

/* --- the moves, on a job in the table --- */

int
job_state_set(JobTable *t, Job *j, JobStatus s)
{
    JobStatus from = j->status;

    if (!job_state_move(&j->status, s))
        return 0;
    t->by_status[from]--;
    t->by_status[s]++;
    return 1;
}

/* The line a job's end writes: what became of it. A submit refused (its
 * row or its tasks could not be taken) was never accepted, and
 * job_store_discard says so; a job poold's stop cut short stays on disk,
 * as it was, for the next start to run, unless there is no disk. */
static void
job_state_log(const JobTable *t, const Job *j, JobStatus from, JobStatus s, int kept)
{
    if (j->refused)
        return;
    if (kept && t->opt.store) {
        log_msg(LOG_INFO, "job=%s func=%s status=%s kept on disk for the next start to run: poold is stopping",
                j->id, j->func, job_status_name(from));
        return;
    }
    /* Succeeded jobs at debug: there may be tens of thousands a second. */
    log_msg(s == JOB_SUCCEEDED ? LOG_DEBUG : LOG_INFO, "job=%s func=%s status=%s duration_ms=%.1f%s%s",
            j->id, j->func, job_status_name(s), (j->finished - j->created) * 1e3, j->fail ? " error=" : "",
            j->fail ? j->fail->type : "");
}

int
job_state_end(JobTable *t, Job *j, JobStatus s, JobWait **fired)
{
    size_t done = j->done_at_end, total;
    JobStatus from = j->status;
    /* A job that poold's own stop cut short stays queued or running on
     * disk, so that the next start runs it instead of failing it (and
     * tells its webhook then). */
    int kept = s == JOB_FAILED && j->fail && j->fail->outcome == OUTCOME_STOPPED;

    if (!job_ended(s) || !job_state_set(t, j, s))
        return 0;
    if (j->batch)
        batch_progress(j->batch, &done, &total);
    j->done_at_end = s == JOB_SUCCEEDED ? j->total : done;
    j->finished = clock_wall();
    j->finished_mono = clock_mono();
    job_state_log(t, j, from, s, kept);
    job_expire_later(t, j);
    job_take_waits(t, j, fired);
    job_events_ended(j);
    if (!kept) {
        job_hook_due(j, s);
        job_store_persist(t, j);
    }
    return 1;
}

void
job_state_batch_start(Batch *b, void *ctx)
{
    Job *j = ctx;
    JobTable *t = j->table;
    pid_t pid;
    const char *worker = batch_worker(b, &pid);

    pthread_mutex_lock(&t->lock);
    if (b != j->given_up && job_state_set(t, j, JOB_RUNNING)) {
        j->started = clock_wall();
        snprintf(j->worker, sizeof(j->worker), "%s", worker);
        j->pid = pid;
        job_store_persist(t, j);
        job_events_started(j);
    }
    pthread_mutex_unlock(&t->lock);
}

void
job_state_batch_progress(Batch *b, void *ctx)
{
    size_t done, total;

    batch_progress(b, &done, &total);
    job_events_progress(ctx, done, total);
}

JobFailure *
job_state_failure_new(const BatchFailure *f)
{
    size_t len = strnlen(f->message, sizeof(f->message));
    size_t tb = strnlen(f->traceback, sizeof(f->traceback));
    JobFailure *jf = malloc(sizeof(*jf) + len + 1 + tb + 1);

    if (!jf)
        return NULL;
    jf->outcome = f->outcome;
    jf->index = f->index;
    snprintf(jf->type, sizeof(jf->type), "%s", f->type);
    memcpy(jf->message, f->message, len);
    jf->message[len] = '\0';
    jf->traceback = jf->message + len + 1;
    memcpy(jf->traceback, f->traceback, tb);
    jf->traceback[tb] = '\0';
    return jf;
}

void
job_state_batch_done(Batch *b, void *ctx)
{
    Job *j = ctx;
    JobTable *t = j->table;
    JobWait *fired = NULL;
    BatchFailure f = {0};
    size_t len = 0;
    char *result = batch_result(b, &f, &len);
    JobFailure *fail = result ? NULL : job_state_failure_new(&f);
    JobStatus s = result ? JOB_SUCCEEDED : job_state_of_outcome(f.outcome);
    pid_t pid;
    const char *worker = batch_worker(b, &pid);
    Batch *drop;

    pthread_mutex_lock(&t->lock);
    if (b == j->given_up) { /* an attempt taken back: the job runs elsewhere */
        drop = j->given_up;
        j->given_up = NULL;
        pthread_mutex_unlock(&t->lock);
        free(result);
        free(fail);
        batch_unref(drop);
        job_unref(j); /* the batch's reference */
        return;
    }
    /* Else it ended first: a cancelled job stays cancelled. */
    if (job_state_ok(j->status, s)) {
        j->result = result;
        j->result_len = len;
        result = NULL;
        j->fail = fail;
        fail = NULL;
        snprintf(j->worker, sizeof(j->worker), "%s", worker);
        j->pid = pid;
        if (!j->started)
            j->started = clock_wall();
        job_state_end(t, j, s, &fired);
    }
    drop = j->batch;
    j->batch = NULL;
    j->taken_here = 0;
    pthread_mutex_unlock(&t->lock);
    free(result);
    free(fail);
    if (t->cluster) /* its workers have room: the next job from the queue */
        store_cluster_kick(t->cluster);
    job_fire(fired);
    job_hook_fire(t, j);
    batch_unref(drop);
    job_unref(j); /* the batch's reference */
}
