/*
 * store_cluster.c: see store_cluster.h. This file is the taker thread
 * (taking queued jobs, renewing leases, reclaiming the lapsed ones), the
 * cancel, and starting and stopping; store_watch.c is the watcher.
 *
 * Why a sorted set and leases, not a Stream and its consumer group: a
 * Stream delivers in arrival order, and priorities must hold across
 * replicas (a higher one first, whoever queued it); XAUTOCLAIM reclaims by
 * idle time since delivery, which a heartbeat cannot renew without
 * claiming the entry again. A sorted set scored by (priority, number) is
 * the order, ZPOPMIN in a script takes the best; a lease is a second
 * sorted set scored by its deadline, renewed by the heartbeat, and a job
 * whose deadline passed is put back by whichever replica sees it first
 * (each script is atomic: one replica wins).
 *
 * The deadlines are Redis's clock (TIME in the scripts), so that
 * replicas' clocks may disagree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "core/clock.h"
#include "core/log.h"
#include "store/store_impl.h"

#define STORE_CLUSTER_HELD 4096 /* leases renewed in one heartbeat */
#define STORE_CLUSTER_DEFER 0.002 /* seconds news of others' work waits */
#define STORE_CLUSTER_BACK 64   /* jobs one take may give back */

/* ARGV: replica, how many, lease ms. Takes up to that many of the best
 * queued jobs: each leased to the replica, its attempts counted; returns
 * {seq, row, seq, row, ...}. A queued entry whose row has ended or gone
 * is dropped. */
static const char store_cluster_take_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local out = {}\n"
    "for i = 1, tonumber(ARGV[2]) do\n"
    "  local top = redis.call('ZPOPMIN', KEYS[1])\n"
    "  if #top == 0 then break end\n"
    "  local seq = top[1]\n"
    "  local key = '" STORE_REDIS_PREFIX "job:' .. seq\n"
    "  if redis.call('HGET', key, 'status') == 'queued' then\n"
    "    redis.call('HINCRBY', key, 'attempts', 1)\n"
    "    redis.call('HSET', key, 'replica', ARGV[1])\n"
    "    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), seq)\n"
    "    redis.call('PUBLISH', '" STORE_REDIS_NEWS "', seq .. ' ' .. ARGV[1])\n"
    "    out[#out + 1] = seq\n"
    "    out[#out + 1] = redis.call('HGETALL', key)\n"
    "  end\n"
    "end\n"
    "return out\n";

/* ARGV: replica, lease ms, seqs. Renews the leases the replica still
 * holds; returns the seqs it no longer does (reclaimed: it was silent for
 * too long, and the job may run elsewhere now). */
static const char store_cluster_beat_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local lost = {}\n"
    "for i = 3, #ARGV do\n"
    "  local seq = ARGV[i]\n"
    "  local mine = redis.call('HGET', '" STORE_REDIS_PREFIX "job:' .. seq, 'replica') == ARGV[1]\n"
    "  if mine and redis.call('ZSCORE', KEYS[1], seq) then\n"
    "    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), seq)\n"
    "  else lost[#lost + 1] = seq end\n"
    "end\n"
    "return lost\n";

/* ARGV: a replica's name, or "", then seqs, or none. Puts back in the
 * queue the jobs whose lease ran out (""), or every job the named replica
 * holds (it starts again, or stops: it runs none of them), or those of
 * the seqs it holds (it could not queue them). Their attempts stay
 * counted. Returns how many went back. */
static const char store_cluster_reclaim_lua[] = STORE_REDIS_LUA_COMMON
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local due\n"
    "if ARGV[1] == '' then due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)\n"
    "elseif #ARGV > 1 then due = {unpack(ARGV, 2)}\n"
    "else due = redis.call('ZRANGE', KEYS[2], 0, -1) end\n"
    "local n = 0\n"
    "for _, seq in ipairs(due) do\n"
    "  local key = '" STORE_REDIS_PREFIX "job:' .. seq\n"
    "  local row = redis.call('HMGET', key, 'status', 'priority', 'replica', 'order')\n"
    "  if ARGV[1] == '' or row[3] == ARGV[1] then\n"
    "    redis.call('ZREM', KEYS[2], seq)\n"
    "    if row[1] and not ended[row[1]] then\n"
    "      redis.call('HSET', key, 'status', 'queued', 'started', '0', 'pid', '0', 'done', '0')\n"
    "      redis.call('HDEL', key, 'replica', 'worker')\n"
    "      redis.call('ZADD', KEYS[1], place(row[2], row[4] or seq), seq)\n"
    "      redis.call('PUBLISH', '" STORE_REDIS_NEWS "', seq)\n"
    "      n = n + 1\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return n\n";

