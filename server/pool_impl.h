/*
 * pool_impl.h: what pool.c (queue, dispatch, API) and pool_worker.c (the
 * workers' lives: spawn, frames, death) share. Private to the pool: no
 * other module includes it.
 *
 * Threads: the dispatcher owns everything here but the fields marked
 * "under lock", which other threads reach through pool.h.
 */
#ifndef POOLD_POOL_IMPL_H
#define POOLD_POOL_IMPL_H

#include <pthread.h>
#include <sys/types.h>

#include "clock.h"
#include "forkserver.h"
#include "pool.h"
#include "taskq.h"
#include "wire.h"
#include "worker.h"

#define POOL_DEPTH 8          /* tasks written ahead to one worker */
#define POOL_TAG_KICK UINT32_MAX
#define POOL_TAG_FS (UINT32_MAX - 1)
#define POOL_RESPAWN_DELAY 1.0 /* seconds before retrying a failed spawn */

struct PoolTask {
    TaskqNode node;         /* first: a queued task is its node */
    PoolTask *done_next;    /* in p->done */
    PoolTask *start_next;   /* in p->started */
    char *payload;
    size_t len;
    uint32_t mode;
    PoolDoneFn done;
    PoolStartFn start;
    void *ctx;
    size_t index;
    uint64_t owner;         /* what pool_cancel names */
    int announced;          /* start() has been called */
    PoolResult res;
};

typedef enum { W_SPAWNING, W_READY, W_DYING, W_BACKOFF } WorkerState;

typedef struct PoolWorker {
    WorkerState state;      /* written under p->lock, read by snapshots */
    unsigned number;        /* ForkPoolWorker-N */
    pid_t pid;
    int fd;
    WireBuf in, out;
    int want_out;           /* EPOLLOUT is armed */
    int dirty;              /* tasks were added to out since the last flush */
    int stolen_from;        /* tasks were taken back from it since it was
                             * last idle: don't hand them straight back */
    int slots[POOL_DEPTH];  /* claim slots in flight, in the order sent */
    int inflight;           /* written by the dispatcher with atomics, for
                             * the snapshots that read it */
    unsigned long tasks_done;
    double retry_at;        /* W_BACKOFF: when to spawn again */
} PoolWorker;

typedef struct PoolCancel {
    uint64_t owner;
    int kill;               /* kill a worker running one of its tasks */
} PoolCancel;

typedef struct PoolSlot {
    PoolTask *task;
    uint64_t seq;
    int next_free;
} PoolSlot;

/* A FIFO of tasks through one of their links, for the callbacks the
 * dispatcher calls once it has dropped the lock. */
typedef struct TaskFifo {
    PoolTask *head, *tail;
} TaskFifo;

struct Pool {
    PoolOptions opt;
    pthread_mutex_t lock;
    Taskq queue;            /* under lock */
    PoolCancel *cancels;    /* under lock: what pool_cancel asked */
    size_t ncancels, capcancels;
    int stopping;           /* under lock */
    int kicked;             /* atomic: an eventfd write is pending */
    int kick_fd, ep;
    pthread_t thread;
    int thread_started;
    double stop_deadline;

    Forkserver fs;
    int fs_dead;
    WorkerEnv env;          /* what each worker inherits */
    WireClaim *claims;      /* shared memory, nslots words */
    PoolSlot *slots;
    int nslots, free_slot;
    uint64_t seq;
    unsigned next_number;
    int rr;                 /* the last worker picked, so that ties rotate */
    PoolWorker *workers;
    TaskFifo done;          /* dispatcher only: done callbacks to call */
    TaskFifo started;       /* dispatcher only: start callbacks to call */
};

#define FIFO_PUSH(l, t, link)                                                 \
    do {                                                                      \
        (t)->link = NULL;                                                     \
        if ((l)->tail)                                                        \
            (l)->tail->link = (t);                                            \
        else                                                                  \
            (l)->head = (t);                                                  \
        (l)->tail = (t);                                                      \
    } while (0)

/* pool.c */
int pool_take_back(Pool *p, PoolWorker *w, int from);
void pool_finish(Pool *p, PoolTask *t, PoolStatus status);
void pool_requeue(Pool *p, PoolTask *t);
void pool_release_slot(Pool *p, int s);
void pool_worker_drop(PoolWorker *w, int i);

/* pool_worker.c */
void pool_worker_name(const PoolWorker *w, char *buf, size_t len);
void pool_spawn(Pool *p, PoolWorker *w);
int pool_flush(Pool *p, PoolWorker *w, int idx);
void pool_fs_event(Pool *p);
void pool_worker_event(Pool *p, int idx, uint32_t events);

#endif
