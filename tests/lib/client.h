/*
 * client.h: what the black-box HTTP tests share. Drives the real poold
 * binary, started by server.h, with libcurl, and reads what it shows
 * (/v1/pool, /v1/jobs, /proc).
 */
#ifndef POOLD_TEST_CLIENT_H
#define POOLD_TEST_CLIENT_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "server.h"

/* GET path; the parsed body (new reference) when it answered 200, else
 * NULL. */
json_t *get_json(const Server *s, const char *path);

typedef struct Resp {
    long status;
    char *body;
    size_t len;
    char *headers;   /* raw header block */
    json_t *json;    /* the parsed body, or NULL */
    long connects;   /* new connections curl opened for this request */
    double seconds;  /* total time */
} Resp;

/* One request on a shared keep-alive handle (per process). body may be
 * NULL. Returns 0, or -1 when curl failed (then r->status is 0). In the
 * contract mode, one that breaks openapi.yaml ends the test (contract.h). */
int req(const Server *s, const char *method, const char *path, const char *body, Resp *r);

/* The same with extra request headers (NULL-terminated "Name: value"). */
int req_h(const Server *s, const char *method, const char *path, const char *body,
          const char *const *headers, Resp *r);

void resp_free(Resp *r);

/* POSTs body to path and expects the status; the caller frees r. Another
 * answer, or none, fails the test: it says what came and exits 1, as a
 * failed CHECK does (this file links without harness.c, for bench/). */
void post(const Server *s, const char *path, const char *body, long status, Resp *r);

/* The value of response header name (case-insensitive), in a static
 * buffer, or NULL. */
const char *resp_header(const Resp *r, const char *name);

/* The JSON at a path like "error.type" or "results.3" (borrowed). */
json_t *jpath(json_t *root, const char *path);

double now_seconds(void);

/* Sleeps s seconds, a second or more too (usleep's argument stops short
 * of one in POSIX). */
void sleep_seconds(double s);

/* The pid of a worker in /v1/pool whose state is `state` ("busy",
 * "idle"), 0 if none. */
int worker_in_state(const Server *s, const char *state);

/* POSTs body to path (an async submit), which must answer 202 (as post()
 * checks); the job's id (static buffer). */
const char *job_submit(const Server *s, const char *path, const char *body);

/* GET /v1/jobs/{id} (new reference), NULL unless 200. */
json_t *job_get(const Server *s, const char *id);

/* The job's status, "?" when it is unknown (static buffer). */
const char *job_status(const Server *s, const char *id);

/* Waits up to `seconds` for s's /readyz to answer want: 1 when it did. */
int await_ready(const Server *s, int want, double seconds);

/* The number at a path of /v1/pool, such as "queue.running". */
long pool_number(const Server *s, const char *path);

/* Waits up to `seconds` for pool_number(path) == want; 1 if it came. */
int await_pool_number(const Server *s, const char *path, long want, double seconds);

/* With every worker busy, submits echo jobs until the queue refuses one
 * (503 with Retry-After 1), letting each be counted waiting first (in the
 * queue or written ahead to a worker: /v1/pool's queue.queued), so that
 * the refusal says the queue is full, not that the dispatcher is behind
 * on a loaded machine. Returns the jobs accepted; -1 if anything else
 * happened. */
int fill_queue(const Server *s);

/* Waits up to `seconds` until /v1/pool shows n workers idle (the pool
 * back to full size after a worker was replaced); 1 if it did. */
int await_idle_workers(const Server *s, int n, double seconds);

/* Waits up to `seconds` until /v1/pool's first worker is another than
 * old_pid, past its start (a replacement, ready); 1 if it came. */
int await_worker_replaced(const Server *s, int old_pid, double seconds);

/* A POST run on its own thread: pthread_create(&t, NULL, bg_call_run, &c). */
typedef struct BgCall {
    const Server *s;
    const char *path, *body;
    Resp r;
} BgCall;
void *bg_call_run(void *arg);

/* From /proc: a process's parent (0 if it is gone), and the CPU time it
 * has used, user and system, in seconds. */
int parent_pid(int pid);
int child_pid(int pid); /* one child of pid, 0 if none */
double cpu_seconds(int pid);
long rss_kib(int pid); /* its resident set in KiB, -1 if gone */

/* The path of the misbehaving test plugin (tests/plugin/misbehave.c). */
const char *test_plugin(void);

#endif
