/*
 * pool_loop.c: crash loops, on the dispatcher thread: workers dying at
 * start-up, the backoff of their respawns, the start timeout, and the end
 * of a loop once a worker does well.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include "core/log.h"
#include "pool/pool_impl.h"

/* A worker ran a task, or stayed ready for POOL_READY_SETTLE: workers
 * start again, and the deaths before it no longer make a loop. */
void
pool_loop_over(Pool *p, const PoolWorker *w)
{
    if (!p->ndeaths && !p->backoff)
        return;
    if (p->backoff > 0)
        log_msg(LOG_INFO, "worker=ForkPoolWorker-%u is up: workers start again", w->number);
    pthread_mutex_lock(&p->lock);
    p->backoff = 0;
    p->loop_why[0] = '\0';
    pthread_mutex_unlock(&p->lock);
    p->ndeaths = 0;
    /* The others waiting out the backoff start now. */
    for (int i = 0; i < p->opt.processes; i++)
        if (p->workers[i].state == W_BACKOFF && p->workers[i].retry_at < POOL_NEVER)
            p->workers[i].retry_at = clock_mono();
}

/*
 * A worker died before it was sent a task (its initializers crashed or
 * hung, it could not start, it died idle). POOL_LOOP_DEATHS of those with
 * no worker doing well in between (pool_loop_over), or one that hung past
 * --worker-start-timeout, are a crash loop, where respawning at once would
 * only spin the CPU: each later spawn waits, twice as long for each round
 * of spawns that dies again, until a worker runs a task or stays up for
 * POOL_READY_SETTLE. While no worker is up, the queue is failed rather
 * than left to wait for one. Returns when w may be spawned again.
 */
double
pool_loop_death(Pool *p, const PoolWorker *w, const char *how)
{
    double now = clock_mono();
    int hung = w->doomed && !w->was_ready; /* killed by the start timeout */

    p->ndeaths++;
    /* Said by /readyz from the first death on, not only once it is a
     * loop: the operator waiting for a ready pool learns why at once. */
    pthread_mutex_lock(&p->lock);
    snprintf(p->loop_why, sizeof(p->loop_why), "ForkPoolWorker-%u %s", w->number, how);
    pthread_mutex_unlock(&p->lock);
    if (!p->backoff && p->ndeaths < POOL_LOOP_DEATHS && !hung)
        return now;
    if (!p->backoff || w->spawned_at >= p->backoff_at) { /* a new round died */
        pthread_mutex_lock(&p->lock);
        p->backoff = p->backoff > 0 ? p->backoff * 2 : POOL_LOOP_BACKOFF;
        if (p->backoff > POOL_LOOP_BACKOFF_MAX)
            p->backoff = POOL_LOOP_BACKOFF_MAX;
        p->backoff_at = now;
        pthread_mutex_unlock(&p->lock);
        log_msg(LOG_ERROR, "workers keep dying at start-up (%d deaths, the latest: worker=ForkPoolWorker-%u %s): "
                "waiting %g s before the next spawn", p->ndeaths, w->number, how, p->backoff);
    }
    if (!pool_any_ready(p))
        pool_task_end_queued(p, POOL_UNAVAILABLE);
    return now + p->backoff;
}

/* The crash loop's clock: a worker that takes too long to be ready is
 * killed (its death counts as one at start-up), and one that has stayed
 * ready long enough ends the loop. Returns when to look again. */
double
pool_loop_check(Pool *p, double now)
{
    double next = POOL_NEVER;

    for (int i = 0; i < p->opt.processes; i++) {
        PoolWorker *w = &p->workers[i];
        double due;
        if (w->state == W_STARTING && p->opt.start_timeout > 0) {
            due = w->spawned_at + p->opt.start_timeout;
            if (due <= now && !w->doomed) {
                log_msg(LOG_WARN, "worker=ForkPoolWorker-%u pid=%d is not ready after %g s: killing it",
                        w->number, (int)w->pid, p->opt.start_timeout);
                w->doomed = 1;
                w->cause = MX_START_TIMEOUT;
                pool_worker_signal(p, w, SIGKILL);
            } else if (due > now && due < next) {
                next = due;
            }
        } else if (w->state == W_READY && (p->ndeaths || p->backoff)) {
            due = w->ready_at + POOL_READY_SETTLE;
            if (due <= now)
                pool_loop_over(p, w);
            else if (due < next)
                next = due;
        }
    }
    return next;
}
