/*
 * health.c: GET /healthz and GET /readyz.
 *
 * /healthz says the process serves HTTP and touches nothing else, so a
 * liveness probe never restarts poold for a reason a restart cannot fix.
 * /readyz says whether a call sent now would run: a worker is ready, workers
 * are not crash-looping at start-up, poold is not stopping, and the job
 * store can write (an async submit would be refused otherwise). It is open:
 * without the API key (when there is one) it says what is wrong, and
 * leaves the detail (the store's path, a system error, a worker's last
 * words) to the log and to callers with the key.
 */
#include <stdio.h>
#include <string.h>

#include "handlers.h"
#include "jobs/job.h"
#include "pool/pool.h"

void
handle_healthz(HttpReq *r)
{
    http_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

/* Retry-After is said only when it is known: 1 s while workers start, the
 * rest of a crash loop's backoff; not while poold stops, nor for a store
 * that cannot write (its file cannot open until a restart, or the disk is
 * full until someone frees it: no second will do). */
void
handle_readyz(HttpReq *r)
{
    App *app = http_app(r);
    char why[300], brief[160], seconds[24];
    const char *what = NULL;
    double retry = 0;
    const char *retry_after[] = {"Retry-After", seconds, NULL};

    if (pool_ready_detail(app->pool, why, sizeof(why), &what, &retry) &&
        job_store_ready(app->jobs, why, sizeof(why))) {
        http_reply_json(r, 200, json_pack("{s:s}", "status", "ready"));
        return;
    }
    if (!what) {
        what = "the job store cannot be written";
        retry = 0;
    }
    snprintf(brief, sizeof(brief), "%s%s", what, strcmp(what, why) ? " (poold's log says why)" : "");
    snprintf(seconds, sizeof(seconds), "%.0f", retry);
    http_reply_problem_h(r, 503, http_authorized(r) ? why : brief, NULL, retry > 0 ? retry_after : NULL);
}
