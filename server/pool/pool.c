/*
 * pool.c: see pool.h.
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
#include "pool/pool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
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
pool_finish(Pool *p, PoolTask *t, PoolStatus status)
{
    t->res.status = status;
    if (t->metered)
        metrics_task(t->func, t->items, status == POOL_OK ? t->res.fails : 0,
                     t->killed ? MT_CANCELLED : pool_metric_status(status), t->ran);
    FIFO_PUSH(&p->done, t, done_next);
}

/* Ends every queued task with status. Dispatcher thread. */
void
pool_end_queue(Pool *p, PoolStatus status)
{
    PoolTask *t;

    pthread_mutex_lock(&p->lock);
    while ((t = (PoolTask *)taskq_pop(&p->queue)))
        pool_finish(p, t, status);
    pthread_mutex_unlock(&p->lock);
}

/* Puts a task taken back from a worker at the head of its priority, to
 * run next. Dispatcher thread. */
void
pool_requeue(Pool *p, PoolTask *t)
{
    int rc;

    pthread_mutex_lock(&p->lock);
    rc = taskq_push_front(&p->queue, &t->node);
    pthread_mutex_unlock(&p->lock);
    if (rc < 0)
        pool_finish(p, t, POOL_LOST); /* no memory to queue it again */
}

static int
pool_send(Pool *p, int idx, PoolTask *t)
{
    PoolWorker *w = &p->workers[idx];
    int s = p->free_slot;
    WireHeader h = {.len = (uint32_t)t->len, .kind = WIRE_TASK, .slot = (uint32_t)s,
                    .mode = t->mode, .seq = ++p->seq, .aux = t->timeout > 0 ? WIRE_TASK_TIMED : 0};

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
pool_release_slot(Pool *p, int s)
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

/* Removes position i from w's in-flight list. */
void
pool_worker_drop(PoolWorker *w, int i)
{
    memmove(&w->slots[i], &w->slots[i + 1], (size_t)(w->inflight - i - 1) * sizeof(int));
    if (__atomic_sub_fetch(&w->inflight, 1, __ATOMIC_RELAXED) == 0)
        w->stolen_from = 0;
}

/*
 * Takes back w's tasks from position `from` on that it has not started
 * (the claim decides), to the head of the queue. Returns how many.
 */
int
pool_take_back(Pool *p, PoolWorker *w, int from)
{
    int taken = 0;

    for (int k = w->inflight - 1; k >= from; k--) {
        int s = w->slots[k];
        if (!wire_claim(&p->claims[s], p->slots[s].seq, WIRE_CLAIM_STOLEN))
            continue;
        pool_requeue(p, p->slots[s].task);
        pool_release_slot(p, s);
        pool_worker_drop(w, k);
        w->assigned--;
        taken++;
    }
    return taken;
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

/* Calls (lock not held) and frees waiters taken off p->room. */
static void
pool_room_fire(PoolRoomWaiter *w)
{
    for (PoolRoomWaiter *next; w; w = next) {
        next = w->next;
        w->fn(w->ctx);
        free(w);
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

    pthread_mutex_lock(&p->lock);
    while (p->queue.len && (idx = pool_pick(p)) >= 0) {
        t = (PoolTask *)taskq_pop(&p->queue);
        if (pool_send(p, idx, t) < 0) {
            /* Out of memory for its frame: end it rather than leave it at
             * the head of the queue, where it would block every other. */
            pool_finish(p, t, POOL_NOMEM);
            continue;
        }
        p->workers[idx].dirty = 1;
        pool_worker_name(&p->workers[idx], t->res.worker, sizeof(t->res.worker));
        t->res.pid = p->workers[idx].pid;
        if (t->start && !t->announced) {
            t->announced = 1;
            FIFO_PUSH(&p->started, t, start_next);
        }
    }
    if (p->room && (long)p->queue.len < p->opt.max_queue) {
        room = p->room;
        p->room = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    pool_room_fire(room);
    /* One write per worker for the whole burst. */
    for (int i = 0; i < p->opt.processes; i++)
        if (p->workers[i].dirty) {
            p->workers[i].dirty = 0;
            pool_flush(p, &p->workers[i], i);
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
        int n = pool_take_back(p, &p->workers[i], 1);
        if (n > 0)
            p->workers[i].stolen_from = 1;
        taken += n;
    }
    return taken;
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
            pool_release_slot(p, s);
            pool_worker_drop(w, k);
            w->assigned--;
            pool_finish(p, t, POOL_CANCELLED);
        } else {
            runs |= c->kill;
        }
    }
    if (!runs)
        return;
    pool_take_back(p, w, 0);
    pool_worker_event(p, idx, EPOLLIN);
    for (int k = 0; w->state == W_READY && k < w->inflight; k++) {
        PoolTask *t = p->slots[w->slots[k]].task;
        if (pool_cancelled(cs, n, t->owner)) {
            log_msg(LOG_INFO, "killing worker=ForkPoolWorker-%u pid=%d: its task was cancelled", w->number,
                    (int)w->pid);
            t->killed = 1;
            pool_stop_worker(p, w, SIGKILL, MX_CANCEL); /* EOF and the exit report follow */
            break;
        }
    }
}

/* Carries out pool_cancel: queued tasks first, then each worker's. */
static void
pool_apply_cancels(Pool *p)
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
            pool_finish(p, (PoolTask *)cur, POOL_CANCELLED);
        }
    }
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; n && i < p->opt.processes; i++)
        if (p->workers[i].state == W_READY && p->workers[i].inflight > 0)
            pool_cancel_on_worker(p, i, cs, n);
    free(cs);
}

