/*
 * pool_worker.c: the lives of the pool's workers, on the dispatcher
 * thread: asking the fork server for them, writing their frames, reading
 * their results, and noticing their deaths (EOF on the socket, the fork
 * server's exit report) to requeue or fail what they held.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "pool/pool_impl.h"

/* A copy of the name pool_spawn wrote: every task carries its worker's
 * name, and formatting it each time was a dispatcher's hot spot. */
void
pool_worker_name(const PoolWorker *w, char *buf, size_t len)
{
    size_t n = strnlen(w->name, len - 1);

    memcpy(buf, w->name, n);
    buf[n] = '\0';
}

/* Changes w's state under the lock, as snapshots read it. */
void
pool_set_state(Pool *p, PoolWorker *w, WorkerState state)
{
    pthread_mutex_lock(&p->lock);
    w->state = state;
    pthread_mutex_unlock(&p->lock);
}

/* Asks the fork server for a new worker in w's place. */
void
pool_spawn(Pool *p, PoolWorker *w)
{
    pthread_mutex_lock(&p->lock);
    w->number = ++p->next_number;
    snprintf(w->name, sizeof(w->name), "ForkPoolWorker-%u", w->number);
    w->pid = 0;
    w->state = W_SPAWNING;
    __atomic_store_n(&w->tasks_done, 0, __ATOMIC_RELAXED); /* a new process starts at 0 */
    pthread_mutex_unlock(&p->lock);
    w->assigned = 0;
    w->doomed = w->retiring = w->was_ready = w->fed = 0;
    w->cause = MX_CRASH;
    w->check_at = w->kill_at = POOL_NEVER;
    w->spawned_at = clock_mono();
    if (p->fs_dead || forkserver_spawn(&p->fs, w->number) < 0) {
        if (!p->fs_dead)
            log_errno(LOG_ERROR, errno, "cannot ask the fork server for ForkPoolWorker-%u", w->number);
        w->retry_at = p->fs_dead ? POOL_NEVER : clock_mono() + POOL_RESPAWN_DELAY;
        pool_set_state(p, w, W_BACKOFF);
    }
}

int
pool_flush(Pool *p, PoolWorker *w, int idx)
{
    while (w->out.off < w->out.len) {
        ssize_t n = write(w->fd, w->out.data + w->out.off, w->out.len - w->out.off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0)
            return -1; /* the worker is gone; EPOLLHUP will tell */
        w->out.off += (size_t)n;
    }
    int want = w->out.off < w->out.len;
    if (want != w->want_out) {
        struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.u32 = (uint32_t)idx};
        epoll_ctl(p->ep, EPOLL_CTL_MOD, w->fd, &ev);
        w->want_out = want;
    }
    return 0;
}

/* Closes w's socket: it gets nothing more, and is DYING until the fork
 * server reports its exit. */
static void
pool_worker_close(Pool *p, PoolWorker *w)
{
    epoll_ctl(p->ep, EPOLL_CTL_DEL, w->fd, NULL);
    close(w->fd);
    w->fd = -1;
    wire_buf_free(&w->in);
    wire_buf_free(&w->out);
    w->want_out = 0;
    pool_set_state(p, w, W_DYING);
}

/* A worker ran a task, or stayed ready for POOL_READY_SETTLE: workers
 * start again, and the deaths before it no longer make a loop. */
static void
pool_loop_over(Pool *p, const PoolWorker *w)
{
    if (!p->ndeaths && !p->backoff)
        return;
    if (p->backoff > 0)
        log_msg(LOG_INFO, "worker=ForkPoolWorker-%u is up: workers start again", w->number);
    pthread_mutex_lock(&p->lock);
    p->backoff = 0;
    pthread_mutex_unlock(&p->lock);
    p->ndeaths = 0;
    /* The others waiting out the backoff start now. */
    for (int i = 0; i < p->opt.processes; i++)
        if (p->workers[i].state == W_BACKOFF && p->workers[i].retry_at < POOL_NEVER)
            p->workers[i].retry_at = clock_mono();
}

