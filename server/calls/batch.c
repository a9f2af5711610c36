/* batch.c: see batch.h.
 *
 * Under on_error "raise" the failure a batch answers is the failed item
 * with the lowest index, the same whatever order chunks come back in: a
 * failure is kept when it comes before the one kept, and the batch is
 * decided once every chunk up to the kept one is back. Chunks after it
 * are not waited for. */
#include "calls/batch.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "calls/call.h"
#include "core/jtext.h"
#include "http/http_status.h"
#include "worker/wire.h"

/* A chunk's state. */
enum {
    BATCH_BACK = 1,        /* its answer came */
    BATCH_PLAIN = 2,       /* its payload is bare values (none failed) */
};

struct Batch {
    int refs;              /* atomic */
    int cancelled;         /* atomic: batch_cancel was called */
    uint64_t owner;        /* names its tasks to pool_cancel */
    Pool *pool;
    Call *call;
    size_t nchunks;
    size_t pending;        /* chunks not yet back */
    char **chunks;         /* result payload per chunk, NULL until back */
    size_t *lens;          /* their lengths */
    unsigned char *state;  /* per chunk: BATCH_BACK, BATCH_PLAIN */
    /* The three arrays above for a batch of one chunk (an apply), in
     * place: three allocations fewer on every call. */
    char *one_chunk[2];
    size_t one_len[2];
    unsigned char one_state[2];
    int all_plain;         /* every chunk's payload is bare values */
    size_t front;          /* dispatcher only: chunks [0, front) are back */
    size_t items_done;     /* atomic */
    BatchDoneFn done;
    BatchStartFn start;
    BatchProgressFn progress;
    void *ctx;
    int started;           /* dispatcher only: start() was called */
    int finished;          /* dispatcher only: done() was called; late
                            * chunks are dropped */
    /* The failure, when there is one: its message (up to 4 KiB) is
     * allocated then, not carried by every batch a queued job holds. */
    Outcome outcome;
    size_t fail_index;
    char fail_type[64];
    char *fail_message;    /* NULL: no memory was left to keep it */
    char *fail_traceback;  /* a runtime's traceback of it, or NULL */
    char worker[32];
    pid_t pid;
};

Batch *
batch_new(Call *call)
{
    Batch *b = calloc(1, sizeof(*b));

    if (!b) {
        call_free(call);
        return NULL;
    }
    b->refs = 1;
    b->owner = pool_cancel_owner_new();
    b->call = call;
    b->all_plain = 1;
    b->nchunks = call_chunks(call);
    if (b->nchunks + 1 <= 2) {
        b->chunks = b->one_chunk;
        b->lens = b->one_len;
        b->state = b->one_state;
    } else {
        b->chunks = calloc(b->nchunks + 1, sizeof(char *));
        b->lens = calloc(b->nchunks + 1, sizeof(size_t));
        b->state = calloc(b->nchunks + 1, 1);
    }
    if (!b->chunks || !b->lens || !b->state) {
        b->nchunks = 0;
        batch_unref(b);
        return NULL;
    }
    return b;
}

Batch *
batch_ref(Batch *b)
{
    __atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
    return b;
}

