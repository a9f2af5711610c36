/* info.c: GET /v1/pool and GET /v1/functions, what the pool is and runs. */
#include "handlers.h"
#include "pool/pool.h"
#include "functions/registry.h"

void
handle_pool(HttpReq *r)
{
    App *app = http_app(r);

    http_reply_json(r, 200, pool_snapshot(app->pool));
}

void
handle_functions(HttpReq *r)
{
    App *app = http_app(r);

    http_reply_json(r, 200, json_pack("{s:o}", "functions", registry_list(app->reg)));
}