/* The worker ran its initializers and takes tasks. */
static void
pool_worker_ready(Pool *p, PoolWorker *w)
{
    w->was_ready = 1;
    w->ready_at = clock_mono();
    pool_set_state(p, w, W_READY);
    log_msg(LOG_INFO, "worker=ForkPoolWorker-%u pid=%d ready, %.1f ms after it was asked for", w->number,
            (int)w->pid, (w->ready_at - w->spawned_at) * 1000);
}

void
pool_signal(Pool *p, PoolWorker *w, int sig)
{
    if (w->pidfd >= 0)
        pidfd_send_signal(w->pidfd, sig, NULL, 0);
    else if (w->pid > 0)
        kill(w->pid, sig);
    /* SIGTERM lets the worker take its exec function's group down itself
     * (exec.c); SIGKILL cannot, so the group goes too. After the worker:
     * once SIGKILL is sent it runs no more code, so it cannot start a new
     * group after the claims were read. */
    for (int k = 0; sig == SIGKILL && k < w->inflight; k++) {
        int64_t g = __atomic_load_n(&p->claims[w->slots[k]].group, __ATOMIC_ACQUIRE);
        if (g > 0)
            kill(-(pid_t)g, SIGKILL); /* an exec function's whole group */
    }
}

/* Under --max-tasks-per-child, a worker whose last task is back is let go:
 * closing its socket makes it exit; its exit report brings the next. */
static void
pool_worker_retire(Pool *p, PoolWorker *w)
{
    log_msg(LOG_INFO, "worker=ForkPoolWorker-%u pid=%d retires after %lu tasks (--max-tasks-per-child)",
            w->number, (int)w->pid, w->tasks_done);
    w->retiring = 1;
    w->cause = MX_MAX_TASKS;
    pool_worker_close(p, w);
}

static void
pool_result(Pool *p, PoolWorker *w, const WireHeader *h, const char *payload)
{
    int s = (int)h->slot, i;
    PoolTask *t;

    if (h->kind == WIRE_READY && w->state == W_STARTING) {
        pool_worker_ready(p, w);
        return;
    }
    for (i = 0; i < w->inflight && w->slots[i] != s; i++)
        ;
    if (h->kind != WIRE_RESULT || i == w->inflight || p->slots[s].seq != h->seq) {
        log_msg(LOG_WARN, "worker=ForkPoolWorker-%u sent a result for no task of its own (slot %d)", w->number, s);
        return;
    }
    t = p->slots[s].task;
    pool_worker_drop(w, i);
    pool_release_slot(p, s);
    w->assigned--;
    __atomic_store_n(&p->claims[s].word, WIRE_CLAIM_WORD(h->seq, WIRE_CLAIM_FREE), __ATOMIC_RELEASE);
    __atomic_add_fetch(&w->tasks_done, 1, __ATOMIC_RELAXED);
    pool_loop_over(p, w);
    if (t->timed_out) { /* answered after SIGTERM: past its deadline all the same */
        pool_finish(p, t, POOL_TIMEOUT);
        return;
    }
    if (!(t->res.data = malloc(h->len + 1))) {
        pool_finish(p, t, POOL_LOST); /* no memory for the answer: report, don't crash */
        return;
    }
    memcpy(t->res.data, payload, h->len);
    t->res.data[h->len] = '\0';
    t->res.len = h->len;
    t->res.fails = h->mode;
    t->res.first_fail = h->aux;
    pool_worker_name(w, t->res.worker, sizeof(t->res.worker));
    t->res.pid = w->pid;
    pool_finish(p, t, POOL_OK);
}

static void pool_worker_exited(Pool *p, pid_t pid, int st);
static int pool_worker_running(Pool *p, const PoolWorker *w);

/*
 * The worker's socket closed or failed: it is dead or dying. Kill it to be
 * sure, put its unstarted tasks back in the queue, and keep the started
 * one until the fork server reports how the worker ended.
 */
static void
pool_worker_eof(Pool *p, PoolWorker *w)
{
    int from = 0;

    if (w->state != W_READY && w->state != W_STARTING)
        return;
    pool_signal(p, w, SIGKILL);
    pool_worker_close(p, w);
    /* Running nothing, it died reading its next task: perhaps of that
     * task (a frame too large for --worker-memory-limit). After
     * POOL_MAX_BOUNCES such deaths the task stays, to end worker_lost,
     * instead of killing worker after worker. */
    if (w->inflight > 0 && !pool_worker_running(p, w)) {
        PoolTask *t = p->slots[w->slots[0]].task;
        if (++t->bounces >= POOL_MAX_BOUNCES)
            from = 1;
    }
    pool_take_back(p, w, from);
    if (p->fs_dead) /* no exit report will come: end it now */
        pool_worker_exited(p, w->pid, -1);
}

