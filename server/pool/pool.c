/*
 * pool.c: the pool's life (see pool.h): made with its fork server, started,
 * stopped, freed; and what other threads read of it: the snapshot, whether
 * it can take work, whether it failed.
 *
 * The pool's parts, all on the dispatcher thread but for submission and
 * cancel requests and the reads here: pool_dispatch.c (the loop),
 * pool_task.c (a task's slots and ends), pool_submit.c, pool_cancel.c,
 * pool_worker.c (one worker's life), pool_exit.c (its end), pool_loop.c
 * (crash loops), pool_deadline.c (task timeouts). They share pool_impl.h.
 */
#include "pool/pool.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"
#include "pool/pool_impl.h"

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
    /* A request to a warm runtime crosses from the worker to the runtime
     * and back: on one CPU that is a switch; on two, each crossing may
     * wait for the other CPU, which other work holds (README). Only a
     * pool that fills its CPUs is pinned: fewer workers would all take
     * the first CPUs of the set, as would every other poold sharing it (a
     * container's cpuset is often the whole machine's). */
    if (o->pin && sched_getaffinity(0, sizeof(p->cpus), &p->cpus) == 0 && o->processes >= CPU_COUNT(&p->cpus))
        p->ncpus = CPU_COUNT(&p->cpus);
    p->env = (WorkerEnv){.reg = o->reg, .claims = p->claims, .nclaims = (size_t)p->nslots,
                         .memory_limit = o->worker_memory, .cpu_limit = o->worker_cpu,
                         .max_result = o->max_result};
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
        pool_worker_spawn(p, &p->workers[i]);
    if (pthread_create(&p->thread, NULL, pool_dispatch_run, p) != 0)
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
                    "queue", "queued", (json_int_t)p->queue.len + sent, "sent", (json_int_t)sent,
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
pool_ready_detail(Pool *p, char *why, size_t len, const char **brief, double *retry)
{
    double left;

    pthread_mutex_lock(&p->lock);
    *brief = NULL;
    *retry = 1;
    if (p->stopping || pool_failed(p)) {
        *brief = "poold is shutting down";
        *retry = 0;
        snprintf(why, len, "%s", *brief);
    } else if (p->backoff > 0) {
        *brief = "workers keep dying at start-up";
        left = p->backoff_at + p->backoff - clock_mono();
        *retry = left > 1 ? ceil(left) : 1;
        snprintf(why, len, "workers keep dying at start-up (%s); the next spawn waits %g s", p->loop_why,
                 p->backoff);
    } else if (!pool_any_ready(p)) {
        *brief = "no worker is ready yet";
        if (p->loop_why[0])
            snprintf(why, len, "%s: workers are dying at start-up (%s)", *brief, p->loop_why);
        else
            snprintf(why, len, "%s", *brief);
    } else {
        why[0] = '\0';
    }
    pthread_mutex_unlock(&p->lock);
    return *brief == NULL;
}

int
pool_ready(Pool *p, char *why, size_t len)
{
    const char *brief;
    double retry;

    return pool_ready_detail(p, why, len, &brief, &retry);
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
    pool_submit_room_fire(room); /* they find the pool stopped */
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
