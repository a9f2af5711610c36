/* redis.c: see redis.h. */
#include "redis.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "server.h"

static double
redis_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

redisReply *
redis_cmd(const RedisServer *r, const char *fmt, ...)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    redisReply *reply = NULL;
    va_list ap;

    if (c && !c->err) {
        va_start(ap, fmt);
        reply = redisvCommand(c, fmt, ap);
        va_end(ap);
    }
    if (c)
        redisFree(c);
    return reply;
}

/* Spawns redis-server on r's port and directory and waits for PING: 0,
 * or -1 when it exited or never answered. */
static int
redis_spawn(RedisServer *r)
{
    char port[16];
    const char *bin = getenv("POOLD_TEST_REDIS") ? getenv("POOLD_TEST_REDIS") : "/usr/bin/redis-server";
    const char *argv[] = {bin, "--port", port, "--bind", "127.0.0.1", "--dir", r->dir, "--appendonly", "yes",
                          "--appendfsync", "always", "--save", "", "--daemonize", "no", "--protected-mode",
                          "no", NULL};

    snprintf(port, sizeof(port), "%d", r->port);
    r->pid = spawn_logged(r->log, bin, argv);
    for (double end = redis_now() + 10; redis_now() < end; usleep(10 * 1000)) {
        redisReply *reply;
        if (waitpid(r->pid, NULL, WNOHANG) == r->pid) {
            r->pid = 0;
            return -1;
        }
        if ((reply = redis_cmd(r, "PING"))) {
            int ok = reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "PONG") == 0;
            freeReplyObject(reply);
            if (ok)
                return 0;
        }
    }
    redis_kill(r, SIGKILL);
    return -1;
}

void
redis_start(RedisServer *r)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->dir, sizeof(r->dir), "/tmp/poold-test-redis-XXXXXX");
    if (!mkdtemp(r->dir)) {
        perror("mkdtemp");
        exit(2);
    }
    snprintf(r->log, sizeof(r->log), "%s.log", r->dir);
    for (int attempt = 0; attempt < 3; attempt++) { /* another process may take the free port first */
        r->port = free_port();
        snprintf(r->url, sizeof(r->url), "redis://127.0.0.1:%d", r->port);
        if (redis_spawn(r) == 0)
            return;
    }
    fprintf(stderr, "cannot start redis-server; see %s\n", r->log);
    exit(2);
}

void
redis_restart(RedisServer *r)
{
    if (redis_spawn(r) < 0) {
        fprintf(stderr, "cannot restart redis-server on port %d; see %s\n", r->port, r->log);
        exit(2);
    }
}

void
redis_kill(RedisServer *r, int sig)
{
    if (r->pid <= 0)
        return;
    kill(r->pid, sig);
    waitpid(r->pid, NULL, 0);
    r->pid = 0;
}

void
redis_stop(RedisServer *r)
{
    redis_kill(r, SIGTERM);
}

void
redis_free(RedisServer *r)
{
    redis_stop(r);
    if (r->dir[0]) {
        remove_tree(r->dir);
        unlink(r->log);
    }
    r->dir[0] = '\0';
}