/* KEYS: the row, the queue, the leases. ARGV: seq, id, the time. 1 when
 * cancelled now, 0 when it had ended, -1 when there is no such job. The
 * replica that runs it hears of it on poold:cancels. */
static const char store_cluster_cancel_lua[] = STORE_REDIS_LUA_COMMON
    "local row = redis.call('HMGET', KEYS[1], 'id', 'status')\n"
    "if row[1] ~= ARGV[2] then return -1 end\n"
    "if ended[row[2]] then return 0 end\n"
    "redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "redis.call('ZREM', KEYS[3], ARGV[1])\n"
    "redis.call('HSET', KEYS[1], 'status', 'cancelled', 'finished', ARGV[3])\n"
    "if row[2] == 'running' or redis.call('HEXISTS', KEYS[1], 'replica') == 1 then\n"
    "  redis.call('PUBLISH', '" STORE_REDIS_CANCELS "', ARGV[1]) end\n"
    "redis.call('PUBLISH', '" STORE_REDIS_NEWS "', ARGV[1])\n"
    "return 1\n";

/* KEYS: the row, the leases. ARGV: seq, the time, why. A row poold cannot
 * run (taken, but unreadable) fails for good, so that it is neither taken
 * again and again nor left queued forever. */
static const char store_cluster_poison_lua[] =
    "redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'status', 'failed', 'finished', ARGV[2], 'fail_outcome', '1',\n"
    "  'fail_type', 'RecoveryError', 'fail_message', ARGV[3])\n"
    "redis.call('PUBLISH', '" STORE_REDIS_NEWS "', ARGV[1])\n"
    "return 1\n";

/* KEYS: poold:ids. ARGV: a job id. {seq, row}, or nil. */
static const char store_cluster_fetch_lua[] =
    "local seq = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "if not seq then return false end\n"
    "return {seq, redis.call('HGETALL', '" STORE_REDIS_PREFIX "job:' .. seq)}\n";

/* Connects *conn unless connected (its lock held): 0, or -1 when Redis
 * cannot be had now. */
static int
store_cluster_dial(StoreCluster *c, redisContext **conn)
{
    char why[256];

    if (*conn)
        return 0;
    if (!(*conn = store_redis_open(c->s, why, sizeof(why)))) {
        log_msg(LOG_DEBUG, "replicas: %s", why);
        return -1;
    }
    if (conn == &c->conn)
        c->connected_at = clock_mono();
    return 0;
}

/* Drops a connection that failed (its lock held): the next call dials
 * again. */
static void
store_cluster_hang_up(StoreCluster *c, redisContext **conn, const char *what)
{
    log_msg(LOG_WARN, "replicas: %s: %s: %s", c->s->redis_where, what,
            *conn && (*conn)->errstr[0] ? (*conn)->errstr : "unexpected reply");
    if (*conn)
        redisFree(*conn);
    *conn = NULL;
}

/* Puts lapsed leases (mine NULL), all of replica mine's, or those of
 * seqs[0..n) mine holds, back in the queue (c->conn_lock held). 0, or
 * -1. */
static int
store_cluster_reclaim(StoreCluster *c, const char *mine, const uint64_t *seqs, size_t n)
{
    const char *argv[6 + STORE_CLUSTER_BACK] = {"EVAL", store_cluster_reclaim_lua, "2", STORE_REDIS_QUEUE,
                                                STORE_REDIS_LEASES, mine ? mine : ""};
    char nums[STORE_CLUSTER_BACK][24];
    redisReply *r;

    n = n < STORE_CLUSTER_BACK ? n : STORE_CLUSTER_BACK;
    for (size_t i = 0; i < n; i++) {
        snprintf(nums[i], sizeof(nums[i]), "%llu", (unsigned long long)seqs[i]);
        argv[6 + i] = nums[i];
    }
    r = redisCommandArgv(c->conn, 6 + (int)n, argv, NULL);
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        store_cluster_hang_up(c, &c->conn, r && r->type == REDIS_REPLY_ERROR ? r->str : "reclaiming jobs");
        freeReplyObject(r);
        return -1;
    }
    if (r->integer > 0)
        log_msg(LOG_INFO, "replicas: %lld jobs back in the queue: %s", r->integer,
                n ? "this replica took them but could not queue them"
                : mine ? "this replica held them before it started (or as it stops)"
                       : "their replica was silent past --claim-after");
    freeReplyObject(r);
    return 0;
}