/* 1 when one of w's tasks has started. */
static int
pool_worker_running(Pool *p, const PoolWorker *w)
{
    for (int k = 0; k < w->inflight; k++) {
        int s = w->slots[k];
        if (__atomic_load_n(&p->claims[s].word, __ATOMIC_ACQUIRE) ==
            WIRE_CLAIM_WORD(p->slots[s].seq, WIRE_CLAIM_STARTED))
            return 1;
    }
    return 0;
}

/* Says how a worker ended, in the log. */
static void
pool_log_exit(const PoolWorker *w, pid_t pid, int st, char *buf, size_t len)
{
    if (st == -1)
        snprintf(buf, len, "gone with the fork server");
    else if (WIFSIGNALED(st))
        snprintf(buf, len, "killed by signal %d (SIG%s)", WTERMSIG(st), sigabbrev_np(WTERMSIG(st)) ?: "?");
    else
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
    if (w->retiring)
        log_msg(LOG_DEBUG, "worker=ForkPoolWorker-%u pid=%d %s", w->number, (int)pid, buf);
    else
        log_msg(LOG_WARN, "worker=ForkPoolWorker-%u pid=%d %s", w->number, (int)pid, buf);
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
static double
pool_startup_death(Pool *p, const PoolWorker *w, const char *how)
{
    double now = clock_mono();
    int hung = w->doomed && !w->was_ready; /* killed by the start timeout */

    p->ndeaths++;
    if (!p->backoff && p->ndeaths < POOL_LOOP_DEATHS && !hung)
        return now;
    if (!p->backoff || w->spawned_at >= p->backoff_at) { /* a new round died */
        pthread_mutex_lock(&p->lock);
        p->backoff = p->backoff > 0 ? p->backoff * 2 : POOL_LOOP_BACKOFF;
        if (p->backoff > POOL_LOOP_BACKOFF_MAX)
            p->backoff = POOL_LOOP_BACKOFF_MAX;
        p->backoff_at = now;
        snprintf(p->loop_why, sizeof(p->loop_why), "ForkPoolWorker-%u %s", w->number, how);
        pthread_mutex_unlock(&p->lock);
        log_msg(LOG_ERROR, "workers keep dying at start-up (%d deaths, the latest: worker=ForkPoolWorker-%u %s): "
                "waiting %g s before the next spawn", p->ndeaths, w->number, how, p->backoff);
    }
    if (!pool_any_ready(p))
        pool_end_queue(p, POOL_UNAVAILABLE);
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
                pool_signal(p, w, SIGKILL);
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

/* What becomes of the task a worker was running when it died: a timeout,
 * a retry, or a loss. */
static void
pool_task_orphaned(Pool *p, PoolTask *t)
{
    if (t->timed_out) {
        pool_finish(p, t, POOL_TIMEOUT);
    } else if (t->retries > 0 && !t->killed && !p->fs_dead && t->bounces < POOL_MAX_BOUNCES) {
        t->retries--;
        log_msg(LOG_INFO, "running the task of worker=%s pid=%d again (%d retr%s left)", t->res.worker,
                (int)t->res.pid, t->retries, t->retries == 1 ? "y" : "ies");
        pool_requeue(p, t);
    } else {
        pool_finish(p, t, POOL_LOST);
    }
}

/* Counts a worker's end, unless poold itself is stopping. */
static void
pool_count_exit(Pool *p, const PoolWorker *w, int startup)
{
    if (!__atomic_load_n(&p->stopping, __ATOMIC_ACQUIRE) && !p->fs_dead)
        metrics_worker_exit(startup && w->cause == MX_CRASH ? MX_START_FAILURE : w->cause);
}

/* The fork server reported that pid ended with wait status st. */
static void
pool_worker_exited(Pool *p, pid_t pid, int st)
{
    PoolWorker *w = NULL;
    char how[64];
    double respawn_at;
    int startup;

    for (int i = 0; i < p->opt.processes; i++)
        if (p->workers[i].pid == pid && (p->workers[i].state == W_STARTING ||
                                         p->workers[i].state == W_READY || p->workers[i].state == W_DYING))
            w = &p->workers[i];
    if (!w)
        return;
    if (w->state == W_READY || w->state == W_STARTING) {
        /* Read what it wrote before it died (all of it: its writer gone, a
         * short read leaves nothing behind): a result that was already
         * sent must not become a 502. Then pool_worker_eof, which comes
         * back here once the state is DYING. */
        pool_worker_event(p, (int)(w - p->workers), EPOLLIN);
        pool_worker_eof(p, w);
    }
    if (w->state != W_DYING)
        return;
    pool_log_exit(w, pid, st, how, sizeof(how));
    /* Died before it was sent a task: a worker that cannot start (or live
     * idle) must not be respawned in a loop. */
    startup = !w->fed && !w->retiring && !p->fs_dead && (!w->was_ready || !w->doomed);
    pool_count_exit(p, w, startup);
    for (int k = 0; k < w->inflight; k++) {
        int s = w->slots[k];
        PoolTask *t = p->slots[s].task;
        pool_worker_name(w, t->res.worker, sizeof(t->res.worker));
        t->res.pid = pid;
        t->res.wstatus = st;
        t->res.started = t->bounces < POOL_MAX_BOUNCES;
        __atomic_store_n(&p->claims[s].word, 0, __ATOMIC_RELEASE);
        pool_release_slot(p, s);
        pool_task_orphaned(p, t);
    }
    __atomic_store_n(&w->inflight, 0, __ATOMIC_RELAXED);
    respawn_at = startup ? pool_startup_death(p, w, how) : 0;
    pthread_mutex_lock(&p->lock); /* snapshots read pid */
    w->pid = 0; /* reaped: never signal that number again */
    pthread_mutex_unlock(&p->lock);
    if (w->pidfd >= 0)
        close(w->pidfd);
    w->pidfd = -1;
    /* Replaced even during a graceful stop, which still has a queue to
     * run; only a dead fork server cannot replace it. */
    if (p->fs_dead || respawn_at > clock_mono()) {
        w->retry_at = p->fs_dead ? POOL_NEVER : respawn_at;
        w->check_at = w->kill_at = POOL_NEVER;
        pool_set_state(p, w, W_BACKOFF);
    } else {
        pool_spawn(p, w);
    }
}

/*
 * The fork server died. Its workers die with it (PR_SET_PDEATHSIG), no
 * exit report will come, and no worker can be replaced: poold cannot go on
 * as a pool. End what each worker held, then have the process shut down
 * and exit non-zero (main reads pool_failed), so a supervisor restarts it.
 */
static void
pool_fs_lost(Pool *p)
{
    __atomic_store_n(&p->fs_dead, 1, __ATOMIC_RELAXED);
    epoll_ctl(p->ep, EPOLL_CTL_DEL, p->fs.fd, NULL);
    log_msg(LOG_ERROR, "the fork server died: workers cannot be replaced; poold is shutting down");
    for (int i = 0; i < p->opt.processes; i++) {
        PoolWorker *w = &p->workers[i];
        if (w->state == W_STARTING || w->state == W_READY || w->state == W_DYING) {
            if (w->state != W_DYING)
                pool_worker_event(p, i, EPOLLIN); /* takes what it sent */
            pool_worker_eof(p, w);
            if (w->state == W_DYING)
                pool_worker_exited(p, w->pid, -1);
        } else {
            w->retry_at = POOL_NEVER;
            pool_set_state(p, w, W_BACKOFF);
        }
    }
    /* Have main shut down (its sigwait takes this), unless it already is:
     * a signal then would read as a second one, "stop at once". */
    if (!__atomic_load_n(&p->stopping, __ATOMIC_ACQUIRE))
        kill(getpid(), SIGTERM);
}

void
pool_fs_event(Pool *p)
{
    ForkserverEvent ev;
    int rc;

    while ((rc = forkserver_read(&p->fs, &ev)) > 0) {
        PoolWorker *w = NULL;
        for (int i = 0; i < p->opt.processes; i++)
            if (p->workers[i].state == W_SPAWNING && p->workers[i].number == ev.number)
                w = &p->workers[i];
        if (ev.type == FS_EXITED) {
            pool_worker_exited(p, ev.pid, ev.status);
        } else if (!w) {
            if (ev.fd >= 0)
                close(ev.fd);
            if (ev.pidfd >= 0)
                close(ev.pidfd);
        } else if (ev.type == FS_SPAWN_FAILED) {
            log_errno(LOG_ERROR, ev.status, "cannot fork ForkPoolWorker-%u", ev.number);
            w->retry_at = clock_mono() + POOL_RESPAWN_DELAY;
            pool_set_state(p, w, W_BACKOFF);
        } else {
            int idx = (int)(w - p->workers);
            struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)idx};
            fcntl(ev.fd, F_SETFL, O_NONBLOCK);
            w->fd = ev.fd;
            w->pidfd = ev.pidfd;
            epoll_ctl(p->ep, EPOLL_CTL_ADD, w->fd, &e);
            pthread_mutex_lock(&p->lock);
            w->pid = ev.pid;
            w->state = W_STARTING; /* until its WIRE_READY frame */
            pthread_mutex_unlock(&p->lock);
            log_msg(LOG_DEBUG, "worker=ForkPoolWorker-%u forked, pid=%d", w->number, (int)ev.pid);
        }
    }
    if (rc < 0 && !p->fs_dead)
        pool_fs_lost(p);
}

