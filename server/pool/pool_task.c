/*
 * pool_task.c: a task's own life in the pool: made and bounded by its
 * caller; written to a worker's claim slot and released from it; put back
 * in the queue; and ended, the one place every task ends and is counted.
 */
#include <pthread.h>
#include <stdlib.h>

#include "pool/pool_impl.h"

PoolTask *
pool_task_new(char *payload, size_t len, uint32_t mode, int priority,
              PoolDoneFn done, PoolStartFn start, void *ctx, size_t index,
              uint64_t owner)
{
    PoolTask *t = calloc(1, sizeof(*t));

    if (!t) {
        free(payload);
        return NULL;
    }
    t->payload = payload;
    t->len = len;
    t->mode = mode;
    t->done = done;
    t->start = start;
    t->ctx = ctx;
    t->index = index;
    t->owner = owner;
    t->node.prio = priority;
    return t;
}

void
pool_task_limits(PoolTask *t, double timeout, int retries)
{
    t->timeout = timeout;
    t->retries = retries;
}

void
pool_task_free(PoolTask *t)
{
    if (!t)
        return;
    free(t->payload);
    free(t->res.data);
    free(t->res.note);
    free(t);
}

void
pool_task_meter(PoolTask *t, unsigned func, uint64_t items)
{
    t->metered = 1;
    t->func = func;
    t->items = items;
}

static MetricsTaskStatus
pool_metric_status(PoolStatus s)
{
    switch (s) {
    case POOL_OK: return MT_SUCCEEDED;
    case POOL_LOST: return MT_WORKER_LOST;
    case POOL_TIMEOUT: return MT_TIMED_OUT;
    case POOL_CANCELLED: return MT_CANCELLED;
    case POOL_STOPPED:
    case POOL_NOMEM:
    case POOL_UNAVAILABLE: break;
    }
    return MT_NOT_RUN;
}

/* Ends a task: its callback runs after the dispatcher drops the lock.
 * Counted here, the one place every task ends. */
void
pool_task_finish(Pool *p, PoolTask *t, PoolStatus status)
{
    t->res.status = status;
    if (t->metered)
        metrics_task(t->func, t->items, status == POOL_OK ? t->res.fails : 0,
                     t->killed ? MT_CANCELLED : pool_metric_status(status), t->ran);
    t->done_seq = ++p->calls;
    FIFO_PUSH(&p->done, t, done_next);
}

/* Ends every queued task with status. Dispatcher thread. */
void
pool_task_end_queued(Pool *p, PoolStatus status)
{
    PoolTask *t;

    pthread_mutex_lock(&p->lock);
    while ((t = (PoolTask *)taskq_pop(&p->queue)))
        pool_task_finish(p, t, status);
    pthread_mutex_unlock(&p->lock);
}

/* Puts a task taken back from a worker at the head of its priority, to
 * run next. Dispatcher thread. */
void
pool_task_requeue(Pool *p, PoolTask *t)
{
    int rc;

    pthread_mutex_lock(&p->lock);
    rc = taskq_push_front(&p->queue, &t->node);
    pthread_mutex_unlock(&p->lock);
    if (rc < 0)
        pool_task_finish(p, t, POOL_LOST); /* no memory to queue it again */
}

int
pool_task_send(Pool *p, int idx, PoolTask *t)
{
    PoolWorker *w = &p->workers[idx];
    int s = p->free_slot;
    WireHeader h = {.len = (uint32_t)t->len, .kind = WIRE_TASK, .slot = (uint32_t)s,
                    .mode = t->mode, .seq = ++p->seq, .aux = (t->timeout > 0 ? WIRE_TASK_TIMED : 0) |
                                         (t->start && !t->announced ? WIRE_TASK_ANNOUNCE : 0)};

    if (t->len > WIRE_MAX_PAYLOAD || wire_put(&w->out, &h, t->payload) < 0)
        return -1;
    p->free_slot = p->slots[s].next_free;
    p->slots[s].task = t;
    p->slots[s].seq = h.seq;
    __atomic_store_n(&p->claims[s].since_ns, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&p->claims[s].item, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&p->claims[s].started_ns, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&p->claims[s].group, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&p->claims[s].word, WIRE_CLAIM_WORD(h.seq, WIRE_CLAIM_SENT), __ATOMIC_RELEASE);
    w->slots[w->inflight] = s;
    __atomic_add_fetch(&w->inflight, 1, __ATOMIC_RELAXED);
    w->assigned++;
    w->fed = 1;
    /* It cannot start before now: its deadline is no earlier. */
    if (t->timeout > 0 && clock_mono() + t->timeout < w->check_at)
        w->check_at = clock_mono() + t->timeout;
    return 0;
}

void
pool_task_release(Pool *p, int s)
{
    uint64_t began = __atomic_load_n(&p->claims[s].started_ns, __ATOMIC_RELAXED);

    /* How long its worker ran it, if it started: every way a task leaves
     * its worker comes through here. */
    if (p->slots[s].task && began)
        p->slots[s].task->ran = (double)(clock_ns() - began) / 1e9;
    p->slots[s].task = NULL;
    /* Its exec group, if any, is dead or dying: never kill that number
     * again (worker_kill_groups), since the kernel may reuse it. */
    __atomic_store_n(&p->claims[s].group, 0, __ATOMIC_RELEASE);
    p->slots[s].next_free = p->free_slot;
    p->free_slot = s;
}