/* Fails job seq, whose row poold cannot run (c->conn_lock held). */
static void
store_cluster_poison(StoreCluster *c, uint64_t seq)
{
    char key[48], num[24], now[32];

    log_msg(LOG_ERROR, "replicas: job %llu's row is not one poold can run; it fails", (unsigned long long)seq);
    snprintf(key, sizeof(key), STORE_REDIS_PREFIX "job:%llu", (unsigned long long)seq);
    snprintf(num, sizeof(num), "%llu", (unsigned long long)seq);
    snprintf(now, sizeof(now), "%.17g", clock_wall());
    freeReplyObject(redisCommand(c->conn, "EVAL %s 2 %s %s %s %s %s", store_cluster_poison_lua, key,
                                 STORE_REDIS_LEASES, num, now, "its row cannot be read back"));
}

/* Takes up to n jobs (at most STORE_CLUSTER_BACK) and hands each to
 * hooks.taken; those it could not queue go back, a row poold cannot read
 * loses its lease for good, so that it is not taken again and again
 * (c->conn_lock held). The number taken and run, or -1. */
static long
store_cluster_take(StoreCluster *c, size_t n)
{
    char count[24], lease[24];
    uint64_t back[STORE_CLUSTER_BACK];
    size_t nback = 0;
    redisReply *r;
    long took = 0;

    snprintf(count, sizeof(count), "%zu", n < STORE_CLUSTER_BACK ? n : STORE_CLUSTER_BACK);
    snprintf(lease, sizeof(lease), "%.0f", c->opt.claim_after * 1e3);
    r = redisCommand(c->conn, "EVAL %s 2 %s %s %s %s %s", store_cluster_take_lua, STORE_REDIS_QUEUE,
                     STORE_REDIS_LEASES, c->opt.replica, count, lease);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        store_cluster_hang_up(c, &c->conn, r && r->type == REDIS_REPLY_ERROR ? r->str : "taking jobs");
        freeReplyObject(r);
        return -1;
    }
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        StoreJob j;
        uint64_t seq = strtoull(r->element[i]->str, NULL, 10);
        int rc = store_redis_row(r->element[i + 1], seq, &j) == 0 ? c->hooks.taken(c->hooks.ctx, &j) : -1;
        if (rc < 0)
            store_cluster_poison(c, seq);
        else if (rc > 0)
            back[nback++] = seq;
        else
            took++;
    }
    freeReplyObject(r);
    if (nback && store_cluster_reclaim(c, c->opt.replica, back, nback) < 0)
        return -1;
    return nback ? 0 : took;
}

/* Whether a take of `room` jobs that took `took` may have left more. */
static int
store_cluster_more(size_t room, long took)
{
    return took > 0 && (size_t)took == (room < STORE_CLUSTER_BACK ? room : STORE_CLUSTER_BACK);
}

/* Renews the leases of the jobs this replica runs; a job whose lease was
 * lost is stopped here (c->conn_lock held). 0, or -1. */
static int
store_cluster_beat(StoreCluster *c, uint64_t *seqs)
{
    size_t n = c->hooks.held(c->hooks.ctx, seqs, STORE_CLUSTER_HELD);
    const char **argv = calloc(n + 7, sizeof(*argv));
    char (*nums)[24] = calloc(n + 1, sizeof(*nums));
    redisReply *r = NULL;
    int rc = -1;

    if (!argv || !nums)
        goto cleanup;
    argv[0] = "EVAL", argv[1] = store_cluster_beat_lua, argv[2] = "1", argv[3] = STORE_REDIS_LEASES;
    argv[4] = c->opt.replica;
    snprintf(nums[n], sizeof(nums[n]), "%.0f", c->opt.claim_after * 1e3);
    argv[5] = nums[n];
    for (size_t i = 0; i < n; i++) {
        snprintf(nums[i], sizeof(nums[i]), "%llu", (unsigned long long)seqs[i]);
        argv[6 + i] = nums[i];
    }
    r = redisCommandArgv(c->conn, (int)n + 6, argv, NULL);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        store_cluster_hang_up(c, &c->conn, r && r->type == REDIS_REPLY_ERROR ? r->str : "renewing leases");
        goto cleanup;
    }
    for (size_t i = 0; i < r->elements; i++) {
        log_msg(LOG_WARN, "replicas: job %s was taken back from this replica (silent past --claim-after); "
                "stopped here, it runs elsewhere", r->element[i]->str);
        c->hooks.lost(c->hooks.ctx, strtoull(r->element[i]->str, NULL, 10));
    }
    rc = 0;
