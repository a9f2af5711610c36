/*
 * job_state.h: a job's state machine as pure functions: which status may
 * follow which, the status a batch's end gives a job, and the Outcome
 * (core/outcome.h) an ended job stands for. Nothing here touches a table
 * or a lock, so that the rule is tested alone (tests/unit/unit_job.c) and
 * is the one every move obeys: a job's status changes only through
 * job_state_move (job_state.c's moves, and job_store.c's for a job read
 * back that can no longer run), but for a job read back from the store,
 * which takes the status it was left in before it is in the table
 * (job_store.c).
 */
#ifndef POOLD_JOB_STATE_H
#define POOLD_JOB_STATE_H

#include "calls/batch.h"
#include "core/outcome.h"
#include "jobs/job.h"

/* 1 when a job in status from may move to status to, else 0. A queued job
 * may start or end in any way (a batch can end before its first chunk
 * reaches a worker); a running one may end in any way; an ended one never
 * moves again, so the first end wins (a cancel over the batch's late
 * answer). No status follows itself. */
int job_state_ok(JobStatus from, JobStatus to);

/* Moves *status to `to` when job_state_ok allows it: 1, else 0 with
 * *status unchanged. */
int job_state_move(JobStatus *status, JobStatus to);

/* The status a job ends with when its batch ends with o. */
JobStatus job_state_of_outcome(Outcome o);

/*
 * The Outcome of a job that has ended with status s; fail is the outcome
 * of its failure (NULL when it keeps none). Returns 1 with *out set, or 0
 * while the job is queued or running (it has no outcome yet). A status
 * code is read from it through http_status(), never written here.
 */
int job_state_outcome(JobStatus s, const Outcome *fail, Outcome *out);

#endif
