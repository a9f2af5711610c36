/*
 * pool_dispatch.c: the dispatcher thread's loop: its wake-ups (a kick, the
 * fork server, a worker's socket, a timed duty), handing queued tasks to
 * workers, taking back what idle workers should run, the callbacks, and the
 * drain when the pool stops.
 *
 * One dispatcher thread owns the workers: their sockets, buffers and
 * in-flight tasks. Other threads touch only the queue (pool_submit) and read
 * the snapshot fields, both under p->lock. The dispatcher sleeps in
 * epoll_wait on the worker sockets, the fork server's socket and an eventfd
 * that pool_submit writes once per burst (p->kicked avoids a write per task).
 *
 * Each worker may hold up to POOL_DEPTH tasks, written together, which cuts
 * wake-ups per task under load. The claim words (wire.h) keep that from
 * hurting: when a worker goes idle and the queue is empty, the dispatcher
 * takes back tasks that busy workers have not started, and a dead worker's
 * unstarted tasks go back to the queue instead of failing.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/log.h"
#include "pool/pool_impl.h"

static PoolTask *
fifo_pop_done(TaskFifo *l)
{
    PoolTask *t = l->head;

    if (t && !(l->head = t->done_next))
        l->tail = NULL;
    return t;
}

static PoolTask *
fifo_pop_started(TaskFifo *l)
{
    PoolTask *t = l->head;

    if (t && !(l->head = t->start_next))
        l->tail = NULL;
    return t;
}

/* Picks the ready worker with the fewest tasks in flight (an idle one
 * first), starting after the last pick so that ties rotate, and one that
 * tasks were just taken back from only when no other has room. A worker
 * being stopped, or given its last task under --max-tasks-per-child, gets
 * none. -1 if none has room. */
static int
pool_pick(Pool *p)
{
    int best = -1;
    long max = p->opt.max_tasks_per_child;

    for (int k = 0; k < p->opt.processes; k++) {
        int i = (p->rr + 1 + k) % p->opt.processes;
        PoolWorker *w = &p->workers[i];
        if (w->state != W_READY || w->doomed || w->inflight >= POOL_DEPTH ||
            (max > 0 && w->assigned + (long)w->tasks_done >= max))
            continue;
        if (best < 0 || w->stolen_from < p->workers[best].stolen_from ||
            (w->stolen_from == p->workers[best].stolen_from && w->inflight < p->workers[best].inflight))
            best = i;
    }
    if (best >= 0)
        p->rr = best;
    return best;
}

/* A queued task of a higher priority than tasks written ahead to a
 * worker and not started overtakes them: they are taken back (the claim
 * decides, as for pool_steal), to go out again behind it. */
static void
pool_overtake(Pool *p)
{
    TaskqNode *top;
    int prio;

    pthread_mutex_lock(&p->lock);
    top = taskq_first(&p->queue);
    prio = top ? top->prio : INT_MIN;
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; top && i < p->opt.processes; i++) {
        PoolWorker *w = &p->workers[i];
        for (int k = 0; w->state == W_READY && !w->doomed && k < w->inflight; k++)
            if (p->slots[w->slots[k]].task->node.prio < prio) {
                pool_worker_take_back(p, w, k);
                break;
            }
    }
}

/* Moves queued tasks to workers with room; tells who waits for room in
 * the queue that it has some. */