void
pool_worker_event(Pool *p, int idx, uint32_t events)
{
    PoolWorker *w = &p->workers[idx];
    WireHeader h;
    const char *payload;
    int rc;

    if (w->state != W_READY && w->state != W_STARTING)
        return;
    if (events & EPOLLOUT)
        pool_flush(p, w, idx);
    /* Reads until a read comes back short, not on to EAGAIN: the socket
     * is level-triggered, so what comes later wakes us again, and the
     * empty read was a syscall every wake. */
    for (int drained = 0;;) {
        while ((rc = wire_next(&w->in, &h, &payload)) > 0)
            pool_result(p, w, &h, payload);
        if (rc < 0 || wire_buf_reserve(&w->in, 64 * 1024) < 0) {
            log_msg(LOG_ERROR, "worker=ForkPoolWorker-%u sent a malformed frame", w->number);
            pool_worker_eof(p, w);
            return;
        }
        if (drained)
            break;
        size_t room = w->in.cap - w->in.len;
        ssize_t n = read(w->fd, w->in.data + w->in.len, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            pool_worker_eof(p, w);
            return;
        }
        w->in.len += (size_t)n;
        drained = (size_t)n < room;
    }
    if (p->opt.max_tasks_per_child > 0 && w->inflight == 0 && !w->doomed &&
        (long)w->tasks_done >= p->opt.max_tasks_per_child)
        pool_worker_retire(p, w);
}

