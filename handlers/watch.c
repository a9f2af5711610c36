/*
 * watch.c: GET /v1/events, the event stream (server/events/) as
 * Server-Sent Events; and watch_tick, the pool's state published on it
 * every few seconds while someone reads.
 *
 * A stream is a reader of the events' ring: its connection sleeps while
 * there is nothing to read, and the events' waker wakes it (through the
 * request's waiter) when there is.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "events/events.h"
#include "handlers.h"
#include "jobs/job.h"
#include "pool/pool.h"

#define WATCH_TYPE "text/event-stream; charset=utf-8"

typedef struct WatchReq {
    EventsReader *reader;
} WatchReq;

/* An EventsWakeFn: news for the sleeping connection. */
static void
watch_wake(void *waiter)
{
    http_wait_wake(waiter);
}

/* An HttpGoneFn: the client hung up while its connection slept. */
static void
watch_gone(void *ctx)
{
    WatchReq *q = ctx;

    if (q->reader)
        events_gone(q->reader);
}

/* The request is over: no wake may come after this. The reader itself
 * lives on until watch_free: the watcher thread may still be telling it
 * its client is gone (watch_gone). */
static void
watch_closed(void *ctx)
{
    WatchReq *q = ctx;

    events_detach(q->reader);
}

static void
watch_free(void *ctx)
{
    WatchReq *q = ctx;

    events_close(q->reader);
    free(q);
}

static ssize_t
watch_read(void *ctx, char *buf, size_t max, int stopping)
{
    WatchReq *q = ctx;
    ssize_t n = events_read(q->reader, buf, max, stopping);

    return n == EVENTS_WAIT ? HTTP_READ_WAIT : n == EVENTS_END ? HTTP_READ_END : n;
}

/* Last-Event-ID: the header an EventSource sends when it reconnects, or
 * the lastEventId parameter for a client that cannot set it. 0 with none;
 * 1 with *id; -1 when it is not a number. */
static int
watch_last_id(HttpReq *r, uint64_t *id)
{
    const char *v = http_header(r, "Last-Event-ID");
    char *end;

    if (!v || !*v)
        v = http_query(r, "lastEventId");
    if (!v || !*v)
        return 0;
    errno = 0;
    *id = strtoull(v, &end, 10);
    return *end || errno || *v == '-' ? -1 : 1;
}

void
handle_events(HttpReq *r)
{
    EventsFilter f = {.types = http_query(r, "type"), .job = http_query(r, "job")};
    uint64_t last = 0;
    int has_last = watch_last_id(r, &last);
    char why[200];
    WatchReq *q;
    HttpWaiter *w;

    if (events_filter_check(f.types, why, sizeof(why)) != SVC_OK) {
        http_reply_problem(r, 400, why, json_pack("{s:s}", "field", "type"));
        return;
    }
    if (has_last < 0) {
        http_reply_problem(r, 400, "Last-Event-ID must be an event's id, a number", NULL);
        return;
    }
    if (f.job && strlen(f.job) > 32) {
        http_reply_problem(r, 400, "job must be a job's id (32 hex digits)", json_pack("{s:s}", "field", "job"));
        return;
    }
    if (!(q = calloc(1, sizeof(*q))) || !(w = http_stream_open(r, q, watch_free, watch_gone, watch_closed))) {
        http_reply_problem(r, 500, "out of memory", NULL);
        return;
    }
    if (!(q->reader = events_open(&f, has_last, last, watch_wake, w))) {
        http_reply_problem(r, 503, "poold is shutting down", NULL);
        return;
    }
    http_stream_reply(r, 200, WATCH_TYPE, watch_read);
}

/* The pool's state, for a dashboard's chart: the queue, the workers, the
 * tasks done so far (a rate is the difference of two), and the jobs the
 * table holds by status. */
void
watch_tick(void *ctx)
{
    App *app = ctx;
    json_t *snap = pool_snapshot(app->pool), *w, *jobs = json_object();
    json_int_t done = 0;
    size_t i, counts[JOB_NSTATUS];

    if (!snap || !jobs) {
        json_decref(snap);
        json_decref(jobs);
        return;
    }
    json_array_foreach(json_object_get(snap, "workers"), i, w)
        done += json_integer_value(json_object_get(w, "tasks_done"));
    json_object_set_new(snap, "tasks_done", json_integer(done));
    job_view_counts(app->jobs, counts);
    for (int s = 0; s < JOB_NSTATUS; s++)
        json_object_set_new(jobs, job_status_name((JobStatus)s), json_integer((json_int_t)counts[s]));
    json_object_set_new(snap, "jobs", jobs);
    events_publish(EV_POOL_STATS, NULL, snap);
}
