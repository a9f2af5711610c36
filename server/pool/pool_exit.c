/*
 * pool_exit.c: a worker's end, on the dispatcher thread: EOF on its socket,
 * the fork server's exit report (or the fork server's own death), what
 * becomes of the tasks it held (requeued, retried, timed out, lost), and
 * its replacement.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "events/events.h"
#include "pool/pool_impl.h"

/* Says how a worker ended, in the log. */
static void
pool_exit_log(const PoolWorker *w, pid_t pid, int st, char *buf, size_t len)
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

/* What becomes of the task a worker was running when it died: a timeout,
 * a retry, or a loss. */
static void
pool_exit_orphaned(Pool *p, PoolTask *t)
{
    if (t->timed_out) {
        pool_task_finish(p, t, POOL_TIMEOUT);
    } else if (t->retries > 0 && !t->killed && !p->fs_dead && t->bounces < POOL_MAX_BOUNCES) {
        t->retries--;
        log_msg(LOG_INFO, "running the task of worker=%s pid=%d again (%d retr%s left)", t->res.worker,
                (int)t->res.pid, t->retries, t->retries == 1 ? "y" : "ies");
        pool_task_requeue(p, t);
    } else {
        pool_task_finish(p, t, POOL_LOST);
    }
}

/* The tasks worker w (pid, ended with wait status st) held: each told how
 * it ended, then timed out, retried or lost. */
static void
pool_exit_orphans(Pool *p, PoolWorker *w, pid_t pid, int st)
{
    for (int k = 0; k < w->inflight; k++) {
        int s = w->slots[k];
        PoolTask *t = p->slots[s].task;
        pool_worker_name(w, t->res.worker, sizeof(t->res.worker));
        t->res.pid = pid;
        t->res.wstatus = st;
        t->res.started = t->bounces < POOL_MAX_BOUNCES;
        free(t->res.note); /* the last worker's word, if it ran before */
        t->res.note = w->note[0] ? strdup(w->note) : NULL;
        __atomic_store_n(&p->claims[s].word, 0, __ATOMIC_RELEASE);
        pool_task_release(p, s);
        pool_exit_orphaned(p, t);
    }
    __atomic_store_n(&w->inflight, 0, __ATOMIC_RELAXED);
}

/* Counts a worker's end, unless poold itself is stopping; and tells it
 * on the event stream, how being what pool_exit_log wrote. */
static void
pool_exit_count(Pool *p, const PoolWorker *w, int startup, pid_t pid, const char *how)
{
    static const char *const causes[] = {"crash", "timeout", "cancel", "max_tasks", "start_failure",
                                         "start_timeout"};
    MetricsExitCause cause = startup && w->cause == MX_CRASH ? MX_START_FAILURE : w->cause;
    int stopping = __atomic_load_n(&p->stopping, __ATOMIC_ACQUIRE) || p->fs_dead;
    char name[32];

    if (!stopping)
        metrics_worker_exit(cause);
    pool_worker_name(w, name, sizeof(name));
    events_publish(EV_WORKER_EXITED, NULL,
                   json_pack("{s:s, s:i, s:s, s:s}", "worker", name, "pid", (int)pid, "cause",
                             stopping ? "stopping" : (unsigned)cause < ARRAY_LEN(causes) ? causes[cause] : "crash",
                             "how", how));
}

/*
 * The worker's socket closed or failed: it is dead or dying. Kill it to be
 * sure, put its unstarted tasks back in the queue, and keep the started
 * one until the fork server reports how the worker ended.
 */
void
pool_exit_eof(Pool *p, PoolWorker *w)
{
    int from = 0;

    if (w->state != W_READY && w->state != W_STARTING)
        return;
    pool_worker_signal(p, w, SIGKILL);
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
    pool_worker_take_back(p, w, from);
    if (p->fs_dead) /* no exit report will come: end it now */
        pool_exit_reported(p, w->pid, -1);
}

/* The fork server reported that pid ended with wait status st. */
void
pool_exit_reported(Pool *p, pid_t pid, int st)
{
    PoolWorker *w = NULL;
    char how[WIRE_NOTE_MAX + 64];
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
         * sent must not become a 502. Then pool_exit_eof, which comes
         * back here once the state is DYING. */
        pool_worker_event(p, (int)(w - p->workers), EPOLLIN);
        pool_exit_eof(p, w);
    }
    if (w->state != W_DYING)
        return;
    pool_exit_log(w, pid, st, how, sizeof(how));
    /* Died before it was sent a task: a worker that cannot start (or live
     * idle) must not be respawned in a loop. */
    startup = !w->fed && !w->retiring && !p->fs_dead && (!w->was_ready || !w->doomed);
    pool_exit_count(p, w, startup, pid, how);
    pool_exit_orphans(p, w, pid, st);
    if (w->note[0]) /* it said why: the crash loop's reason says it too */
        snprintf(how + strlen(how), sizeof(how) - strlen(how), ": %s", w->note);
    respawn_at = startup ? pool_loop_death(p, w, how) : 0;
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
        pool_worker_set_state(p, w, W_BACKOFF);
    } else {
        pool_worker_spawn(p, w);
    }
}

/*
 * The fork server died. Its workers die with it (PR_SET_PDEATHSIG), no
 * exit report will come, and no worker can be replaced: poold cannot go on
 * as a pool. End what each worker held, then have the process shut down
 * and exit non-zero (main reads pool_failed), so a supervisor restarts it.
 */
void
pool_exit_fs_lost(Pool *p)
{
    __atomic_store_n(&p->fs_dead, 1, __ATOMIC_RELAXED);
    epoll_ctl(p->ep, EPOLL_CTL_DEL, p->fs.fd, NULL);
    log_msg(LOG_ERROR, "the fork server died: workers cannot be replaced; poold is shutting down");
    for (int i = 0; i < p->opt.processes; i++) {
        PoolWorker *w = &p->workers[i];
        if (w->state == W_STARTING || w->state == W_READY || w->state == W_DYING) {
            if (w->state != W_DYING)
                pool_worker_event(p, i, EPOLLIN); /* takes what it sent */
            pool_exit_eof(p, w);
            if (w->state == W_DYING)
                pool_exit_reported(p, w->pid, -1);
        } else {
            w->retry_at = POOL_NEVER;
            pool_worker_set_state(p, w, W_BACKOFF);
        }
    }
    /* Have main shut down (its sigwait takes this), unless it already is:
     * a signal then would read as a second one, "stop at once". */
    if (!__atomic_load_n(&p->stopping, __ATOMIC_ACQUIRE))
        kill(getpid(), SIGTERM);
}