cleanup:
    freeReplyObject(r);
    free(argv);
    free(nums);
    return rc;
}

/* One round of the taker (c->conn_lock held): takes while there is room
 * and work; renews and reclaims when due. A replica renews its own leases
 * as soon as it has Redis again, and reclaims others' only once it has
 * had Redis for a whole --claim-after: after an outage of Redis itself
 * every lease has lapsed by Redis's clock, and their replicas, alive,
 * must have the time to renew them first. */
static void
store_cluster_round(StoreCluster *c, uint64_t *seqs, double *beat_due, int *fresh)
{
    size_t room;
    long took;

    if (!c->conn && store_cluster_dial(c, &c->conn) == 0)
        *beat_due = 0;
    if (!c->conn)
        return;
    if (*fresh && store_cluster_reclaim(c, c->opt.replica, NULL, 0) == 0)
        *fresh = 0; /* what a crash of this replica left leased */
    if (c->conn && clock_mono() >= *beat_due) {
        if (store_cluster_beat(c, seqs) < 0 ||
            (clock_mono() - c->connected_at >= c->opt.claim_after && store_cluster_reclaim(c, NULL, NULL, 0) < 0))
            return;
        *beat_due = clock_mono() + c->opt.claim_after / 3;
    }
    while (c->conn && (room = c->hooks.room(c->hooks.ctx)) > 0 && (took = store_cluster_take(c, room)) > 0 &&
           store_cluster_more(room, took))
        ; /* all it asked for: there may be more */
}

static void *
store_cluster_run(void *arg)
{
    StoreCluster *c = arg;
    uint64_t *seqs = malloc(STORE_CLUSTER_HELD * sizeof(*seqs));
    double beat_due = 0;
    int fresh = 1;

    pthread_mutex_lock(&c->lock);
    while (!c->quit && seqs) {
        if (!c->kicked && c->news) /* the queueing replica's own kick first */
            clock_cond_wait_until(&c->cond, &c->lock, clock_mono() + STORE_CLUSTER_DEFER);
        c->kicked = c->news = 0;
        pthread_mutex_unlock(&c->lock);
        pthread_mutex_lock(&c->conn_lock);
        store_cluster_round(c, seqs, &beat_due, &fresh);
        pthread_mutex_unlock(&c->conn_lock);
        pthread_mutex_lock(&c->lock);
        /* A second at most: room may come without a kick (a sync call's
         * tasks leave), and Redis may come back; the heartbeat sooner. */
        if (!c->kicked && !c->news && !c->quit)
            clock_cond_wait_until(&c->cond, &c->lock, beat_due < clock_mono() + 1.0 ? beat_due : clock_mono() + 1.0);
    }
    pthread_mutex_unlock(&c->lock);
    free(seqs);
    return NULL;
}

/* --- the public calls --- */

StoreCluster *
store_cluster_start(Store *s, const StoreClusterOptions *o, const StoreClusterHooks *h)
{
    StoreCluster *c;

    if (!s || s->be != &store_redis_backend || !(c = calloc(1, sizeof(*c))))
        return NULL;
    c->s = s;
    c->opt = *o;
    c->hooks = *h;
    c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->conn_lock, NULL);
    pthread_mutex_init(&c->ask_lock, NULL);
    clock_cond_init(&c->cond);
    clock_cond_init(&c->seen);
    snprintf(c->why, sizeof(c->why), "the job store is not yet read: %s", s->redis_where);
    if (!(c->opt.replica = strdup(o->replica)) || c->wake_fd < 0 ||
        pthread_create(&c->watcher, NULL, store_watch_run, c) != 0) {
        store_cluster_free(c);
        return NULL;
    }
    c->watcher_started = 1;
    if (pthread_create(&c->taker, NULL, store_cluster_run, c) != 0) {
        store_cluster_free(c);
        return NULL;
    }
    c->taker_started = 1;
    /* A replica serves once it has read the jobs, so that its first
     * answers are not 503s; a Redis that cannot be had is not waited for
     * (the first try fails at once, or within the connect timeout). */
    pthread_mutex_lock(&c->lock);
    for (double end = clock_mono() + 5; !c->tried && clock_mono() < end;)
        clock_cond_wait_until(&c->seen, &c->lock, end);
    pthread_mutex_unlock(&c->lock);
    return c;
}

