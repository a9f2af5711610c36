/*
 * pool_worker.c: one worker's life while it lives, on the dispatcher
 * thread: asked of the fork server and forked, ready, fed frames, read for
 * results, its unstarted tasks taken back, retired, signalled, stopped.
 * Its end is pool_exit.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <unistd.h>

#include "core/log.h"
#include "events/events.h"
#include "pool/pool_impl.h"

/* A copy of the name pool_worker_spawn wrote: every task carries its
 * worker's name, and formatting it each time was a dispatcher's hot spot. */
void
pool_worker_name(const PoolWorker *w, char *buf, size_t len)
{
    size_t n = strnlen(w->name, len - 1);

    memcpy(buf, w->name, n);
    buf[n] = '\0';
}

/* Changes w's state under the lock, as snapshots read it. */
void
pool_worker_set_state(Pool *p, PoolWorker *w, WorkerState state)
{
    pthread_mutex_lock(&p->lock);
    w->state = state;
    pthread_mutex_unlock(&p->lock);
}

/* The CPU of the worker in slot w (opt.pin), -1 for any: the k-th slot
 * on the k-th CPU poold may use, round the list when there are more. */
static int
pool_worker_cpu(const Pool *p, const PoolWorker *w)
{
    int k = p->ncpus ? (int)(w - p->workers) % p->ncpus : -1;

    for (int cpu = 0; k >= 0 && cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, &p->cpus) && k-- == 0)
            return cpu;
    return -1;
}

/* Asks the fork server for a new worker in w's place. */
void
pool_worker_spawn(Pool *p, PoolWorker *w)
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
    w->note[0] = '\0';
    w->cause = MX_CRASH;
    w->check_at = w->kill_at = POOL_NEVER;
    w->spawned_at = clock_mono();
    if (p->fs_dead || forkserver_spawn(&p->fs, w->number, pool_worker_cpu(p, w)) < 0) {
        if (!p->fs_dead)
            log_errno(LOG_ERROR, errno, "cannot ask the fork server for ForkPoolWorker-%u", w->number);
        w->retry_at = p->fs_dead ? POOL_NEVER : clock_mono() + POOL_RESPAWN_DELAY;
        pool_worker_set_state(p, w, W_BACKOFF);
    }
}

int
pool_worker_flush(Pool *p, PoolWorker *w, int idx)
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
void
pool_worker_close(Pool *p, PoolWorker *w)
{
    epoll_ctl(p->ep, EPOLL_CTL_DEL, w->fd, NULL);
    close(w->fd);
    w->fd = -1;
    wire_buf_free(&w->in);
    wire_buf_free(&w->out);
    w->want_out = 0;
    pool_worker_set_state(p, w, W_DYING);
}

/* A worker's start or retirement, on the event stream. */
static void
pool_worker_tell(const PoolWorker *w, EventType type)
{
    char name[32];

    pool_worker_name(w, name, sizeof(name));
    events_publish(type, NULL, json_pack("{s:s, s:i, s:I}", "worker", name, "pid", (int)w->pid, "tasks_done",
                                         (json_int_t)w->tasks_done));
}

/* The worker ran its initializers and takes tasks. */
static void
pool_worker_ready(Pool *p, PoolWorker *w)
{
    w->was_ready = 1;
    w->ready_at = clock_mono();
    pool_worker_set_state(p, w, W_READY);
    log_msg(LOG_INFO, "worker=ForkPoolWorker-%u pid=%d ready, %.1f ms after it was asked for", w->number,
            (int)w->pid, (w->ready_at - w->spawned_at) * 1000);
    pool_worker_tell(w, EV_WORKER_STARTED);
}

void
pool_worker_signal(Pool *p, PoolWorker *w, int sig)
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
    pool_worker_tell(w, EV_WORKER_RECYCLED);
    pool_worker_close(p, w);
}

/* Task t won its claim on a worker: who waits to hear it starts (a job
 * turning running) hears it now, once, whatever retries follow. */
static void
pool_worker_started(Pool *p, PoolTask *t)
{
    if (t->start && !t->announced) {
        t->announced = 1;
        t->start_seq = ++p->calls;
        FIFO_PUSH(&p->started, t, start_next);
    }
}

