/*
 * handlers.h: the endpoint handlers and what they share. Handlers call the
 * pool, the registry and http's reply helpers; they never touch a worker
 * socket and never fork.
 */
#ifndef POOLD_HANDLERS_H
#define POOLD_HANDLERS_H

#include "common.h"
#include "http.h"

/* What main hands every handler, through http_app(). */
typedef struct App {
    const Config *cfg;
    const Registry *reg;
    Pool *pool;
} App;

/* The route table: one row per endpoint, ending with a zero row. */
extern const Route routes[];

/* calls.c: the synchronous Pool calls */
void handle_apply(HttpReq *r);
void handle_map(HttpReq *r);
void handle_starmap(HttpReq *r);

/* pool.c: the pool and its functions */
void handle_pool(HttpReq *r);
void handle_functions(HttpReq *r);

/* health.c */
void handle_healthz(HttpReq *r);

#endif
