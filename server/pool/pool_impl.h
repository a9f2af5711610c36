/*
 * pool_impl.h: what the pool's files share (pool.c lists them). Private to
 * the pool: no other module includes it.
 *
 * Threads: the dispatcher owns everything here but the fields marked
 * "under lock", which other threads reach through pool.h.
 */
#ifndef POOLD_POOL_IMPL_H
#define POOLD_POOL_IMPL_H

#include <pthread.h>
#include <sched.h>
#include <sys/types.h>

#include "core/clock.h"
#include "pool/forkserver.h"
#include "core/metrics.h"
#include "pool/pool.h"
#include "pool/taskq.h"
#include "worker/wire.h"
#include "worker/worker.h"

#define POOL_DEPTH 8          /* tasks written ahead to one worker */
#define POOL_TAG_KICK UINT32_MAX
#define POOL_TAG_FS (UINT32_MAX - 1)
#define POOL_RESPAWN_DELAY 1.0 /* seconds before retrying a failed spawn */
#define POOL_TERM_GRACE 1.0   /* seconds from SIGTERM to SIGKILL for a task
                               * past its timeout */
/* POOL_LOOP_DEATHS workers dying before they could take a task, with no
 * worker doing well in between, are a crash loop: spawns back off from
 * POOL_LOOP_BACKOFF seconds, doubling up to POOL_LOOP_BACKOFF_MAX. */
#define POOL_LOOP_DEATHS 10
#define POOL_LOOP_BACKOFF 1.0
#define POOL_LOOP_BACKOFF_MAX 30.0
#define POOL_READY_SETTLE 1.0  /* a worker ready this long ends a crash loop */
#define POOL_MAX_BOUNCES 3     /* workers a task may see die before it starts */
#define POOL_NEVER 1e300

struct PoolTask {
    TaskqNode node;         /* first: a queued task is its node */
    PoolTask *done_next;    /* in p->done */
    PoolTask *start_next;   /* in p->started */
    uint64_t start_seq, done_seq; /* when each callback was queued (p->calls) */
    char *payload;
    size_t len;
    uint32_t mode;
    PoolDoneFn done;
    PoolStartFn start;
    void *ctx;
    size_t index;
    uint64_t owner;         /* what pool_cancel names */
    int announced;          /* start() has been called */
    double timeout;         /* seconds per item; 0 for none */
    int retries;            /* runs left after a worker dies under it */
    int timed_out;          /* its worker was stopped for its deadline */
    int killed;             /* its worker was killed to cancel it: no retry */
    int bounces;            /* workers that died reading it, before it started */
    int metered;            /* pool_task_meter named it: */
    unsigned func;          /* its function's id */
    uint64_t items;
    double ran;             /* seconds its worker ran it, the last time
                             * one started it; 0 never */
    PoolResult res;
};

/* SPAWNING: asked of the fork server; STARTING: forked, its initializers
 * running, until its WIRE_READY frame; READY: takes tasks; DYING: its
 * socket is closed, its exit report not yet in; BACKOFF: waiting for
 * retry_at to be spawned again. */
typedef enum { W_SPAWNING, W_STARTING, W_READY, W_DYING, W_BACKOFF } WorkerState;

