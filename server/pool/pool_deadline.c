/*
 * pool_deadline.c: the timeouts of tasks, on the dispatcher thread: when
 * to look at a worker's timed tasks, and stopping the worker whose task
 * ran past its deadline.
 */
#include <signal.h>
#include <sys/epoll.h>

#include "core/log.h"
#include "pool/pool_impl.h"

/* Task t, which worker idx runs, is past its deadline. */
static void
pool_deadline_passed(Pool *p, int idx, PoolTask *t)
{
    PoolWorker *w = &p->workers[idx];

    pool_worker_take_back(p, w, 0);
    pool_worker_event(p, idx, EPOLLIN); /* its result may be in already */
    for (int k = 0; w->state == W_READY && k < w->inflight; k++)
        if (p->slots[w->slots[k]].task == t) {
            log_msg(LOG_WARN, "a task ran past its timeout of %g s on worker=ForkPoolWorker-%u pid=%d: SIGTERM",
                    t->timeout, w->number, (int)w->pid);
            t->timed_out = 1;
            pool_worker_stop(p, w, SIGTERM, MX_TIMEOUT);
            return;
        }
}

/*
 * Looks at the deadlines of the timed tasks worker idx holds. One that
 * started its current item more than its timeout ago is past it: the
 * worker's other tasks go back to the queue, a result already in its
 * socket is taken, and if the task is still unanswered the worker gets
 * SIGTERM (then SIGKILL, pool_timed_duties) and the task will end
 * POOL_TIMEOUT. Otherwise the next look is set for the earliest deadline.
 */
void
pool_deadline_check(Pool *p, int idx, double now)
{
    PoolWorker *w = &p->workers[idx];
    double next = POOL_NEVER;

    w->check_at = POOL_NEVER;
    if (w->state != W_READY || w->doomed)
        return;
    for (int k = 0; k < w->inflight; k++) {
        int s = w->slots[k];
        PoolTask *t = p->slots[s].task;
        uint64_t word = __atomic_load_n(&p->claims[s].word, __ATOMIC_ACQUIRE), item, since;
        double due;
        if (t->timeout <= 0)
            continue;
        if (word != WIRE_CLAIM_WORD(p->slots[s].seq, WIRE_CLAIM_STARTED)) {
            due = now + t->timeout; /* not started: no earlier than that */
        } else {
            item = __atomic_load_n(&p->claims[s].item, __ATOMIC_ACQUIRE);
            since = __atomic_load_n(&p->claims[s].since_ns, __ATOMIC_ACQUIRE);
            /* 0: started, its first item's time not yet written. */
            due = (since ? (double)since / 1e9 : now) + t->timeout;
            if (due <= now) {
                t->res.late_item = item;
                t->res.timeout = t->timeout;
                pool_deadline_passed(p, idx, t);
                return;
            }
        }
        if (due < next)
            next = due;
    }
    w->check_at = next;
}