/* Calls the callbacks of the tasks that ended, outside the lock. */
static void
pool_run_callbacks(Pool *p)
{
    PoolTask *t;

    while ((t = fifo_pop_started(&p->started)))
        t->start(t->ctx, t->index, t->res.worker, t->res.pid);
    while ((t = fifo_pop_done(&p->done))) {
        t->done(t->ctx, t->index, &t->res);
        pool_task_free(t);
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
    pool_end_queue(p, POOL_STOPPED);
    for (int i = 0; i < p->opt.processes; i++) {
        PoolWorker *w = &p->workers[i];
        /* Killed while its slots still name what it runs (pool_signal). */
        if (w->state == W_STARTING || w->state == W_READY || w->state == W_DYING)
            pool_signal(p, w, SIGKILL);
        for (int k = 0; k < w->inflight; k++) {
            pool_finish(p, p->slots[w->slots[k]].task, POOL_STOPPED);
            pool_release_slot(p, w->slots[k]);
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
            pool_spawn(p, w);
        if (w->check_at <= now)
            pool_check_deadlines(p, i, now);
        if (w->kill_at <= now) {
            w->kill_at = POOL_NEVER;
            if (w->pid > 0) {
                log_msg(LOG_WARN, "worker=ForkPoolWorker-%u pid=%d outlived SIGTERM by %.1f s: SIGKILL",
                        w->number, (int)w->pid, POOL_TERM_GRACE);
                pool_signal(p, w, SIGKILL);
            }
        }
    }
    p->loop_at = pool_loop_check(p, now);
}

static void *
pool_run(void *arg)
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
                pool_fs_event(p);
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
            pool_apply_cancels(p);
        pool_assign(p);
        if (pool_steal(p)) /* what it took back goes to the idle workers */
            pool_assign(p);
        pool_run_callbacks(p);
    }
    return NULL;
}

