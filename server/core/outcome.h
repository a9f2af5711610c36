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
    OUTCOME_OK,
    OUTCOME_INVALID,        /* the client's input is malformed */
    OUTCOME_NOT_FOUND,      /* no function, no job of that name */
    OUTCOME_CANCELLED,      /* cancelled by the client (DELETE, a gone client) */
    OUTCOME_TOO_LARGE,      /* a body, a line or a task past its bound */
    OUTCOME_FUNCTION_ERROR, /* the function raised (on_error "raise") */
    OUTCOME_NOMEM,          /* poold ran out of memory */
    OUTCOME_INTERNAL,       /* anything else poold could not do */
    OUTCOME_WORKER_LOST,    /* the worker died running it */
    OUTCOME_STOPPED,        /* poold is shutting down */
    OUTCOME_QUEUE_FULL,     /* --max-queue or --max-jobs reached */
    OUTCOME_UNAVAILABLE,    /* no worker can start, the store cannot write */
    OUTCOME_TIMED_OUT,      /* past its timeout */
    OUTCOME_COUNT
} Outcome;

#endif
