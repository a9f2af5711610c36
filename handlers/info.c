/* info.c: GET /v1/pool and GET /v1/functions, what the pool is and runs. */
#include "config.h"
#include "handlers.h"
#include "pool/pool.h"
#include "functions/registry.h"

void
handle_pool(HttpReq *r)
{
    App *app = http_app(r);
    json_t *snap = pool_snapshot(app->pool);

    /* Behind a balancer, which of the replicas this is. */
    if (snap && app->cfg->redis_host[0])
        json_object_set_new(snap, "replica", json_string(app->cfg->replica));
    http_reply_json(r, 200, snap);
}

void
handle_functions(HttpReq *r)
{
    App *app = http_app(r);

    http_reply_json(r, 200, json_pack("{s:o}", "functions", registry_list(app->reg)));
}
