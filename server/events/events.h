/*
 * events.h: what happens in poold, told as it happens (GET /v1/events and
 * the dashboard read it as Server-Sent Events).
 *
 * One stream for the process, like the metrics: the parts that act (jobs,
 * the pool) publish into it with events_publish, from any thread, and never
 * wait on a reader. Events go into a bounded ring of recent ones, each
 * already written as its text/event-stream frame with an increasing id; a
 * reader is no more than a cursor into the ring and a filter, so that a
 * slow reader holds no memory of its own past one frame: once the ring has
 * moved past its cursor it is told, with a "stream.gap" event, how many it
 * missed. One thread (the waker) wakes sleeping readers when the ring
 * grows and says a heartbeat comment to each, so that a publisher's cost
 * is one lock and one copy, however many read.
 *
 * It sits just above core: it knows no HTTP (a reader's wake is a
 * function its caller gives) and no job or pool (an event is a type, a job
 * id and JSON).
 */
#ifndef POOLD_EVENTS_H
#define POOLD_EVENTS_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "core/common.h"

/* Every type of event; the names are events_type_name's. */
typedef enum {
    EV_JOB_CREATED,
    EV_JOB_STARTED,
    EV_JOB_PROGRESS,
    EV_JOB_SUCCEEDED,
    EV_JOB_FAILED,
    EV_JOB_TIMED_OUT,
    EV_JOB_WORKER_LOST,
    EV_JOB_CANCELLED,
    EV_CALLBACK_DELIVERED, /* job.callback.delivered */
    EV_CALLBACK_GIVEN_UP,  /* job.callback.given_up: no attempt follows */
    EV_WORKER_STARTED,     /* ready for tasks */
    EV_WORKER_EXITED,      /* with its cause */
    EV_WORKER_RECYCLED,    /* retired after --max-tasks-per-child */
    EV_POOL_STATS,         /* the queue and the counts, every few seconds */
    EV_STREAM_GAP,         /* a reader's own: events it can no longer get */
    EV_NTYPES,
} EventType;

#define EVENTS_DEFAULT_RING 4096   /* events kept for Last-Event-ID */
#define EVENTS_DEFAULT_HEARTBEAT 15.0 /* seconds between comment lines */
#define EVENTS_MAX_FRAME 32768     /* an event's frame is cut to fit: pool.stats
                                    * of some 300 workers still fits */

typedef struct EventsOptions {
    size_t ring;        /* events kept; 0: EVENTS_DEFAULT_RING */
    double heartbeat;   /* seconds; 0: EVENTS_DEFAULT_HEARTBEAT */
    /* Called on the waker thread every tick seconds while someone reads,
     * to publish what is a state rather than an act (EV_POOL_STATS). */
    void (*tick)(void *ctx);
    void *tick_ctx;
    double tick_every;  /* seconds; 0: no tick */
} EventsOptions;

/* Makes the ring and starts the waker. Before it (and after events_free)
 * events_publish does nothing, so a unit test need not call it. SVC_OK,
 * SVC_ENOMEM or SVC_ERROR (no thread). */
int events_init(const EventsOptions *o);

/* Ends every reader's stream (each reads its end) and stops the waker. */
void events_stop(void);

/* Frees the ring, once nothing reads (HTTP has stopped). */
void events_free(void);

const char *events_type_name(EventType t);

/* Publishes an event: job is its job's id or NULL; data (stolen, may be
 * NULL) is a JSON object whose members go beside "type", "job" and
 * "time". Any thread; never blocks on a reader. */
void events_publish(EventType type, const char *job, json_t *data);

/* Writes poold_events_total{type} (every event published, by type). */
void events_metrics_write(FILE *f);

/* --- readers --- */

typedef struct EventsReader EventsReader;

/* Wakes the reader's sleeping connection; called on the waker thread. */
typedef void (*EventsWakeFn)(void *ctx);

/* A filter: types is NULL (all) or a comma-separated list of names, each
 * exact ("job.succeeded") or a prefix ending in ".*" ("job.*"); job is
 * NULL (all) or one job's id. */
typedef struct EventsFilter {
    const char *types;
    const char *job;
} EventsFilter;

/* Checks a filter's types: SVC_OK, or SVC_EINVAL with why filled. */
int events_filter_check(const char *types, char *why, size_t len);

/*
 * A new reader from now on, or, with last_id (a client's Last-Event-ID;
 * has_last 0 for none), from the event after it: when that is gone from
 * the ring the reader first reads a "stream.gap" event. NULL when out of
 * memory, or when events_init was not called or events_stop was.
 */
EventsReader *events_open(const EventsFilter *f, int has_last, uint64_t last_id, EventsWakeFn wake,
                          void *wake_ctx);

/* events_read's answers besides a byte count. */
#define EVENTS_WAIT 0      /* nothing now: the wake function is called when there is */
#define EVENTS_END (-1)    /* poold is stopping, or the reader was told to go */

/* Fills buf with whole frames (or the rest of one that did not fit), up
 * to max bytes. stopping: the caller cannot sleep, so nothing more comes. */
ssize_t events_read(EventsReader *r, char *buf, size_t max, int stopping);

/* The reader's client is gone: its next read ends, and it is woken. */
void events_gone(EventsReader *r);

/* Takes the reader out of the stream: no wake comes after this returns;
 * the reader stays readable (events_gone may still be called on it) until
 * events_close. */
void events_detach(EventsReader *r);

/* Detaches the reader if it is not yet, and frees it. */
void events_close(EventsReader *r);

/* Readers open now. */
size_t events_readers(void);

#endif
