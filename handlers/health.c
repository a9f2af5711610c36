/* health.c: GET /healthz, answered without touching the pool: it says the
 * process serves HTTP, nothing more. */
#include "handlers.h"

void
handle_healthz(HttpReq *r)
{
    http_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}
