/*
 * http_status.h: the one table from an outcome (core/outcome.h) to the
 * HTTP status DESIGN.md gives it, and from a status to its problem type.
 * Every path that writes a status reads it: a sync answer, a job's
 * /result and view, a stream's error and final lines. It depends on
 * nothing but the outcome's names, so any module that renders for the
 * wire may read it.
 */
#ifndef POOLD_HTTP_STATUS_H
#define POOLD_HTTP_STATUS_H

#include "core/outcome.h"

/* The status of an outcome; 500 for one out of range. */
int http_status(Outcome o);

/* The problem type's last word ("timed-out") and title of a status;
 * "error" and "Error" for one the table lacks. */
const char *http_status_slug(int status);
const char *http_status_title(int status);

#endif
