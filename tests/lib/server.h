/*
 * server.h: a test's poold, from start to stop. Starts the real poold
 * binary ($POOLD_BIN) on a free loopback port, waits until it answers,
 * stops it by PID, and fails the test when it ended otherwise than the
 * test expects or its log holds a sanitizer's report.
 */
#ifndef POOLD_TEST_SERVER_H
#define POOLD_TEST_SERVER_H

#include <sys/types.h>

#include "redis.h"

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
    /* POOLD_TEST_STORE=redis: a server that would get a data dir of its
     * own gets a redis-server of its own instead (--store redis://), so
     * that the job tests run on Redis too (tests/http/http_redis.c). */
    RedisServer redis;
} Server;

/* Starts poold with the given extra arguments (NULL-terminated) and waits
 * until /healthz answers. Unless the arguments name --store or
 * --data-dir, the server gets a fresh data dir of its own, so that every
 * test runs the default SQLite store on a file nobody else has (or, with
 * POOLD_TEST_STORE=redis, a fresh Redis). Aborts the test program on
 * failure. */
void server_start(Server *s, const char *const *args);

/* A fresh data dir, for a test that restarts poold on it (a static
 * buffer; the test removes it with remove_tree). */
const char *server_data_dir(void);

/* server_start on that data dir, with that many processes. */
void server_start_on(Server *s, const char *dir, const char *processes);

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

/* 1 when the server's log holds text, waiting up to `seconds` for it. */
int server_log_has(const Server *s, const char *text, double seconds);

/* tests/runtime/NAME (the runtimes' fixtures) as an absolute path, in a
 * static buffer: poold's cwd need not be the test's. */
const char *test_runtime_file(const char *name);

/* Writes text to /tmp/poold-test-PID-STEM (its path in path); exits the
 * test on failure. */
const char *test_write_file(char *path, size_t len, const char *stem, const char *text);

/* 1 when process pid is gone (or a zombie), waiting up to `seconds`. */
int test_pid_gone(int pid, double seconds);

/* rm -rf path; for data dirs the tests made. */
void remove_tree(const char *path);

/* A loopback port free a moment ago. */
int free_port(void);

/* Forks and execs bin with argv, its stdout and stderr into log; the
 * child dies with the test that started it. The child's pid. */
pid_t spawn_logged(const char *log, const char *bin, const char *const *argv);

#endif
