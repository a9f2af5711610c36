/*
 * outcome.h: the ways a call, a task or a job can end, as every part below
 * the handlers speaks of them. No HTTP status appears below http/: the one
 * table from an outcome to a status is http/http_status.c, and whatever
 * writes a status on the wire (an answer, a stream's line, a job's error)
 * reads it there.
 */
#ifndef POOLD_OUTCOME_H
#define POOLD_OUTCOME_H

typedef enum {
    /* The job store keeps a failed job's outcome as its number (its
     * fail_outcome column): these eight have the numbers the stored jobs
     * of earlier versions carry. Add at the end; never renumber. */
    OUTCOME_OK = 0,
    OUTCOME_FUNCTION_ERROR = 1, /* the function raised (on_error "raise") */
    OUTCOME_WORKER_LOST = 2,    /* the worker died running it */
    OUTCOME_TIMED_OUT = 3,      /* past its timeout */
    OUTCOME_STOPPED = 4,        /* poold is shutting down */
    OUTCOME_UNAVAILABLE = 5,    /* no worker can start, the store cannot write */
    OUTCOME_CANCELLED = 6,      /* cancelled by the client (DELETE, a gone client) */
    OUTCOME_NOMEM = 7,          /* poold ran out of memory */
    OUTCOME_INVALID,            /* the client's input is malformed */
    OUTCOME_NOT_FOUND,          /* no function, no job of that name */
    OUTCOME_TOO_LARGE,          /* a body, a line or a task past its bound */
    OUTCOME_INTERNAL,           /* anything else poold could not do */
    OUTCOME_QUEUE_FULL,         /* --max-queue or --max-jobs reached */
    OUTCOME_COUNT
} Outcome;

#endif