/*
 * Stops a worker that must run nothing more (its task is past its
 * deadline, or cancelled): it gets no new task, and sig. What it held but
 * had not started was put back in the queue by the caller. EOF and the
 * exit report follow.
 */
void
pool_stop_worker(Pool *p, PoolWorker *w, int sig, MetricsExitCause cause)
{
    w->doomed = 1;
    w->cause = cause;
    pool_signal(p, w, sig);
    if (sig == SIGTERM)
        w->kill_at = clock_mono() + POOL_TERM_GRACE;
}

/* Task t, which worker idx runs, is past its deadline. */
static void
pool_time_out(Pool *p, int idx, PoolTask *t)
{
    PoolWorker *w = &p->workers[idx];

    pool_take_back(p, w, 0);
    pool_worker_event(p, idx, EPOLLIN); /* its result may be in already */
    for (int k = 0; w->state == W_READY && k < w->inflight; k++)
        if (p->slots[w->slots[k]].task == t) {
            log_msg(LOG_WARN, "a task ran past its timeout of %g s on worker=ForkPoolWorker-%u pid=%d: SIGTERM",
                    t->timeout, w->number, (int)w->pid);
            t->timed_out = 1;
            pool_stop_worker(p, w, SIGTERM, MX_TIMEOUT);
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
pool_check_deadlines(Pool *p, int idx, double now)
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
                pool_time_out(p, idx, t);
                return;
            }
        }
        if (due < next)
            next = due;
    }
    w->check_at = next;
}

