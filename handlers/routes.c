/*
 * routes.c: every endpoint poold serves, read top to bottom. http_request.c
 * (through http_parse_route) finds the first row whose pattern and method match, answers 404 or 405 itself,
 * and checks the body's size and JSON before the handler runs.
 */
#include "handlers.h"

const Route routes[] = {
    /* method  pattern          handler           body, line function, open (no key) */
    {"POST", "/v1/apply",       handle_apply,     HTTP_BODY_JSON, NULL, 0},
    {"POST", "/v1/map",         handle_map,       HTTP_BODY_TEXT, NULL, 0},
    {"POST", "/v1/starmap",     handle_starmap,   HTTP_BODY_TEXT, NULL, 0},
    {"POST", "/v1/imap",        handle_imap,      HTTP_BODY_LINES, imap_line, 0},
    {"POST", "/v1/imap_unordered", handle_imap_unordered, HTTP_BODY_LINES, imap_unordered_line, 0},
    {"POST", "/v1/apply_async", handle_apply_async, HTTP_BODY_JSON, NULL, 0},
    {"POST", "/v1/map_async",   handle_map_async, HTTP_BODY_TEXT, NULL, 0},
    {"POST", "/v1/starmap_async", handle_starmap_async, HTTP_BODY_TEXT, NULL, 0},
    {"GET",  "/v1/jobs",        handle_jobs_list, HTTP_BODY_ANY, NULL, 0},
    {"GET",  "/v1/jobs/{id}",   handle_job_get,   HTTP_BODY_ANY, NULL, 0},
    {"DELETE", "/v1/jobs/{id}", handle_job_delete, HTTP_BODY_ANY, NULL, 0},
    {"GET",  "/v1/jobs/{id}/result", handle_job_result, HTTP_BODY_ANY, NULL, 0},
    {"POST", "/v1/jobs/{id}/callback", handle_job_callback, HTTP_BODY_ANY, NULL, 0},
    {"GET",  "/v1/pool",        handle_pool,      HTTP_BODY_ANY, NULL, 0},
    {"GET",  "/v1/functions",   handle_functions, HTTP_BODY_ANY, NULL, 0},
    /* An EventSource cannot send a header: the key may be ?access_token=. */
    {"GET",  "/v1/events",      handle_events,    HTTP_BODY_ANY, NULL, HTTP_KEY_IN_QUERY},
    {"GET",  "/metrics",        handle_metrics,   HTTP_BODY_ANY, NULL, 0},
    /* The dashboard's page and files hold no data: open, so that the page
     * can ask for the key (its calls then send it). */
    {"GET",  "/",               handle_root,      HTTP_BODY_ANY, NULL, HTTP_OPEN},
    {"GET",  "/dashboard",      handle_dashboard, HTTP_BODY_ANY, NULL, HTTP_OPEN},
    {"GET",  "/dashboard/{id}", handle_dashboard_file, HTTP_BODY_ANY, NULL, HTTP_OPEN},
    /* Probes stay open: an orchestrator has no key. */
    {"GET",  "/healthz",        handle_healthz,   HTTP_BODY_ANY, NULL, 1},
    {"GET",  "/readyz",         handle_readyz,    HTTP_BODY_ANY, NULL, 1},
    {0},
};
