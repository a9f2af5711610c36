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
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "pool_impl.h"

void
pool_worker_name(const PoolWorker *w, char *buf, size_t len)
{
    snprintf(buf, len, "ForkPoolWorker-%u", w->number);
}

/* Changes w's state under the lock, as snapshots read it. */
static void
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
    w->pid = 0;
    w->state = W_SPAWNING;
    __atomic_store_n(&w->tasks_done, 0, __ATOMIC_RELAXED); /* a new process starts at 0 */
    pthread_mutex_unlock(&p->lock);
    if (p->fs_dead || forkserver_spawn(&p->fs, w->number) < 0) {
        if (!p->fs_dead)
            log_errno(LOG_ERROR, errno, "cannot ask the fork server for ForkPoolWorker-%u", w->number);
        w->retry_at = p->fs_dead ? 1e300 : clock_mono() + POOL_RESPAWN_DELAY;
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

/* Writes t to worker idx under a fresh claim. Returns 0, or -1 when out of
 * memory (t is then still the caller's). */
static void
pool_result(Pool *p, PoolWorker *w, const WireHeader *h, const char *payload)
{
    int s = (int)h->slot, i;
    PoolTask *t;

    for (i = 0; i < w->inflight && w->slots[i] != s; i++)
        ;
    if (h->kind != WIRE_RESULT || i == w->inflight || p->slots[s].seq != h->seq) {
        log_msg(LOG_WARN, "ForkPoolWorker-%u sent a result for no task of its own (slot %d)", w->number, s);
        return;
    }
    t = p->slots[s].task;
    pool_worker_drop(w, i);
    pool_release_slot(p, s);
    __atomic_store_n(&p->claims[s].word, WIRE_CLAIM_WORD(h->seq, WIRE_CLAIM_FREE), __ATOMIC_RELEASE);
    __atomic_add_fetch(&w->tasks_done, 1, __ATOMIC_RELAXED);
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

/*
 * The worker's socket closed or failed: it is dead or dying. Kill it to be
 * sure, put its unstarted tasks back in the queue, and keep the started
 * one until the fork server reports how the worker ended.
 */
static void pool_worker_exited(Pool *p, pid_t pid, int st);

static void
pool_worker_eof(Pool *p, PoolWorker *w)
{
    if (w->state != W_READY)
        return;
    kill(w->pid, SIGKILL);
    epoll_ctl(p->ep, EPOLL_CTL_DEL, w->fd, NULL);
    close(w->fd);
    w->fd = -1;
    wire_buf_free(&w->in);
    wire_buf_free(&w->out);
    w->want_out = 0;
    pool_take_back(p, w, 0);
    pool_set_state(p, w, W_DYING);
    if (p->fs_dead) /* no exit report will come: end it now */
        pool_worker_exited(p, w->pid, -1);
}

/* The fork server reported that pid ended with wait status st. */
static void
pool_worker_exited(Pool *p, pid_t pid, int st)
{
    PoolWorker *w = NULL;

    for (int i = 0; i < p->opt.processes; i++)
        if (p->workers[i].pid == pid && (p->workers[i].state == W_READY || p->workers[i].state == W_DYING))
            w = &p->workers[i];
    if (!w)
        return;
    if (w->state == W_READY) {
        /* Read what it wrote before it died, up to EOF: a result that was
         * already sent must not become a 502. That ends in
         * pool_worker_eof, which comes back here once the state is DYING. */
        pool_worker_event(p, (int)(w - p->workers), EPOLLIN);
        pool_worker_eof(p, w);
    }
    if (w->state != W_DYING)
        return;
    if (st == -1)
        log_msg(LOG_WARN, "ForkPoolWorker-%u pid %d is gone", w->number, (int)pid);
    else if (WIFSIGNALED(st))
        log_msg(LOG_WARN, "ForkPoolWorker-%u pid %d was killed by signal %d", w->number, (int)pid, WTERMSIG(st));
    else
        log_msg(LOG_WARN, "ForkPoolWorker-%u pid %d exited with status %d", w->number, (int)pid, WEXITSTATUS(st));
    for (int k = 0; k < w->inflight; k++) {
        int s = w->slots[k];
        PoolTask *t = p->slots[s].task;
        pool_worker_name(w, t->res.worker, sizeof(t->res.worker));
        t->res.pid = pid;
        t->res.wstatus = st;
        __atomic_store_n(&p->claims[s].word, 0, __ATOMIC_RELEASE);
        pool_release_slot(p, s);
        pool_finish(p, t, POOL_LOST);
    }
    __atomic_store_n(&w->inflight, 0, __ATOMIC_RELAXED);
    w->pid = 0; /* reaped: never signal that number again */
    /* Replaced even during a graceful stop, which still has a queue to
     * run; only a dead fork server cannot replace it. */
    if (p->fs_dead) {
        w->retry_at = 1e300;
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
        if (w->state == W_READY || w->state == W_DYING) {
            if (w->state == W_READY)
                pool_worker_event(p, i, EPOLLIN); /* takes what it sent, then EOF */
            pool_worker_eof(p, w);
            if (w->state == W_DYING)
                pool_worker_exited(p, w->pid, -1);
        } else {
            w->retry_at = 1e300;
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
        } else if (ev.type == FS_SPAWN_FAILED) {
            log_errno(LOG_ERROR, ev.status, "cannot fork ForkPoolWorker-%u", ev.number);
            w->retry_at = clock_mono() + POOL_RESPAWN_DELAY;
            pool_set_state(p, w, W_BACKOFF);
        } else {
            int idx = (int)(w - p->workers);
            struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)idx};
            fcntl(ev.fd, F_SETFL, O_NONBLOCK);
            w->fd = ev.fd;
            epoll_ctl(p->ep, EPOLL_CTL_ADD, w->fd, &e);
            pthread_mutex_lock(&p->lock);
            w->pid = ev.pid;
            w->state = W_READY;
            pthread_mutex_unlock(&p->lock);
            log_msg(LOG_INFO, "ForkPoolWorker-%u started, pid %d", w->number, (int)ev.pid);
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

    if (w->state != W_READY)
        return;
    if (events & EPOLLOUT)
        pool_flush(p, w, idx);
    for (;;) {
        while ((rc = wire_next(&w->in, &h, &payload)) > 0)
            pool_result(p, w, &h, payload);
        if (rc < 0 || wire_buf_reserve(&w->in, 64 * 1024) < 0) {
            log_msg(LOG_ERROR, "ForkPoolWorker-%u sent a malformed frame", w->number);
            pool_worker_eof(p, w);
            return;
        }
        ssize_t n = read(w->fd, w->in.data + w->in.len, w->in.cap - w->in.len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            pool_worker_eof(p, w);
            return;
        }
        w->in.len += (size_t)n;
    }
}

