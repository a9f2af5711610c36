/*
 * routes.c: every endpoint poold serves, read top to bottom. http.c finds
 * the first row whose pattern and method match, answers 404 or 405 itself,
 * and checks the body's size and JSON before the handler runs.
 */
#include "handlers.h"

const Route routes[] = {
    /* method  pattern          handler           JSON body */
    {"POST", "/v1/apply",       handle_apply,     1},
    {"POST", "/v1/map",         handle_map,       1},
    {"POST", "/v1/starmap",     handle_starmap,   1},
    {"POST", "/v1/apply_async", handle_apply_async, 1},
    {"POST", "/v1/map_async",   handle_map_async, 1},
    {"POST", "/v1/starmap_async", handle_starmap_async, 1},
    {"GET",  "/v1/jobs",        handle_jobs_list, 0},
    {"GET",  "/v1/jobs/{id}",   handle_job_get,   0},
    {"DELETE", "/v1/jobs/{id}", handle_job_delete, 0},
    {"GET",  "/v1/jobs/{id}/result", handle_job_result, 0},
    {"GET",  "/v1/pool",        handle_pool,      0},
    {"GET",  "/v1/functions",   handle_functions, 0},
    {"GET",  "/healthz",        handle_healthz,   0},
    {"GET",  "/readyz",         handle_readyz,    0},
    {0},
};