/* Sets one of the taker's wake flags (kicked or news) and wakes it. */
static void
store_cluster_wake(StoreCluster *c, int *flag)
{
    pthread_mutex_lock(&c->lock);
    *flag = 1;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

void
store_cluster_kick(StoreCluster *c)
{
    store_cluster_wake(c, &c->kicked);
}

void
store_cluster_news(StoreCluster *c)
{
    store_cluster_wake(c, &c->news);
}

int
store_cluster_cancel(StoreCluster *c, uint64_t seq, const char *id)
{
    char key[48], num[24], now[32];
    redisReply *r = NULL;
    int rc = SVC_ESTORE;

    snprintf(key, sizeof(key), STORE_REDIS_PREFIX "job:%llu", (unsigned long long)seq);
    snprintf(num, sizeof(num), "%llu", (unsigned long long)seq);
    snprintf(now, sizeof(now), "%.17g", clock_wall());
    pthread_mutex_lock(&c->ask_lock);
    if (store_cluster_dial(c, &c->ask) == 0)
        r = redisCommand(c->ask, "EVAL %s 3 %s %s %s %s %s %s", store_cluster_cancel_lua, key, STORE_REDIS_QUEUE,
                         STORE_REDIS_LEASES, num, id, now);
    if (r && r->type == REDIS_REPLY_INTEGER)
        rc = r->integer == 1 ? 1 : r->integer == 0 ? 0 : SVC_ENOFUNC;
    else if (c->ask)
        store_cluster_hang_up(c, &c->ask, r && r->type == REDIS_REPLY_ERROR ? r->str : "cancelling");
    pthread_mutex_unlock(&c->ask_lock);
    freeReplyObject(r);
    return rc;
}

int
store_cluster_fetch(StoreCluster *c, const char *id, StoreLoadFn fn, void *ctx)
{
    redisReply *r = NULL;
    StoreJob j;
    int rc = SVC_ESTORE;

    pthread_mutex_lock(&c->ask_lock);
    if (store_cluster_dial(c, &c->ask) == 0)
        r = redisCommand(c->ask, "EVAL %s 1 %s %s", store_cluster_fetch_lua, STORE_REDIS_IDS, id);
    if (r && r->type == REDIS_REPLY_NIL)
        rc = 0;
    else if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_STRING)
        rc = store_redis_row(r->element[1], strtoull(r->element[0]->str, NULL, 10), &j) == 0 ? 1 : 0;
    else if (c->ask)
        store_cluster_hang_up(c, &c->ask, r && r->type == REDIS_REPLY_ERROR ? r->str : "reading a job");
    pthread_mutex_unlock(&c->ask_lock);
    if (rc == 1)
        fn(ctx, &j);
    freeReplyObject(r);
    return rc;
}

int
store_cluster_current(StoreCluster *c, char *why, size_t len)
{
    int ok;

    pthread_mutex_lock(&c->lock);
    ok = c->current;
    if (!ok)
        snprintf(why, len, "%s", c->why);
    pthread_mutex_unlock(&c->lock);
    return ok;
}

void
store_cluster_stop(StoreCluster *c)
{
    uint64_t one = 1;

    if (!c || c->stopped)
        return;
    c->stopped = 1;
    pthread_mutex_lock(&c->lock);
    c->quit = 1;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
    if (c->wake_fd >= 0 && write(c->wake_fd, &one, sizeof(one)) < 0)
        log_msg(LOG_WARN, "replicas: cannot wake the watcher");
    if (c->taker_started)
        pthread_join(c->taker, NULL);
    if (c->watcher_started)
        pthread_join(c->watcher, NULL);
    /* The ends of jobs this replica ran are written before it gives back
     * what it still holds: a job whose end is yet to be written would be
     * given back and run again. */
    store_flush(c->s, 5);
    pthread_mutex_lock(&c->conn_lock);
    if (c->opt.replica && store_cluster_dial(c, &c->conn) == 0)
        store_cluster_reclaim(c, c->opt.replica, NULL, 0);
    pthread_mutex_unlock(&c->conn_lock);
}

void
store_cluster_free(StoreCluster *c)
{
    if (!c)
        return;
    store_cluster_stop(c);
    if (c->conn)
        redisFree(c->conn);
    if (c->ask)
        redisFree(c->ask);
    if (c->wake_fd >= 0)
        close(c->wake_fd);
    pthread_cond_destroy(&c->cond);
    pthread_cond_destroy(&c->seen);
    pthread_mutex_destroy(&c->ask_lock);
    pthread_mutex_destroy(&c->conn_lock);
    pthread_mutex_destroy(&c->lock);
    free((char *)c->opt.replica);
    free(c);
}