void
batch_unref(Batch *b)
{
    if (!b || __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    for (size_t i = 0; i < b->nchunks; i++)
        free(b->chunks[i]);
    if (b->chunks != b->one_chunk) {
        free(b->chunks);
        free(b->lens);
        free(b->state);
    }
    free(b->fail_message);
    free(b->fail_traceback);
    call_free(b->call);
    free(b);
}

const Call *
batch_call(const Batch *b)
{
    return b->call;
}

/* Copies text, cut if it must be on a character boundary: the JSON of a
 * problem needs valid UTF-8. */
static void
batch_copy_text(char *dst, size_t len, const char *text)
{
    size_t n = strlen(text);

    if (n >= len) {
        n = len - 1;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
            n--; /* back to the first byte of the character cut */
    }
    memcpy(dst, text, n);
    dst[n] = '\0';
}

static void
batch_set_failure(Batch *b, Outcome o, size_t index, const char *type, const char *msg)
{
    b->outcome = o;
    b->fail_index = index;
    batch_copy_text(b->fail_type, sizeof(b->fail_type), type);
    free(b->fail_message);
    b->fail_message = strdup(msg); /* cut where it is read, at a character */
    free(b->fail_traceback);
    b->fail_traceback = NULL;
}

void
batch_lost_message(const PoolResult *res, char *buf, size_t len)
{
    if (res->note) /* it said why: its runtime died, or broke the protocol */
        snprintf(buf, len, "%s (pid %d) lost its runtime while running the task: %s", res->worker,
                 (int)res->pid, res->note);
    else if (res->wstatus == -1)
        snprintf(buf, len, "%s (pid %d) died with the fork server while running the task",
                 res->worker, (int)res->pid);
    else if (WIFSIGNALED(res->wstatus) && WTERMSIG(res->wstatus) == SIGXCPU)
        snprintf(buf, len, "%s (pid %d) used up its CPU time (--worker-cpu-limit) and was killed "
                 "by signal %d (SIGXCPU)", res->worker, (int)res->pid, SIGXCPU);
    else if (WIFSIGNALED(res->wstatus))
        snprintf(buf, len, "%s (pid %d) died while running the task: killed by signal %d (SIG%s)",
                 res->worker, (int)res->pid, WTERMSIG(res->wstatus),
                 sigabbrev_np(WTERMSIG(res->wstatus)) ?: "?");
    else if (WIFEXITED(res->wstatus) && WEXITSTATUS(res->wstatus) == WIRE_EXIT_NOMEM)
        snprintf(buf, len, "%s (pid %d) ran out of memory (--worker-memory-limit?) %s the task",
                 res->worker, (int)res->pid, res->started ? "running" : "reading");
    else if (WIFEXITED(res->wstatus))
        snprintf(buf, len, "%s (pid %d) died while running the task: exit status %d", res->worker,
                 (int)res->pid, WEXITSTATUS(res->wstatus));
    else
        snprintf(buf, len, "%s (pid %d) died while running the task", res->worker, (int)res->pid);
}

Outcome
batch_item_outcome(const json_t *e)
{
    const json_t *o = json_object_get(e, "outcome");

    return o ? (Outcome)json_integer_value(o) : OUTCOME_FUNCTION_ERROR;
}

/*
 * Under on_error "collect", a chunk whose worker died (or was stopped at
 * a deadline) answers an error for each of its items, as a worker writes
 * them (wire.h): the results of those that had finished died with the
 * worker. Item `at` (or none, -1) gets `msg`, the others `others`.
 * Returns 0, or -1 when out of memory.
 */
static int
batch_collect_chunk(Batch *b, size_t chunk, const char *type, Outcome outcome, long at,
                    const char *msg, const char *others)
{
    json_t *outs = json_array();

    for (size_t k = 0; k < call_chunk_len(b->call, chunk); k++)
        json_array_append_new(outs, json_pack("{s:{s:s, s:s, s:i}}", "e", "type", type, "message",
                                              at < 0 || (long)k == at ? msg : others, "outcome", (int)outcome));
    b->chunks[chunk] = jtext_dumps(outs, JSON_COMPACT);
    json_decref(outs);
    b->all_plain = 0;
    if (!b->chunks[chunk]) {
        batch_set_failure(b, OUTCOME_NOMEM, 0, "MemoryError", "out of memory");
        return -1;
    }
    b->lens[chunk] = strlen(b->chunks[chunk]);
    return 0;
}

/* Finds the first failed item of a chunk's outcomes, for the problem. */
static void
batch_item_error(Batch *b, size_t chunk, const PoolResult *res)
{
    json_t *outs = json_loadb(res->data, res->len, 0, NULL);
    json_t *e = json_object_get(json_array_get(outs, res->first_fail), "e");

    /* A function's own deadline (an exec function's timeout) reads as
     * the call's would: its outcome says so. */
    batch_set_failure(b, batch_item_outcome(e), call_chunk_first(b->call, chunk) + res->first_fail,
                      json_string_value(json_object_get(e, "type")) ?: "Error",
                      json_string_value(json_object_get(e, "message")) ?: "");
    if (json_string_length(json_object_get(e, "traceback")))
        b->fail_traceback = strdup(json_string_value(json_object_get(e, "traceback")));
    json_decref(outs);
}

/* Under on_error "raise": 1 when a failure in chunk comes before the
 * one kept (or none is), and so is the one to answer. */
static int
batch_earlier(const Batch *b, size_t chunk)
{
    return b->outcome == OUTCOME_OK || call_chunk_first(b->call, chunk) < b->fail_index;
}

/* A chunk whose worker died running it: the batch's failure when it is
 * the earliest, or under on_error "collect" an error for each of its
 * items. Returns 1 when that alone decides the batch (out of memory). */
static int
batch_take_lost(Batch *b, size_t chunk, const PoolResult *res)
{
    char msg[WIRE_NOTE_MAX + 160];

    batch_lost_message(res, msg, sizeof(msg));
    if (!b->call->collect) {
        if (batch_earlier(b, chunk))
            batch_set_failure(b, OUTCOME_WORKER_LOST, call_chunk_first(b->call, chunk), "WorkerLost", msg);
        return 0;
    }
    return batch_collect_chunk(b, chunk, "WorkerLost", OUTCOME_WORKER_LOST, -1, msg, msg) < 0;
}

/* A chunk whose worker was stopped when an item ran past its timeout:
 * as batch_take_lost, that item named. */
static int
batch_take_late(Batch *b, size_t chunk, const PoolResult *res)
{
    char msg[256], others[320];
    size_t first = call_chunk_first(b->call, chunk);

    snprintf(msg, sizeof(msg), "the call ran past its timeout of %g s; %s (pid %d) was stopped",
             res->timeout, res->worker, (int)res->pid);
    if (!b->call->collect) {
        if (batch_earlier(b, chunk))
            batch_set_failure(b, OUTCOME_TIMED_OUT, first + res->late_item, "TimedOut", msg);
        return 0;
    }
    snprintf(others, sizeof(others), "lost with its chunk when item %zu ran past its timeout of %g s",
             first + (size_t)res->late_item, res->timeout);
    return batch_collect_chunk(b, chunk, "TimedOut", OUTCOME_TIMED_OUT, (long)res->late_item, msg, others) < 0;
}

/* 1 when the batch has its answer: every chunk back, or a failure kept
 * and every chunk up to it back (no earlier item can fail any more). */
static int
batch_decided(Batch *b)
{
    while (b->front < b->nchunks && (b->state[b->front] & BATCH_BACK))
        b->front++;
    if (b->pending == 0)
        return 1;
    return b->outcome != OUTCOME_OK && call_chunk_first(b->call, b->front) > b->fail_index;
}

/* Records one chunk's answer. Returns 1 when the batch is now decided. */
static int
batch_take(Batch *b, size_t chunk, PoolResult *res)
{
    size_t first = call_chunk_first(b->call, chunk);

    b->pending--;
    b->state[chunk] |= BATCH_BACK;
    if (res->worker[0]) {
        snprintf(b->worker, sizeof(b->worker), "%s", res->worker);
        b->pid = res->pid;
    }
    switch (res->status) {
    case POOL_OK:
        if (res->fails && !b->call->collect) {
            if (batch_earlier(b, chunk))
                batch_item_error(b, chunk, res);
            break;
        }
        b->chunks[chunk] = res->data;
        b->lens[chunk] = res->len;
        if (res->fails == 0)
            b->state[chunk] |= BATCH_PLAIN;
        b->all_plain &= res->fails == 0;
        res->data = NULL;
        break;
    case POOL_LOST:
    case POOL_TIMEOUT:
        /* Its worker was killed, or was being stopped, to cancel it. */
        if (__atomic_load_n(&b->cancelled, __ATOMIC_ACQUIRE))
            goto cancelled;
        if (res->status == POOL_LOST ? batch_take_lost(b, chunk, res) : batch_take_late(b, chunk, res))
            return 1;
        break;
    case POOL_CANCELLED:
    cancelled:
        batch_set_failure(b, OUTCOME_CANCELLED, first, "Cancelled", "the call was cancelled");
        return 1;
    case POOL_NOMEM:
        batch_set_failure(b, OUTCOME_NOMEM, first, "MemoryError", "out of memory while sending the task");
        return 1;
    case POOL_STOPPED:
        batch_set_failure(b, OUTCOME_STOPPED, first, "ShuttingDown", "poold is shutting down");
        return 1;
    case POOL_UNAVAILABLE:
        batch_set_failure(b, OUTCOME_UNAVAILABLE, first, "Unavailable",
                          "no worker could start to run it: workers keep dying at start-up (GET /readyz says why)");
        return 1;
    }
    __atomic_add_fetch(&b->items_done, call_chunk_len(b->call, chunk), __ATOMIC_RELAXED);
    return batch_decided(b);
}

/* A PoolDoneFn: runs on the dispatcher thread, one chunk at a time. */
static void
batch_chunk_done(void *ctx, size_t chunk, PoolResult *res)
{
    Batch *b = ctx;

    if (!b->finished && batch_take(b, chunk, res)) {
        b->finished = 1;
        /* Decided early (an item failed under "raise", and no earlier one
         * can): the chunks not started need not run. Running ones are
         * short-lived as a rule and are let finish: killing a worker
         * costs a fork. */
        if (b->pending > 0 && !__atomic_load_n(&b->cancelled, __ATOMIC_ACQUIRE))
            pool_cancel(b->pool, b->owner, 0);
        b->done(b, b->ctx);
    } else if (!b->finished && b->progress && b->pending > 0) {
        b->progress(b, b->ctx);
    }
    batch_unref(b);
}

void
batch_on_progress(Batch *b, BatchProgressFn progress)
{
    b->progress = progress;
}

/* A PoolStartFn: the first chunk to reach a worker starts the batch. */
static void
batch_chunk_start(void *ctx, size_t chunk, const char *worker, pid_t pid)
{
    Batch *b = ctx;

    (void)chunk;
    if (b->started || b->finished)
        return;
    b->started = 1;
    snprintf(b->worker, sizeof(b->worker), "%s", worker);
    b->pid = pid;
    if (b->start)
        b->start(b, b->ctx);
}

void
batch_cancel(Batch *b)
{
    __atomic_store_n(&b->cancelled, 1, __ATOMIC_RELEASE);
    pool_cancel(b->pool, b->owner, 1);
}

void
batch_progress(const Batch *b, size_t *done, size_t *total)
{
    *done = __atomic_load_n(&b->items_done, __ATOMIC_RELAXED);
    *total = call_items(b->call);
}

int
batch_start(Batch *b, Pool *p, int priority, BatchDoneFn done, BatchStartFn start, void *ctx)
{
    PoolTask **tasks = calloc(b->nchunks ? b->nchunks : 1, sizeof(*tasks));
    size_t i, n = 0;
    int rc = SVC_ENOMEM;

    if (!tasks)
        return SVC_ENOMEM;
    b->pool = p;
    b->done = done;
    b->start = start;
    b->ctx = ctx;
    b->pending = b->nchunks;
    for (i = 0; i < b->nchunks; i++, n++) {
        size_t len = 0;
        uint32_t mode = 0;
        char *payload = call_take_body(b->call, &len, &mode);
        if (!payload)
            payload = call_chunk_payload(b->call, i, &len, &mode);
        if (payload && len > WIRE_MAX_PAYLOAD) { /* re-encoded larger than its body */
            free(payload);
            rc = SVC_ETOOLARGE;
            goto cleanup;
        }
        if (!payload || !(tasks[i] = pool_task_new(payload, len, mode, priority, batch_chunk_done,
                                                   start ? batch_chunk_start : NULL, b, i, b->owner)))
            goto cleanup;
        pool_task_limits(tasks[i], b->call->timeout, b->call->retries);
        pool_task_meter(tasks[i], b->call->fn->id, call_chunk_len(b->call, i));
    }
    call_drop_values(b->call);
    /* Each task holds a reference, dropped in its callback, which may run
     * on the dispatcher before pool_submit even returns: take them first. */
    __atomic_add_fetch(&b->refs, (int)n, __ATOMIC_RELAXED);
    if ((rc = pool_submit(p, tasks, n)) == SVC_OK)
        n = 0;
    else
        __atomic_sub_fetch(&b->refs, (int)n, __ATOMIC_RELAXED); /* the creator's remains */
cleanup:
    for (i = 0; i < n; i++)
        pool_task_free(tasks[i]);
    free(tasks);
    return rc;
}

/* A map entry from an outcome: the value, or {"error": {"type",
 * "message", "status"}}, the status its outcome's. New ref. */
static json_t *
batch_item_value(json_t *outcome)
{
    json_t *r = json_object_get(outcome, "r"), *e;
    Outcome o;

    if (r)
        return json_incref(r);
    e = json_object_get(outcome, "e");
    o = batch_item_outcome(e);
    json_object_del(e, "outcome");
    if (json_object_set_new(e, "status", json_integer(http_status(o))) < 0)
        return NULL;
    return json_pack("{s:O}", "error", e);
}

/* Joins the chunks' bare-value arrays into one array (or, for apply, the
 * one value), by cutting their brackets: no parse, one copy. */
static char *
batch_splice(Batch *b, size_t *len)
{
    size_t total = 2, off = 0;
    char *out;

    if (b->call->op == CALL_APPLY) { /* "[v]" -> "v" */
        if (!(out = strndup(b->chunks[0] + 1, b->lens[0] - 2)))
            return NULL;
        *len = b->lens[0] - 2;
        return out;
    }
    for (size_t i = 0; i < b->nchunks; i++)
        total += b->lens[i] - 2 + (i > 0);
    if (!(out = malloc(total + 1)))
        return NULL;
    out[off++] = '[';
    for (size_t i = 0; i < b->nchunks; i++) {
        if (i > 0)
            out[off++] = ',';
        memcpy(out + off, b->chunks[i] + 1, b->lens[i] - 2);
        off += b->lens[i] - 2;
    }
    out[off++] = ']';
    out[off] = '\0';
    *len = off;
    return out;
}

/* Builds the answer from chunks some of which hold outcomes (a failure
 * collected in place). */
static char *
batch_assemble(Batch *b, size_t *len)
{
    json_t *results = json_array(), *outs = NULL, *o;
    char *text = NULL;
    size_t k;

    if (!results)
        return NULL;
    for (size_t i = 0; i < b->nchunks; i++) {
        if (!(outs = json_loadb(b->chunks[i], b->lens[i], 0, NULL)))
            goto cleanup;
        json_array_foreach(outs, k, o)
            if (json_array_append_new(results, b->state[i] & BATCH_PLAIN ? json_incref(o) : batch_item_value(o)) < 0)
                goto cleanup;
        json_decref(outs);
        outs = NULL;
    }
    if ((text = jtext_dumps(results, JSON_COMPACT)))
        *len = strlen(text);
cleanup:
    json_decref(outs);
    json_decref(results);
    return text;
}

char *
batch_result(Batch *b, BatchFailure *f, size_t *len)
{
    char *text;

    if (b->outcome != OUTCOME_OK) {
        f->outcome = b->outcome;
        f->index = b->fail_index;
        memcpy(f->type, b->fail_type, sizeof(f->type));
        batch_copy_text(f->message, sizeof(f->message), b->fail_message ? b->fail_message : "out of memory");
        batch_copy_text(f->traceback, sizeof(f->traceback), b->fail_traceback ? b->fail_traceback : "");
        return NULL;
    }
    text = b->all_plain ? batch_splice(b, len) : batch_assemble(b, len);
    if (!text) {
        memset(f, 0, sizeof(*f));
        f->outcome = OUTCOME_NOMEM;
        snprintf(f->type, sizeof(f->type), "MemoryError");
        snprintf(f->message, sizeof(f->message), "out of memory while assembling the results");
    }
    return text;
}

const char *
batch_worker(const Batch *b, pid_t *pid)
{
    *pid = b->pid;
    return b->worker;
}
