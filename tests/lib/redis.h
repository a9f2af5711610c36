/*
 * redis.h: a test's own redis-server (Debian's), for --store redis://: on
 * 127.0.0.1 on a free port, with a temp directory of its own and its
 * append-only file on (appendfsync always), started and awaited, stopped
 * or killed by its PID, restarted on the same port and directory.
 */
#ifndef POOLD_TEST_REDIS_H
#define POOLD_TEST_REDIS_H

#include <sys/types.h>

#include <hiredis/hiredis.h>

typedef struct RedisServer {
    pid_t pid;        /* 0 when not running */
    int port;
    char dir[256];    /* its --dir: the AOF; removed by redis_free */
    char log[300];
    char url[64];     /* redis://127.0.0.1:PORT */
} RedisServer;

/* Starts one and waits until it answers PING; exits the test (2) when it
 * cannot. */
void redis_start(RedisServer *r);

/* Starts it again on its port and directory (it reads its AOF back). */
void redis_restart(RedisServer *r);

/* SIGTERM (Redis writes what it has), then waits; or sig, then waits. */
void redis_stop(RedisServer *r);
void redis_kill(RedisServer *r, int sig);

/* Stops it if running and removes its directory and log. */
void redis_free(RedisServer *r);

/* One command to it (hiredis's format); the reply, to freeReplyObject,
 * or NULL when it cannot be reached. */
redisReply *redis_cmd(const RedisServer *r, const char *fmt, ...);

#endif