static void
pool_worker_result(Pool *p, PoolWorker *w, const WireHeader *h, const char *payload)
{
    int s = (int)h->slot, i;
    PoolTask *t;

    if (h->kind == WIRE_READY && w->state == W_STARTING) {
        pool_worker_ready(p, w);
        return;
    }
    if (h->kind == WIRE_NOTE) { /* its last words: its end follows */
        size_t n = h->len < WIRE_NOTE_MAX ? h->len : WIRE_NOTE_MAX;
        memcpy(w->note, payload, n);
        w->note[n] = '\0';
        return;
    }
    for (i = 0; i < w->inflight && w->slots[i] != s; i++)
        ;
    if (h->kind == WIRE_STARTED && i < w->inflight && p->slots[s].seq == h->seq) {
        pool_worker_started(p, p->slots[s].task);
        return;
    }
    if (h->kind != WIRE_RESULT || i == w->inflight || p->slots[s].seq != h->seq) {
        log_msg(LOG_WARN, "worker=ForkPoolWorker-%u sent a result for no task of its own (slot %d)", w->number, s);
        return;
    }
    t = p->slots[s].task;
    pool_worker_drop(w, i);
    pool_task_release(p, s);
    w->assigned--;
    __atomic_store_n(&p->claims[s].word, WIRE_CLAIM_WORD(h->seq, WIRE_CLAIM_FREE), __ATOMIC_RELEASE);
    __atomic_add_fetch(&w->tasks_done, 1, __ATOMIC_RELAXED);
    pool_loop_over(p, w);
    if (t->timed_out) { /* answered after SIGTERM: past its deadline all the same */
        pool_task_finish(p, t, POOL_TIMEOUT);
        return;
    }
    if (!(t->res.data = malloc(h->len + 1))) {
        pool_task_finish(p, t, POOL_LOST); /* no memory for the answer: report, don't crash */
        return;
    }
    memcpy(t->res.data, payload, h->len);
    t->res.data[h->len] = '\0';
    t->res.len = h->len;
    t->res.fails = h->mode;
    t->res.first_fail = h->aux;
    pool_worker_name(w, t->res.worker, sizeof(t->res.worker));
    t->res.pid = w->pid;
    pool_task_finish(p, t, POOL_OK);
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
pool_worker_take_back(Pool *p, PoolWorker *w, int from)
{
    int taken = 0;

    for (int k = w->inflight - 1; k >= from; k--) {
        int s = w->slots[k];
        if (!wire_claim(&p->claims[s], p->slots[s].seq, WIRE_CLAIM_STOLEN))
            continue;
        pool_task_requeue(p, p->slots[s].task);
        pool_task_release(p, s);
        pool_worker_drop(w, k);
        w->assigned--;
        taken++;
    }
    return taken;
}

/* 1 when one of w's tasks has started. */
int
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

/*
 * Stops a worker that must run nothing more (its task is past its
 * deadline, or cancelled): it gets no new task, and sig. What it held but
 * had not started was put back in the queue by the caller. EOF and the
 * exit report follow.
 */
void
pool_worker_stop(Pool *p, PoolWorker *w, int sig, MetricsExitCause cause)
{
    w->doomed = 1;
    w->cause = cause;
    pool_worker_signal(p, w, sig);
    if (sig == SIGTERM)
        w->kill_at = clock_mono() + POOL_TERM_GRACE;
}

/* The fork server's reports: a worker forked, or could not be; one ended
 * (pool_exit.c). Its socket closed: it died (pool_exit_fs_lost). */
void
pool_worker_fs_event(Pool *p)
{
    ForkserverEvent ev;
    int rc;

    while ((rc = forkserver_read(&p->fs, &ev)) > 0) {
        PoolWorker *w = NULL;
        for (int i = 0; i < p->opt.processes; i++)
            if (p->workers[i].state == W_SPAWNING && p->workers[i].number == ev.number)
                w = &p->workers[i];
        if (ev.type == FS_EXITED) {
            pool_exit_reported(p, ev.pid, ev.status);
        } else if (!w) {
            if (ev.fd >= 0)
                close(ev.fd);
            if (ev.pidfd >= 0)
                close(ev.pidfd);
        } else if (ev.type == FS_SPAWN_FAILED) {
            log_errno(LOG_ERROR, ev.status, "cannot fork ForkPoolWorker-%u", ev.number);
            w->retry_at = clock_mono() + POOL_RESPAWN_DELAY;
            pool_worker_set_state(p, w, W_BACKOFF);
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
        pool_exit_fs_lost(p);
}

/* Worker idx's socket is ready: its pending frames written, its results
 * read; a malformed frame or EOF is its end (pool_exit_eof). */
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
        pool_worker_flush(p, w, idx);
    /* Reads until a read comes back short, not on to EAGAIN: the socket
     * is level-triggered, so what comes later wakes us again, and the
     * empty read was a syscall every wake. */
    for (int drained = 0;;) {
        while ((rc = wire_next(&w->in, &h, &payload)) > 0)
            pool_worker_result(p, w, &h, payload);
        if (rc < 0 || wire_buf_reserve(&w->in, 64 * 1024) < 0) {
            log_msg(LOG_ERROR, "worker=ForkPoolWorker-%u sent a malformed frame", w->number);
            pool_exit_eof(p, w);
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
            pool_exit_eof(p, w);
            return;
        }
        w->in.len += (size_t)n;
        drained = (size_t)n < room;
    }
    if (p->opt.max_tasks_per_child > 0 && w->inflight == 0 && !w->doomed &&
        (long)w->tasks_done >= p->opt.max_tasks_per_child)
        pool_worker_retire(p, w);
}