static void
pool_assign(Pool *p)
{
    PoolRoomWaiter *room = NULL;
    int idx;
    PoolTask *t;

    pool_overtake(p);
    pthread_mutex_lock(&p->lock);
    while (p->queue.len && (idx = pool_pick(p)) >= 0) {
        t = (PoolTask *)taskq_pop(&p->queue);
        if (pool_task_send(p, idx, t) < 0) {
            /* Out of memory for its frame: end it rather than leave it at
             * the head of the queue, where it would block every other. */
            pool_task_finish(p, t, POOL_NOMEM);
            continue;
        }
        p->workers[idx].dirty = 1;
        pool_worker_name(&p->workers[idx], t->res.worker, sizeof(t->res.worker));
        t->res.pid = p->workers[idx].pid;
    }
    if (p->room && pool_submit_waiting(p) < p->opt.max_queue) {
        room = p->room;
        p->room = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    pool_submit_room_fire(room);
    /* One write per worker for the whole burst. */
    for (int i = 0; i < p->opt.processes; i++)
        if (p->workers[i].dirty) {
            p->workers[i].dirty = 0;
            pool_worker_flush(p, &p->workers[i], i);
        }
}

/*
 * Called right after pool_assign: a worker still idle then means nothing
 * is queued. Takes back the tasks that busy workers hold but have not
 * started, so that they run now instead of behind a long task. The first
 * task of each worker is left alone: it is running or about to. Returns
 * the number taken back.
 */
static int
pool_steal(Pool *p)
{
    int idle = 0, taken = 0;

    for (int i = 0; i < p->opt.processes; i++)
        idle |= p->workers[i].state == W_READY && p->workers[i].inflight == 0;
    if (!idle)
        return 0;
    for (int i = 0; i < p->opt.processes; i++) {
        int n = pool_worker_take_back(p, &p->workers[i], 1);
        if (n > 0)
            p->workers[i].stolen_from = 1;
        taken += n;
    }
    return taken;
}

/* Calls the callbacks of the tasks that started or ended, outside the
 * lock, in the order their frames came: a task that starts as the one
 * before it on its worker ends is told started after that one's end. */
static void
pool_run_callbacks(Pool *p)
{
    PoolTask *s, *d;

    for (;;) {
        s = p->started.head;
        d = p->done.head;
        if (!s && !d)
            break;
        if (s && (!d || s->start_seq < d->done_seq)) {
            fifo_pop_started(&p->started);
            s->start(s->ctx, s->index, s->res.worker, s->res.pid);
        } else {
            fifo_pop_done(&p->done);
            d->done(d->ctx, d->index, &d->res);
            pool_task_free(d);
        }
    }
}

/*
 * During a stop (Pool's close() then join()): the queue goes on running
 * until it is empty and nothing is in flight, or until the grace period is
 * over, or at once when no worker is left to run it. Then what remains
 * ends POOL_STOPPED and the workers are killed. Returns 1 when the
 * dispatcher may exit.
 */
static int
pool_drain(Pool *p)
{
    int busy = 0, alive = pool_any_ready(p);

    /* A worker starting, or waiting to be respawned, will serve; not in a
     * crash loop. */
    for (int i = 0; i < p->opt.processes; i++) {
        busy |= p->workers[i].inflight > 0;
        alive |= !p->backoff && (p->workers[i].state != W_BACKOFF || p->workers[i].retry_at < POOL_NEVER);
    }
    pthread_mutex_lock(&p->lock);
    busy |= p->queue.len > 0;
    pthread_mutex_unlock(&p->lock);
    if (busy && alive && clock_mono() < p->stop_deadline)
        return 0;
    pool_task_end_queued(p, POOL_STOPPED);
    for (int i = 0; i < p->opt.processes; i++) {
        PoolWorker *w = &p->workers[i];
        /* Killed while its slots still name what it runs
         * (pool_worker_signal). */
        if (w->state == W_STARTING || w->state == W_READY || w->state == W_DYING)
            pool_worker_signal(p, w, SIGKILL);
        for (int k = 0; k < w->inflight; k++) {
            pool_task_finish(p, p->slots[w->slots[k]].task, POOL_STOPPED);
            pool_task_release(p, w->slots[k]);
        }
        __atomic_store_n(&w->inflight, 0, __ATOMIC_RELAXED);
    }
    return 1;
}

/* Milliseconds until the next timed duty (a respawn, a deadline, a
 * SIGKILL after SIGTERM), for epoll_wait. */
static int
pool_timeout_ms(Pool *p, int stopping)
{
    double next = stopping ? clock_mono() + 0.05 : POOL_NEVER, now = clock_mono();

    for (int i = 0; i < p->opt.processes; i++) {
        PoolWorker *w = &p->workers[i];
        if (w->state == W_BACKOFF && w->retry_at < next)
            next = w->retry_at;
        if (w->check_at < next)
            next = w->check_at;
        if (w->kill_at < next)
            next = w->kill_at;
    }
    if (p->loop_at < next)
        next = p->loop_at;
    if (next >= POOL_NEVER)
        return -1;
    return next <= now ? 0 : (int)((next - now) * 1000) + 1;
}

/* The duties whose time has come: respawns, deadlines, SIGKILLs. */
static void
pool_timed_duties(Pool *p)
{
    double now = clock_mono();

    for (int i = 0; i < p->opt.processes; i++) {
        PoolWorker *w = &p->workers[i];
        if (w->state == W_BACKOFF && w->retry_at <= now)
            pool_worker_spawn(p, w);
        if (w->check_at <= now)
            pool_deadline_check(p, i, now);
        if (w->kill_at <= now) {
            w->kill_at = POOL_NEVER;
            if (w->pid > 0) {
                log_msg(LOG_WARN, "worker=ForkPoolWorker-%u pid=%d outlived SIGTERM by %.1f s: SIGKILL",
                        w->number, (int)w->pid, POOL_TERM_GRACE);
                pool_worker_signal(p, w, SIGKILL);
            }
        }
    }
    p->loop_at = pool_loop_check(p, now);
}

/* The dispatcher thread, which pool_start starts and pool_stop joins. */
void *
pool_dispatch_run(void *arg)
{
    Pool *p = arg;
    struct epoll_event evs[64];
    int stopping = 0;

    for (;;) {
        int n = epoll_wait(p->ep, evs, 64, pool_timeout_ms(p, stopping));
        for (int i = 0; i < n; i++) {
            uint32_t tag = evs[i].data.u32;
            if (tag == POOL_TAG_KICK) {
                uint64_t v;
                /* Drain first, then clear: a submit that sees kicked == 1
                 * queued its task before this store, and pool_assign below
                 * takes it; one that comes later writes the eventfd again.
                 * Clearing first would let a read swallow a later kick and
                 * leave kicked at 1 with nobody awake. */
                if (read(p->kick_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                    log_errno(LOG_WARN, errno, "eventfd read");
                __atomic_store_n(&p->kicked, 0, __ATOMIC_SEQ_CST);
            } else if (tag == POOL_TAG_FS) {
                pool_worker_fs_event(p);
            } else {
                pool_worker_event(p, (int)tag, evs[i].events);
            }
        }
        pool_timed_duties(p);
        stopping = __atomic_load_n(&p->stopping, __ATOMIC_ACQUIRE);
        if (stopping && pool_drain(p)) {
            pool_run_callbacks(p);
            break;
        }
        if (__atomic_load_n(&p->ncancels, __ATOMIC_ACQUIRE))
            pool_cancel_apply(p);
        pool_assign(p);
        if (pool_steal(p)) /* what it took back goes to the idle workers */
            pool_assign(p);
        pool_run_callbacks(p);
    }
    return NULL;
}
