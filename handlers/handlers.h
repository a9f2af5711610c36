/*
 * handlers.h: the endpoint handlers and what they share. Handlers call the
 * pool, the registry and http's reply helpers; they never touch a worker
 * socket and never fork.
 */
#ifndef POOLD_HANDLERS_H
#define POOLD_HANDLERS_H

#include "calls/call.h"
#include "core/outcome.h"
#include "core/common.h"
#include "http/http.h"

/* What main hands every handler, through http_app(). */
typedef struct App {
    const Config *cfg;
    const Registry *reg;
    Pool *pool;
    JobTable *jobs;
    Webhooks *webhooks;
    double started;     /* wall clock, seconds since the epoch */
} App;

/* The route table: one row per endpoint, ending with a zero row. */
extern const Route routes[];

/* request.c: what the call handlers share */
#define REQUEST_MAX_WAIT 300.0  /* seconds a long poll or Prefer: wait may ask for */
/* Answers 200 {"key": v}, with v (malloc'd JSON text, taken) as it is. */
void request_reply_result(HttpReq *r, const char *key, char *v, size_t len);
/* The outcome a service's return code (SVC_*) stands for, whose status
 * http_status() gives. */
Outcome request_outcome(int rc);
/* Answers a refusal of the pool or the job table (SVC_E*) with its status. */
void request_refused(HttpReq *r, int rc);
/* The body's call into *c; on failure answers (400, 404, 500) and
 * returns -1. */
int request_parse_call(HttpReq *r, CallOp op, const CallLimits *lim, Call **c);
/* What the server's flags allow a call (see call.h). */
CallLimits request_limits(const App *app, int async);
/* Prefer on a sync call (RFC 7240): returns 1 when it asks for a job. */
int request_prefer(HttpReq *r, int *async, double *wait);

/* calls.c: the synchronous Pool calls */
void handle_apply(HttpReq *r);
void handle_map(HttpReq *r);
void handle_starmap(HttpReq *r);

/* jobs.c: the async calls and their jobs */
void handle_apply_async(HttpReq *r);
void handle_map_async(HttpReq *r);
void handle_starmap_async(HttpReq *r);
void handle_jobs_list(HttpReq *r);
void handle_job_get(HttpReq *r);
void handle_job_delete(HttpReq *r);
void handle_job_result(HttpReq *r);
void handle_job_callback(HttpReq *r);
/* Runs the sync call as a job and answers as the preference says. */
void jobs_run_preferred(HttpReq *r, int op, int async, double wait);

/* imap.c: the streamed calls */
void handle_imap(HttpReq *r);
void handle_imap_unordered(HttpReq *r);
int imap_line(HttpReq *r, const char *line, size_t len);
int imap_unordered_line(HttpReq *r, const char *line, size_t len);

/* info.c: the pool and its functions */
void handle_pool(HttpReq *r);
void handle_functions(HttpReq *r);

/* watch.c: the event stream */
void handle_events(HttpReq *r);
/* Publishes the pool's state (pool.stats); ctx is the App. */
void watch_tick(void *ctx);

/* dashboard.c: the dashboard, its files compiled in (dashboard/, by
 * script/embed-assets.sh into dashboard_assets[], ending with a zero row) */
typedef struct DashboardAsset {
    const char *name, *type;
    const unsigned char *data;
    size_t len;
} DashboardAsset;
extern const DashboardAsset dashboard_assets[];
void handle_root(HttpReq *r);
void handle_dashboard(HttpReq *r);
void handle_dashboard_file(HttpReq *r);

/* scrape.c: the metrics */
void handle_metrics(HttpReq *r);

/* health.c */
void handle_healthz(HttpReq *r);
void handle_readyz(HttpReq *r);

#endif
