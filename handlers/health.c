/*
 * health.c: GET /healthz and GET /readyz.
 *
 * /healthz says the process serves HTTP and touches nothing else, so a
 * liveness probe never restarts poold for a reason a restart cannot fix.
 * /readyz says whether a call sent now would run: a worker is ready, workers
 * are not crash-looping at start-up, poold is not stopping, and the job
 * store can write (an async submit would be refused otherwise).
 */
#include "handlers.h"
#include "jobs/job.h"
#include "pool/pool.h"

void
handle_healthz(HttpReq *r)
{
    http_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

void
handle_readyz(HttpReq *r)
{
    App *app = http_app(r);
    char why[300];

    if (pool_ready(app->pool, why, sizeof(why)) && job_store_ready(app->jobs, why, sizeof(why)))
        http_reply_json(r, 200, json_pack("{s:s}", "status", "ready"));
    else
        http_reply_problem(r, 503, why, NULL);
}