Pool *
pool_new(const PoolOptions *o)
{
    Pool *p = calloc(1, sizeof(*p));
    int e = ENOMEM;

    if (!p)
        return NULL;
    p->opt = *o;
    pthread_mutex_init(&p->lock, NULL);
    p->kick_fd = p->ep = p->fs.fd = -1;
    p->nslots = o->processes * POOL_DEPTH;
    p->workers = calloc((size_t)o->processes, sizeof(*p->workers));
    p->slots = calloc((size_t)p->nslots, sizeof(*p->slots));
    /* Shared with every worker through fork: the claim words. */
    p->claims = mmap(NULL, (size_t)p->nslots * sizeof(WireClaim), PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p->claims == MAP_FAILED) {
        e = errno;
        p->claims = NULL;
    }
    if (!p->workers || !p->slots || !p->claims)
        goto fail;
    for (int s = 0; s < p->nslots; s++)
        p->slots[s].next_free = s + 1 < p->nslots ? s + 1 : -1;
    p->loop_at = POOL_NEVER;
    for (int i = 0; i < o->processes; i++) {
        p->workers[i].fd = p->workers[i].pidfd = -1;
        p->workers[i].check_at = p->workers[i].kill_at = POOL_NEVER;
    }
    p->env = (WorkerEnv){.reg = o->reg, .claims = p->claims, .nclaims = (size_t)p->nslots,
                         .memory_limit = o->worker_memory, .cpu_limit = o->worker_cpu};
    if (forkserver_start(&p->fs, worker_main, worker_kill_groups, &p->env) < 0) {
        e = errno;
        goto fail;
    }
    return p;
fail:
    pool_free(p);
    errno = e;
    return NULL;
}

