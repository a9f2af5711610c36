/*
 * pool_submit.c: handing tasks to the pool from any thread: queueing them
 * (all or none, within --max-queue, which counts every task waiting,
 * written ahead to a worker or not), room in the queue and who waits for
 * it, and the kick that wakes the dispatcher once per burst.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/log.h"
#include "pool/pool_impl.h"

/* Wakes the dispatcher, once per burst: see the comment in
 * pool_dispatch_run. */
void
pool_submit_kick(Pool *p)
{
    uint64_t one = 1;

    if (!__atomic_exchange_n(&p->kicked, 1, __ATOMIC_SEQ_CST) &&
        write(p->kick_fd, &one, sizeof(one)) < 0)
        log_errno(LOG_WARN, errno, "eventfd write");
}

/* Calls (lock not held) and frees waiters taken off p->room. */
void
pool_submit_room_fire(PoolRoomWaiter *w)
{
    for (PoolRoomWaiter *next; w; w = next) {
        next = w->next;
        w->fn(w->ctx);
        free(w);
    }
}

long
pool_submit_waiting(Pool *p)
{
    long n = (long)p->queue.len;

    /* Behind the task each worker runs, or is about to run, are those
     * written ahead: waiting all the same (--max-queue counts them). */
    for (int i = 0; i < p->opt.processes; i++) {
        int inflight = __atomic_load_n(&p->workers[i].inflight, __ATOMIC_RELAXED);
        n += inflight > 1 ? inflight - 1 : 0;
    }
    return n;
}

long
pool_submit_spare(Pool *p)
{
    long idle = 0;

    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < p->opt.processes; i++)
        idle += p->workers[i].state == W_READY && !p->workers[i].doomed &&
                __atomic_load_n(&p->workers[i].inflight, __ATOMIC_RELAXED) == 0;
    idle -= pool_submit_waiting(p);
    pthread_mutex_unlock(&p->lock);
    return idle;
}

size_t
pool_submit_room(Pool *p)
{
    long room;

    pthread_mutex_lock(&p->lock);
    room = p->opt.max_queue - pool_submit_waiting(p);
    pthread_mutex_unlock(&p->lock);
    return room > 0 ? (size_t)room : 0;
}

int
pool_submit_when_room(Pool *p, PoolRoomFn fn, void *ctx)
{
    PoolRoomWaiter *w = malloc(sizeof(*w));
    int rc = SVC_OK;

    if (!w)
        return SVC_ENOMEM;
    pthread_mutex_lock(&p->lock);
    if (p->stopping) {
        rc = SVC_ESTOPPED;
    } else if (pool_submit_waiting(p) < p->opt.max_queue) {
        rc = 1; /* room came meanwhile: nothing would fire for it */
    } else {
        *w = (PoolRoomWaiter){.next = p->room, .fn = fn, .ctx = ctx};
        p->room = w;
    }
    pthread_mutex_unlock(&p->lock);
    if (rc != SVC_OK)
        free(w);
    return rc;
}

int
pool_submit(Pool *p, PoolTask **tasks, size_t n)
{
    pthread_mutex_lock(&p->lock);
    if (p->stopping) {
        pthread_mutex_unlock(&p->lock);
        return SVC_ESTOPPED;
    }
    if ((long)n > p->opt.max_queue) {
        pthread_mutex_unlock(&p->lock);
        return SVC_E2BIG; /* could never fit: waiting would not help */
    }
    if (pool_submit_waiting(p) + (long)n > p->opt.max_queue) {
        pthread_mutex_unlock(&p->lock);
        return SVC_EFULL;
    }
    if (p->backoff > 0 && !pool_any_ready(p)) {
        /* Workers are crash-looping at start-up: the call would only wait
         * for a worker that may never come. */
        pthread_mutex_unlock(&p->lock);
        return SVC_EUNAVAIL;
    }
    for (size_t i = 0; i < n; i++)
        if (taskq_push(&p->queue, &tasks[i]->node) < 0) {
            while (i-- > 0)
                taskq_remove(&p->queue, &tasks[i]->node);
            pthread_mutex_unlock(&p->lock);
            return SVC_ENOMEM;
        }
    pthread_mutex_unlock(&p->lock);
    pool_submit_kick(p);
    return SVC_OK;
}
