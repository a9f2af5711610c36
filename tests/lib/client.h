/*
 * client.h: what the black-box HTTP tests share. Starts the real poold
 * binary ($POOLD_BIN) on a free loopback port, drives it with libcurl, and
 * stops it by PID.
 */
#ifndef POOLD_TEST_CLIENT_H
#define POOLD_TEST_CLIENT_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

typedef struct Server {
    pid_t pid;
    int port;
    /* The contract mode (contract.h): the Prism proxy in front of the
     * server, which req() and the helpers on it go through; port stays
     * poold's own, for the tests that open sockets to it. */
    pid_t proxy_pid;
    int proxy_port;  /* 0: requests go straight to poold */
    char proxy_log[256];
    char log[256];   /* the server's stderr */
    char data[256];  /* its own --data-dir, removed at the stop; "" when
                      * the test named a store or a data dir itself */
    char ca[256];    /* with --tls-cert: that certificate, which requests
                      * over https trust; "" for plain HTTP */
    /* The exit status server_stop and server_reaped accept. server_start
     * sets 0, the clean stop SIGTERM asks for; a test that makes poold
     * exit otherwise on purpose (a second stop signal's 1, a failed
     * pool's 6) sets it before the stop. */
    int expect_exit;
} Server;

/* Starts poold with the given extra arguments (NULL-terminated) and waits
 * until /healthz answers. Unless the arguments name --store or
 * --data-dir, the server gets a fresh data dir of its own, so that every
 * test runs the default SQLite store on a file nobody else has. Aborts the
 * test program on failure. */
void server_start(Server *s, const char *const *args);

/* SIGTERM, then waits (SIGKILL after 30 s). Returns the wait status.
 * Fails the test (says why, keeps the log, exits 1) when poold did not
 * exit with s->expect_exit (a hang, a signal, another status, such as
 * the one a sanitizer exits with), or when its log holds a sanitizer's
 * report: a leak LeakSanitizer found at the exit, an ASan error or a
 * UBSan "runtime error:" in poold or one of its workers. */
int server_stop(Server *s);

/* Sends sig (a kill -9 on purpose) and reaps poold. Its death by sig is
 * what the test asked for; anything else, or a sanitizer's report in its
 * log, fails the test as in server_stop. Returns the wait status. */
int server_kill(Server *s, int sig);

/* The test reaped the server itself (waitpid) with wait status st:
 * checked as server_stop checks it, then the server, its log and its
 * data dir are forgotten. */
void server_reaped(Server *s, int st);

/* Fails the test as server_stop does when text, the output of a poold
 * the test ran itself (a start-up failure, --help), holds a sanitizer's
 * report; what names that run in the message. */
void poold_output_check(const char *what, const char *text);

/* The same for a log file the test had poold write; it is kept when
 * it holds a report. */
void poold_log_check(const char *path);

/* rm -rf path; for data dirs the tests made. */
void remove_tree(const char *path);

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

/* A loopback port free a moment ago. */
int free_port(void);

/* Forks and execs bin with argv, its stdout and stderr into log; the
 * child dies with the test that started it. The child's pid. */
pid_t spawn_logged(const char *log, const char *bin, const char *const *argv);

/* The pid of a worker in /v1/pool whose state is `state` ("busy",
 * "idle"), 0 if none. */
int worker_in_state(const Server *s, const char *state);

/* GET /v1/jobs/{id} (new reference), NULL unless 200. */
json_t *job_get(const Server *s, const char *id);

/* The job's status, "?" when it is unknown (static buffer). */
const char *job_status(const Server *s, const char *id);

/* The number at a path of /v1/pool, such as "queue.running". */
long pool_number(const Server *s, const char *path);

/* Waits up to `seconds` for pool_number(path) == want; 1 if it came. */
int await_pool_number(const Server *s, const char *path, long want, double seconds);

/* With one worker busy, submits echo jobs until the queue refuses one
 * (503 with Retry-After 1), letting each reach its place first (written
 * ahead to the worker, `ahead` of them, then queued), so that the refusal
 * says the queue is full, not that the dispatcher is behind on a loaded
 * machine. Returns the jobs accepted; -1 if anything else happened. */
int fill_queue(const Server *s, int ahead);

/* Waits up to `seconds` until /v1/pool shows n workers idle (the pool
 * back to full size after a worker was replaced); 1 if it did. */
int await_idle_workers(const Server *s, int n, double seconds);

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

/* The path of the misbehaving test plugin (tests/plugin/misbehave.c). */
const char *test_plugin(void);

#endif