int
pool_start(Pool *p)
{
    struct epoll_event ev = {.events = EPOLLIN};

    if ((p->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
        (p->ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
        return SVC_ERROR;
    ev.data.u32 = POOL_TAG_KICK;
    epoll_ctl(p->ep, EPOLL_CTL_ADD, p->kick_fd, &ev);
    ev.data.u32 = POOL_TAG_FS;
    epoll_ctl(p->ep, EPOLL_CTL_ADD, p->fs.fd, &ev);
    for (int i = 0; i < p->opt.processes; i++)
        pool_spawn(p, &p->workers[i]);
    if (pthread_create(&p->thread, NULL, pool_run, p) != 0)
        return SVC_ERROR;
    p->thread_started = 1;
    return SVC_OK;
}

/* 1 when a worker takes tasks. Under the lock, or on the dispatcher
 * (which alone writes the states). */
int
pool_any_ready(Pool *p)
{
    for (int i = 0; i < p->opt.processes; i++)
        if (p->workers[i].state == W_READY)
            return 1;
    return 0;
}

/* Wakes the dispatcher, once per burst: see the comment in pool_run. */
static void
pool_kick(Pool *p)
{
    uint64_t one = 1;

    if (!__atomic_exchange_n(&p->kicked, 1, __ATOMIC_SEQ_CST) &&
        write(p->kick_fd, &one, sizeof(one)) < 0)
        log_errno(LOG_WARN, errno, "eventfd write");
}

size_t
pool_room(Pool *p)
{
    long room;

    pthread_mutex_lock(&p->lock);
    room = p->opt.max_queue - (long)p->queue.len;
    pthread_mutex_unlock(&p->lock);
    return room > 0 ? (size_t)room : 0;
}

int
pool_when_room(Pool *p, PoolRoomFn fn, void *ctx)
{
    PoolRoomWaiter *w = malloc(sizeof(*w));
    int rc = SVC_OK;

    if (!w)
        return SVC_ENOMEM;
    pthread_mutex_lock(&p->lock);
    if (p->stopping) {
        rc = SVC_ESTOPPED;
    } else if ((long)p->queue.len < p->opt.max_queue) {
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
    if ((long)(p->queue.len + n) > p->opt.max_queue) {
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
    pool_kick(p);
    return SVC_OK;
}

uint64_t
pool_owner_new(void)
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
        pool_kick(p);
    return rc;
}

json_t *
pool_snapshot(Pool *p)
{
    static const char *const states[] = {"starting", "starting", "ready", "dying", "waiting"};
    json_t *workers = json_array(), *out;
    long running = 0, sent = 0;
    char name[32];

    /* The claim words say what workers hold: started, or written ahead
     * and waiting in their socket (which is queueing, not running). */
    for (int s = 0; s < p->nslots; s++) {
        uint64_t word = __atomic_load_n(&p->claims[s].word, __ATOMIC_RELAXED);
        running += (word & 3) == WIRE_CLAIM_STARTED;
        sent += (word & 3) == WIRE_CLAIM_SENT;
    }
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < p->opt.processes; i++) {
        PoolWorker *w = &p->workers[i];
        int inflight = __atomic_load_n(&w->inflight, __ATOMIC_RELAXED);
        const char *state = states[w->state];
        if (w->state == W_READY)
            state = inflight > 0 ? "busy" : "idle";
        pool_worker_name(w, name, sizeof(name));
        json_array_append_new(workers, json_pack("{s:s, s:i, s:s, s:I, s:i}", "name", name,
                                                 "pid", (int)w->pid, "state", state, "tasks_done",
                                                 (json_int_t)__atomic_load_n(&w->tasks_done, __ATOMIC_RELAXED),
                                                 "in_flight", inflight));
    }
    out = json_pack("{s:i, s:o, s:{s:I, s:I, s:I, s:I}}", "processes", p->opt.processes, "workers", workers,
                    "queue", "queued", (json_int_t)p->queue.len, "sent", (json_int_t)sent,
                    "running", (json_int_t)running, "max", (json_int_t)p->opt.max_queue);
    pthread_mutex_unlock(&p->lock);
    return out;
}

int
pool_failed(Pool *p)
{
    return __atomic_load_n(&p->fs_dead, __ATOMIC_RELAXED);
}

int
pool_ready(Pool *p, char *why, size_t len)
{
    int ready;

    pthread_mutex_lock(&p->lock);
    ready = pool_any_ready(p);
    if (p->stopping || pool_failed(p))
        snprintf(why, len, "poold is shutting down");
    else if (p->backoff > 0)
        snprintf(why, len, "workers keep dying at start-up (%s); the next spawn waits %g s",
                 p->loop_why, p->backoff);
    else if (!ready)
        snprintf(why, len, "no worker is ready yet");
    else
        why[0] = '\0';
    pthread_mutex_unlock(&p->lock);
    return why[0] == '\0';
}

void
pool_stop(Pool *p, double grace)
{
    PoolRoomWaiter *room;
    uint64_t one = 1;

    if (!p || !p->thread_started)
        return;
    pthread_mutex_lock(&p->lock);
    __atomic_store_n(&p->stopping, 1, __ATOMIC_RELEASE);
    p->stop_deadline = clock_mono() + grace;
    pthread_mutex_unlock(&p->lock);
    if (write(p->kick_fd, &one, sizeof(one)) < 0)
        log_errno(LOG_WARN, errno, "eventfd write");
    pthread_join(p->thread, NULL);
    p->thread_started = 0;
    pthread_mutex_lock(&p->lock);
    room = p->room;
    p->room = NULL;
    pthread_mutex_unlock(&p->lock);
    pool_room_fire(room); /* they find the pool stopped */
}

void
pool_free(Pool *p)
{
    PoolTask *t;

    if (!p)
        return;
    pool_stop(p, 0);
    for (int i = 0; p->workers && i < p->opt.processes; i++) {
        if (p->workers[i].fd >= 0)
            close(p->workers[i].fd);
        if (p->workers[i].pidfd >= 0)
            close(p->workers[i].pidfd);
        wire_buf_free(&p->workers[i].in);
        wire_buf_free(&p->workers[i].out);
    }
    if (p->fs.fd >= 0)
        forkserver_stop(&p->fs);
    while ((t = (PoolTask *)taskq_pop(&p->queue)))
        pool_task_free(t);
    taskq_free(&p->queue);
    free(p->cancels);
    if (p->kick_fd >= 0)
        close(p->kick_fd);
    if (p->ep >= 0)
        close(p->ep);
    if (p->claims)
        munmap(p->claims, (size_t)p->nslots * sizeof(WireClaim));
    pthread_mutex_destroy(&p->lock);
    free(p->slots);
    free(p->workers);
    free(p);
}