typedef struct PoolWorker {
    WorkerState state;      /* written under p->lock, read by snapshots */
    unsigned number;        /* ForkPoolWorker-N */
    char name[32];          /* "ForkPoolWorker-N", under lock */
    pid_t pid;
    int pidfd;              /* signals go here, never to a reused pid; -1 */
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
    long assigned;          /* tasks sent and not taken back, against
                             * --max-tasks-per-child */
    int doomed;             /* being stopped (timeout, cancel, retirement):
                             * gets no more tasks */
    int retiring;           /* stopped after --max-tasks-per-child tasks */
    int was_ready;          /* its WIRE_READY came */
    MetricsExitCause cause; /* why it will end, once it does; MX_CRASH
                             * unless poold ends it */
    int fed;                /* it was sent a task: its death is no start-up
                             * failure, whatever the task did to it */
    double spawned_at;      /* when it was asked for */
    double ready_at;        /* when its WIRE_READY came */
    double check_at;        /* when to look at its timed tasks' deadlines */
    double kill_at;         /* SIGTERM sent: when SIGKILL follows */
    double retry_at;        /* W_BACKOFF: when to spawn again */
    char note[WIRE_NOTE_MAX + 1]; /* its WIRE_NOTE: why it is leaving, or "" */
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

typedef struct PoolRoomWaiter {
    struct PoolRoomWaiter *next;
    PoolRoomFn fn;
    void *ctx;
} PoolRoomWaiter;

struct Pool {
    PoolOptions opt;
    pthread_mutex_t lock;
    Taskq queue;            /* under lock */
    PoolCancel *cancels;    /* under lock: what pool_cancel asked */
    PoolRoomWaiter *room;   /* under lock: pool_submit_when_room's, newest first */
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
    cpu_set_t cpus;         /* with opt.pin: the CPUs the workers are spread on */
    int ncpus;              /* how many; 0: workers run on any */
    int rr;                 /* the last worker picked, so that ties rotate */
    PoolWorker *workers;
    TaskFifo done;          /* dispatcher only: done callbacks to call */
    TaskFifo started;       /* dispatcher only: start callbacks to call */
    uint64_t calls;         /* dispatcher only: callbacks queued so far, so
                             * that both kinds run in the order they came */
    int ndeaths;            /* start-up deaths since a worker did well */
    double backoff;         /* under lock: crash loop delay, 0 when none */
    double backoff_at;      /* when it was last raised */
    double loop_at;         /* when pool_loop_check wants to look again */
    char loop_why[WIRE_NOTE_MAX + 96];     /* under lock: the last start-up death */
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
int pool_any_ready(Pool *p);

/* pool_task.c */
void pool_task_finish(Pool *p, PoolTask *t, PoolStatus status);
void pool_task_end_queued(Pool *p, PoolStatus status);
void pool_task_requeue(Pool *p, PoolTask *t);
int pool_task_send(Pool *p, int idx, PoolTask *t);
void pool_task_release(Pool *p, int s);

/* pool_submit.c */
void pool_submit_kick(Pool *p);
void pool_submit_room_fire(PoolRoomWaiter *w);
/* Tasks waiting for a worker, in the queue or written ahead to one
 * behind the task it runs. Under p->lock. */
long pool_submit_waiting(Pool *p);

/* pool_cancel.c */
void pool_cancel_apply(Pool *p);

/* pool_dispatch.c */
void *pool_dispatch_run(void *arg);

/* pool_worker.c */
void pool_worker_name(const PoolWorker *w, char *buf, size_t len);
void pool_worker_set_state(Pool *p, PoolWorker *w, WorkerState state);
void pool_worker_spawn(Pool *p, PoolWorker *w);
int pool_worker_flush(Pool *p, PoolWorker *w, int idx);
void pool_worker_close(Pool *p, PoolWorker *w);
void pool_worker_signal(Pool *p, PoolWorker *w, int sig);
void pool_worker_drop(PoolWorker *w, int i);
int pool_worker_take_back(Pool *p, PoolWorker *w, int from);
int pool_worker_running(Pool *p, const PoolWorker *w);
void pool_worker_stop(Pool *p, PoolWorker *w, int sig, MetricsExitCause cause);
void pool_worker_fs_event(Pool *p);
void pool_worker_event(Pool *p, int idx, uint32_t events);

/* pool_exit.c */
void pool_exit_eof(Pool *p, PoolWorker *w);
void pool_exit_reported(Pool *p, pid_t pid, int st);
void pool_exit_fs_lost(Pool *p);

/* pool_loop.c */
void pool_loop_over(Pool *p, const PoolWorker *w);
double pool_loop_death(Pool *p, const PoolWorker *w, const char *how);
double pool_loop_check(Pool *p, double now);

/* pool_deadline.c */
void pool_deadline_check(Pool *p, int idx, double now);

#endif
