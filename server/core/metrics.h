/*
 * metrics.h: the counters behind GET /metrics, in Prometheus' text format.
 *
 * One set for the process, made once before any thread starts and then
 * only counted into: the paths that count (every request, every task) take
 * no lock, only relaxed atomic adds on slots fixed at start-up, so that
 * measuring poold does not slow it. What is a state rather than a count
 * (the queue, the workers, the jobs) is read at scrape time by the handler,
 * which writes it with metrics_family and metrics_sample.
 */
#ifndef POOLD_METRICS_H
#define POOLD_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "core/common.h"

/* How an item of a task ended, for poold_tasks_total{func,status}. */
typedef enum {
    MT_SUCCEEDED,
    MT_FAILED,     /* the function raised */
    MT_TIMED_OUT,
    MT_WORKER_LOST,
    MT_CANCELLED,  /* cancelled before it ran */
    MT_NOT_RUN,    /* the pool stopped, had no worker, or no memory */
    MT_NSTATUS,
} MetricsTaskStatus;

/* Why a worker process ended, for poold_worker_restarts_total{cause}. */
typedef enum {
    MX_CRASH,         /* it died while serving: a signal, an exit */
    MX_TIMEOUT,       /* stopped for a task past its timeout */
    MX_CANCEL,        /* killed to cancel the task it ran */
    MX_MAX_TASKS,     /* retired after --max-tasks-per-child */
    MX_START_FAILURE, /* died before it could take a task */
    MX_START_TIMEOUT, /* not ready within --worker-start-timeout */
    MX_NCAUSE,
} MetricsExitCause;

/* How a webhook attempt ended, for poold_webhook_failures_total{reason}. */
typedef enum {
    MW_DELIVERED,
    MW_STATUS,   /* the receiver answered, not 2xx */
    MW_TIMEOUT,
    MW_NETWORK,  /* no answer: DNS, connect, TLS, reset */
    MW_REFUSED,  /* the address is not allowed (netguard) */
    MW_NOUTCOME,
} MetricsWebhookOutcome;

/*
 * Makes the counters for nfuncs functions (ids 0..nfuncs-1, named by
 * func_names) and nroutes routes (labelled by method and pattern). Call
 * once, before any thread counts. SVC_OK or SVC_ENOMEM.
 */
int metrics_init(const char *const *func_names, unsigned nfuncs, const char *const *route_methods,
                 const char *const *route_patterns, unsigned nroutes);
void metrics_free(void);

/* A request answered: route is its row (-1: none matched). */
void metrics_http(int route, int status, double seconds);

/* A task of `items` items of function func ended; `failed` of them raised
 * (status MT_SUCCEEDED: the others succeeded). seconds is how long its
 * worker held it (0: it never ran). */
void metrics_task(unsigned func, uint64_t items, uint64_t failed, MetricsTaskStatus status, double seconds);

void metrics_worker_exit(MetricsExitCause cause);

/* A webhook attempt ended; gave_up: it was the delivery's last. */
void metrics_webhook(MetricsWebhookOutcome outcome, int gave_up);

/* Writes every counter family. */
void metrics_write(FILE *f);

/* Writes a family's HELP and TYPE lines, then its samples follow. */
void metrics_family(FILE *f, const char *name, const char *type, const char *help);

/* One sample: labels is "" or label="value" pairs joined by commas, their
 * values already escaped with metrics_escape. */
void metrics_sample(FILE *f, const char *name, const char *labels, double value);

/* A label value escaped for the text format (backslash, quote, newline)
 * into buf; returns buf. */
const char *metrics_escape(const char *value, char *buf, size_t len);

#endif
