/*
 * pool.h: the bounded pool of worker processes and its dispatcher.
 *
 * Callers hand the pool tasks (a wire payload plus a completion callback);
 * one dispatcher thread queues them, writes them to workers over one
 * socketpair each, gathers the results and calls each task's callback. The
 * pool never calls MHD and knows no connection or job: it reports only
 * through the callbacks its callers gave it. Only the pool talks to the fork
 * server.
 */
#ifndef POOLD_POOL_H
#define POOLD_POOL_H

#include <sys/types.h>

#include <jansson.h>

#include "core/common.h"

typedef enum {
    POOL_OK,        /* the worker ran the task; data holds its result */
    POOL_LOST,      /* the worker died while running it (wstatus says how) */
    POOL_TIMEOUT,   /* it ran past its timeout: its worker was killed */
    POOL_CANCELLED, /* pool_cancel named its owner before it started */
    POOL_STOPPED,   /* the pool shut down before it could run */
    POOL_NOMEM,     /* no memory to send it */
    POOL_UNAVAILABLE, /* no worker could start to run it (a crash loop) */
} PoolStatus;

typedef struct PoolResult {
    PoolStatus status;
    char *data;         /* POOL_OK: the result payload (wire.h); the
                         * callback may take it and set data to NULL */
    size_t len;
    uint32_t fails;     /* POOL_OK: items that failed */
    uint64_t first_fail;/* POOL_OK: index in the task of the first */
    char worker[32];    /* POOL_OK, POOL_LOST: "ForkPoolWorker-N" */
    pid_t pid;
    int wstatus;        /* POOL_LOST: the worker's wait status */
    int started;        /* POOL_LOST: it had started (else it killed the
                         * workers that read it) */
    char *note;         /* POOL_LOST: what the worker said of its end (a
                         * runtime's death, wire.h's WIRE_NOTE), or NULL;
                         * freed with the task */
    double timeout;     /* POOL_TIMEOUT: the timeout it ran past */
    uint64_t late_item; /* POOL_TIMEOUT: index in the task of the item */
} PoolResult;

/* Called once per task on the dispatcher thread, outside the pool's lock;
 * it may submit or cancel tasks. ctx and index are the task's. */
typedef void (*PoolDoneFn)(void *ctx, size_t index, PoolResult *res);

/* Called at most once per task, on the dispatcher thread before its done
 * callback, when a worker first starts it (not when it is written ahead
 * to one: that is still waiting). */
typedef void (*PoolStartFn)(void *ctx, size_t index, const char *worker, pid_t pid);

typedef struct PoolOptions {
    int processes;
    long max_queue;       /* tasks waiting for a worker */
    const Registry *reg;  /* inherited by the workers */
    long max_tasks_per_child; /* a worker is replaced after this many; 0 never */
    size_t worker_memory; /* RLIMIT_AS of each worker; 0 none */
    long worker_cpu;      /* CPU seconds per task (RLIMIT_CPU); 0 none */
    double start_timeout; /* seconds a new worker may take to be ready */
    size_t max_result;    /* the longest result a warm runtime may send */
    int pin;              /* each worker (and the runtimes it starts) on one
                           * CPU: the k-th worker on the k-th of poold's,
                           * when the workers are at least as many */
} PoolOptions;

/*
 * Creates the pool and forks its fork server. Call before any thread
 * exists (see forkserver.h). NULL on failure, with errno set.
 */
Pool *pool_new(const PoolOptions *o);

/* Starts the dispatcher thread and the workers. Returns SVC_OK or SVC_ERROR. */
int pool_start(Pool *p);

/*
 * A task to run: payload (JSON text, taken: the pool frees it) of wire
 * mode `mode`. Higher priorities run first. done(ctx, index, …) is called
 * when it ends, start (may be NULL) when it first goes to a worker. owner
 * groups tasks for pool_cancel. NULL when out of memory (payload is freed).
 */
PoolTask *pool_task_new(char *payload, size_t len, uint32_t mode, int priority,
                        PoolDoneFn done, PoolStartFn start, void *ctx,
                        size_t index, uint64_t owner);

