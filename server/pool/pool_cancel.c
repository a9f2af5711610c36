/*
 * pool_cancel.c: cancelling a caller's tasks by owner. pool_cancel records
 * the request from any thread; the dispatcher carries it out, on the queue
 * first, then on each worker, killing one only when the cancel asks it to
 * and its task has started.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "core/log.h"
#include "pool/pool_impl.h"

uint64_t
pool_cancel_owner_new(void)
{
    static uint64_t owners;

    return __atomic_add_fetch(&owners, 1, __ATOMIC_RELAXED);
}

int
pool_cancel(Pool *p, uint64_t owner, int kill_running)
{
    int rc = SVC_OK;

    pthread_mutex_lock(&p->lock);
    if (p->ncancels == p->capcancels) {
        size_t cap = p->capcancels ? p->capcancels * 2 : 8;
        PoolCancel *grown = realloc(p->cancels, cap * sizeof(*grown));
        if (grown) {
            p->cancels = grown;
            p->capcancels = cap;
        } else {
            rc = SVC_ENOMEM;
        }
    }
    if (rc == SVC_OK) {
        p->cancels[p->ncancels] = (PoolCancel){.owner = owner, .kill = kill_running};
        /* The dispatcher's loop reads the count without the lock. */
        __atomic_store_n(&p->ncancels, p->ncancels + 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&p->lock);
    if (rc == SVC_OK)
        pool_submit_kick(p);
    return rc;
}

/* The cancel naming owner, or NULL. */
static const PoolCancel *
pool_cancelled(const PoolCancel *cs, size_t n, uint64_t owner)
{
    for (size_t i = 0; i < n; i++)
        if (cs[i].owner == owner)
            return &cs[i];
    return NULL;
}

/*
 * Cancels on one worker: its unstarted tasks of the named owners end
 * POOL_CANCELLED. If one of them is running and its cancel asks for the
 * kill, the worker must run nothing else when the SIGKILL lands: its
 * other unstarted tasks go back to the queue, its socket is read for a
 * result that already came, and only a task still unanswered is killed.
 */
static void
pool_cancel_on_worker(Pool *p, int idx, const PoolCancel *cs, size_t n)
{
    PoolWorker *w = &p->workers[idx];
    int runs = 0;

    for (int k = w->inflight - 1; k >= 0; k--) {
        int s = w->slots[k];
        PoolTask *t = p->slots[s].task;
        const PoolCancel *c = pool_cancelled(cs, n, t->owner);
        if (!c)
            continue;
        if (wire_claim(&p->claims[s], p->slots[s].seq, WIRE_CLAIM_STOLEN)) {
            pool_task_release(p, s);
            pool_worker_drop(w, k);
            w->assigned--;
            pool_task_finish(p, t, POOL_CANCELLED);
        } else {
            runs |= c->kill;
        }
    }
    if (!runs)
        return;
    pool_worker_take_back(p, w, 0);
    pool_worker_event(p, idx, EPOLLIN);
    for (int k = 0; w->state == W_READY && k < w->inflight; k++) {
        PoolTask *t = p->slots[w->slots[k]].task;
        if (pool_cancelled(cs, n, t->owner)) {
            log_msg(LOG_INFO, "killing worker=ForkPoolWorker-%u pid=%d: its task was cancelled", w->number,
                    (int)w->pid);
            t->killed = 1;
            pool_worker_stop(p, w, SIGKILL, MX_CANCEL); /* EOF and the exit report follow */
            break;
        }
    }
}

/* Carries out pool_cancel: queued tasks first, then each worker's. */
void
pool_cancel_apply(Pool *p)
{
    PoolCancel *cs;
    size_t n;

    pthread_mutex_lock(&p->lock);
    cs = p->cancels;
    n = p->ncancels;
    p->cancels = NULL;
    p->capcancels = 0;
    __atomic_store_n(&p->ncancels, 0, __ATOMIC_RELEASE);
    for (TaskqNode *cur = n ? taskq_first(&p->queue) : NULL, *next; cur; cur = next) {
        next = taskq_next(&p->queue, cur);
        if (pool_cancelled(cs, n, ((PoolTask *)cur)->owner)) {
            taskq_remove(&p->queue, cur);
            pool_task_finish(p, (PoolTask *)cur, POOL_CANCELLED);
        }
    }
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; n && i < p->opt.processes; i++)
        if (p->workers[i].state == W_READY && p->workers[i].inflight > 0)
            pool_cancel_on_worker(p, i, cs, n);
    free(cs);
}
