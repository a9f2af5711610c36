/*
 * job_events.c: a job's life told on the event stream (events/events.h):
 * created, started, its progress, its end, and its webhook's end. Each
 * event carries what a watcher shows without asking again; the whole job
 * (its arguments, its result, a traceback) is GET /v1/jobs/{id}'s.
 */
#include <string.h>

#include "core/clock.h"
#include "events/events.h"
#include "jobs/job_impl.h"

#define JOB_EVENTS_MESSAGE 300    /* an error message's bytes in an event */
#define JOB_EVENTS_PROGRESS 0.25  /* seconds between a job's progress events */

void
job_events_created(const Job *j)
{
    events_publish(EV_JOB_CREATED, j->id,
                   json_pack("{s:s, s:s, s:I, s:i}", "op", job_ops[j->op], "func", j->func, "total",
                             (json_int_t)j->total, "priority", j->priority));
}

void
job_events_started(const Job *j)
{
    events_publish(EV_JOB_STARTED, j->id, json_pack("{s:s, s:s, s:i}", "func", j->func, "worker", j->worker,
                                                    "pid", (int)j->pid));
}

void
job_events_progress(Job *j, size_t done, size_t total)
{
    double now = clock_mono();

    /* A map of a million one-item chunks would fill the ring: a few a
     * second is what a progress bar needs. */
    if (now - j->events_at < JOB_EVENTS_PROGRESS)
        return;
    j->events_at = now;
    events_publish(EV_JOB_PROGRESS, j->id,
                   json_pack("{s:I, s:I}", "done", (json_int_t)done, "total", (json_int_t)total));
}

static EventType
job_events_type(JobStatus s)
{
    switch (s) {
    case JOB_SUCCEEDED: return EV_JOB_SUCCEEDED;
    case JOB_TIMED_OUT: return EV_JOB_TIMED_OUT;
    case JOB_WORKER_LOST: return EV_JOB_WORKER_LOST;
    case JOB_CANCELLED: return EV_JOB_CANCELLED;
    default: return EV_JOB_FAILED;
    }
}

void
job_events_ended(const Job *j)
{
    json_t *o = json_pack("{s:s, s:s, s:f, s:I, s:I}", "status", job_names[j->status], "func", j->func,
                          "duration", j->started ? j->finished - j->started : 0.0, "done",
                          (json_int_t)j->done_at_end, "total", (json_int_t)j->total);

    if (o && j->worker[0]) {
        json_object_set_new(o, "worker", json_string(j->worker));
        json_object_set_new(o, "pid", json_integer(j->pid));
    }
    if (o && j->fail) {
        size_t n = strnlen(j->fail->message, JOB_EVENTS_MESSAGE);
        while (n > 0 && ((unsigned char)j->fail->message[n] & 0xC0) == 0x80)
            n--; /* not inside a UTF-8 sequence */
        json_object_set_new(o, "error", json_pack("{s:s, s:s%}", "type", j->fail->type, "message",
                                                  j->fail->message, n));
    }
    events_publish(job_events_type(j->status), j->id, o);
}

void
job_events_callback(const Job *j, const WebhookReport *r)
{
    if (!r->done)
        return;
    events_publish(r->delivered ? EV_CALLBACK_DELIVERED : EV_CALLBACK_GIVEN_UP, j->id,
                   json_pack("{s:i, s:I, s:s}", "attempts", r->attempts, "last_status",
                             (json_int_t)r->last_status, "last_error", r->last_error));
}