/*
 * Bounds a task before it is submitted: each of its items may run for
 * timeout seconds (0: no limit), after which its worker is stopped (SIGTERM,
 * then SIGKILL) and the task ends POOL_TIMEOUT. A task whose worker dies
 * under it is run again on another worker up to `retries` times before it
 * ends POOL_LOST; a timeout is never retried.
 */
void pool_task_limits(PoolTask *t, double timeout, int retries);

/* Names what the task runs, for the metrics (metrics.h): function func
 * over items items. A task not named is not counted. */
void pool_task_meter(PoolTask *t, unsigned func, uint64_t items);

/* Frees a task that was never submitted. */
void pool_task_free(PoolTask *t);

/*
 * Queues n tasks, all or none. On SVC_OK the pool owns them; on SVC_EFULL
 * (the queue is too full now), SVC_E2BIG (n alone is over --max-queue),
 * SVC_EUNAVAIL (no worker is up and workers die at start-up: see
 * pool_ready), SVC_ESTOPPED or SVC_ENOMEM the caller still does.
 */
int pool_submit(Pool *p, PoolTask **tasks, size_t n);

/* Tasks the queue would take now before --max-queue (any thread; a hint:
 * another caller may take the room first). */
size_t pool_submit_room(Pool *p);

/* Idle workers less the tasks waiting for one: below 0 when work waits,
 * above when workers do (any thread; a hint). Replicas take queued jobs
 * from Redis by it. */
long pool_submit_spare(Pool *p);

/* Called once when the queue has room again, on the dispatcher thread, or
 * when the pool stops, on the stopping thread. */
typedef void (*PoolRoomFn)(void *ctx);

/* Asks for fn(ctx) once the queue has room: a caller refused with
 * SVC_EFULL that has nothing else to wake it. SVC_OK; 1 when the queue
 * has room already (fn will not be called: try again now); SVC_ESTOPPED
 * or SVC_ENOMEM. */
int pool_submit_when_room(Pool *p, PoolRoomFn fn, void *ctx);

/* A new owner number for pool_task_new, never handed out before. Any
 * thread. */
uint64_t pool_cancel_owner_new(void);

/*
 * Any thread. Ends the queued and not yet started tasks of owner
 * POOL_CANCELLED. With kill_running, a worker running one of its tasks is
 * killed (that task ends POOL_LOST; a replacement is forked), after every
 * other task it held has been put back in the queue; without, running
 * tasks finish. Returns SVC_OK or SVC_ENOMEM.
 */
int pool_cancel(Pool *p, uint64_t owner, int kill_running);

/* New reference: {processes, workers:[{name,pid,state,tasks_done}],
 * queue:{queued,running,max}}. Any thread. */
json_t *pool_snapshot(Pool *p);

/*
 * Stops the pool (Pool's close() then join()): refuses new tasks, runs the
 * queued and running ones for up to grace seconds, then ends what is left
 * POOL_STOPPED, killing its workers, and stops the workers and the fork
 * server. Every callback has been called when it returns.
 */
void pool_stop(Pool *p, double grace);

/* 1 when the pool can take work now: a worker is ready, workers are not
 * dying at start-up in a loop, and it is not stopping. Otherwise 0, with
 * the reason in why. Any thread. */
int pool_ready(Pool *p, char *why, size_t len);

/* pool_ready, and more for a caller that answers strangers: *brief (NULL
 * when ready) says what is wrong in words anyone may read, as why does
 * with the detail the log has (a worker's last words); *retry is the
 * seconds before it may pass: 1 while workers start, what is left of a
 * crash loop's backoff, 0 when waiting will not do (poold stops). */
int pool_ready_detail(Pool *p, char *why, size_t len, const char **brief, double *retry);

/* 1 once the pool cannot go on (its fork server died); it has then asked
 * the process to shut down with SIGTERM. */
int pool_failed(Pool *p);

void pool_free(Pool *p);

#endif
