/*
 * store_redis.c: the store's backend on Redis (--store redis://HOST:PORT/DB),
 * with hiredis: connecting (and again after a loss), writing a commit's
 * ops, the probe, closing. store_redis_load.c reads the jobs back.
 *
 * The keys, all under "poold:":
 *   poold:job:SEQ  a hash, the job's row: one field a StoreJob column (a
 *                  NULL column is an absent field)
 *   poold:jobs     a sorted set of SEQ by SEQ: creation (list) order
 *   poold:ids      a hash, job id -> SEQ
 *   poold:keys     a hash, Idempotency-Key -> SEQ
 *   poold:seq      the last job number any replica took (INCRBY, a block
 *                  at a time: store_seq)
 *   poold:order    the last arrival number any job took (INCR in the add):
 *                  a job's place within its priority, FIFO across replicas
 *   poold:queue    a sorted set of the SEQs waiting for a replica, best
 *                  first (store_cluster.c takes from it)
 *   poold:leases   a sorted set of the SEQs replicas hold, by the time
 *                  (ms, Redis's clock) after which they may be reclaimed
 * and two channels: poold:news ("SEQ WRITER": a row changed) and
 * poold:cancels (a SEQ whose replica must stop it).
 * Each op is one Lua script, so that a row and its indexes change together
 * (a script is atomic), and a commit's ops go in one pipeline: one round
 * trip for the whole batch, as SQLite's group commit. An op that Redis
 * refuses (a key of another type, OOM) fails alone; a lost connection
 * fails the rest, and the next commit or probe connects again, no sooner
 * than store.c's retry a second later.
 *
 * A reply is Redis's once the write is in its memory and, with
 * appendonly yes and appendfsync always, on its disk (README, "Several
 * machines"): that is what a 202 waits for.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "core/log.h"
#include "store/store_impl.h"

/* Every script below takes the same KEYS (the row, poold:jobs, poold:ids,
 * poold:keys, poold:queue, poold:leases) and ARGV: seq, id, Idempotency-Key
 * or "", the writing replica, the number of (field, value) pairs, the
 * pairs; an update then the names of the fields now NULL. Each change is
 * published as "SEQ WRITER": the writer's own watcher has it already.
 *
 * The add: a key another job holds is that job, returned as {its seq, its
 * row} instead of written (one job a key across replicas; a key whose row
 * expired is free again); a number another job holds is refused, never
 * written over. A queued job enters the queue with its row. */
static const char store_redis_add_lua[] = STORE_REDIS_LUA_COMMON
    "local held = ARGV[3] ~= '' and redis.call('HGET', KEYS[4], ARGV[3])\n"
    "if held and held ~= ARGV[1] then\n"
    "  local row = redis.call('HGETALL', '" STORE_REDIS_PREFIX "job:' .. held)\n"
    "  if #row > 0 then return {held, row} end end\n"
    "local was = redis.call('HGET', KEYS[1], 'id')\n"
    "if was and was ~= ARGV[2] then\n"
    "  return redis.error_reply('job number ' .. ARGV[1] .. ' is another job\\'s: does a second program write ' ..\n"
    "    'poold\\'s keys in this database?') end\n"
    "local n = tonumber(ARGV[5])\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('HSET', KEYS[1], unpack(ARGV, 6, 5 + 2 * n))\n"
    "redis.call('ZADD', KEYS[2], ARGV[1], ARGV[1])\n"
    "redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])\n"
    "if ARGV[3] ~= '' then redis.call('HSET', KEYS[4], ARGV[3], ARGV[1]) end\n"
    "local order = redis.call('INCR', '" STORE_REDIS_ORDER "')\n"
    "redis.call('HSET', KEYS[1], 'order', order)\n"
    "local row = redis.call('HMGET', KEYS[1], 'status', 'priority')\n"
    "if row[1] == 'queued' then redis.call('ZADD', KEYS[5], place(row[2], order), ARGV[1]) end\n"
    "redis.call('PUBLISH', '" STORE_REDIS_NEWS "', ARGV[1] .. ' ' .. ARGV[4])\n"
    "return 1\n";

/* The update: a row that is gone (expired, forgotten) is not made again by
 * a late update, nor another job's row under the same number written
 * over. The first end wins: an ended row takes nothing but its webhook's
 * news (from any replica: a redelivery may be asked of any, but only
 * for the end it has), never another end, result or worker (a losing end
 * is told to its writer too, whose copy then follows the row) (a cancel over the late answer of the
 * replica running it; a fenced-off replica's late end over the one that
 * ran it again). Until then only the replica that holds the job writes
 * it: one whose lease was reclaimed (it stalled, the job runs elsewhere)
 * is fenced off. An end takes the job off the queue and its lease. */
static const char store_redis_update_lua[] = STORE_REDIS_LUA_COMMON
    "local row = redis.call('HMGET', KEYS[1], 'id', 'status', 'replica')\n"
    "if not row[1] or (ARGV[2] ~= '' and row[1] ~= ARGV[2]) then return 0 end\n"
    "local n = tonumber(ARGV[5])\n"
    "local status\n"
    "for i = 6, 5 + 2 * n, 2 do if ARGV[i] == 'status' then status = ARGV[i + 1] end end\n"
    "if ended[row[2]] and status ~= row[2] then\n"
    "  redis.call('PUBLISH', '" STORE_REDIS_NEWS "', ARGV[1])\n" /* the writer too: its end lost */
    "  return 0\n"
    "elseif ended[row[2]] then\n"
    "  for i = 6, 5 + 2 * n, 2 do if ARGV[i] == 'callback' then\n"
    "    redis.call('HSET', KEYS[1], 'callback', ARGV[i + 1])\n"
    "    redis.call('PUBLISH', '" STORE_REDIS_NEWS "', ARGV[1] .. ' ' .. ARGV[4])\n"
    "    return 1 end end\n"
    "  return 0\n"
    "elseif (row[3] or '') ~= ARGV[4] then return 0 end\n"
    "redis.call('HSET', KEYS[1], unpack(ARGV, 6, 5 + 2 * n))\n"
    "if #ARGV > 5 + 2 * n then redis.call('HDEL', KEYS[1], unpack(ARGV, 6 + 2 * n, #ARGV)) end\n"
    "if ended[status] then redis.call('ZREM', KEYS[5], ARGV[1]); redis.call('ZREM', KEYS[6], ARGV[1]) end\n"
    "redis.call('PUBLISH', '" STORE_REDIS_NEWS "', ARGV[1] .. ' ' .. ARGV[4])\n"
    "return 1\n";

/* The forget: the row goes only if it is this job's (a job refused for a
 * number another poold took must not take that one's row with it), the
 * key's entry only if it still names this job. */
static const char store_redis_forget_lua[] =
    "local row = redis.call('HMGET', KEYS[1], 'id', 'key')\n"
    "if row[1] and ARGV[2] ~= '' and row[1] ~= ARGV[2] then return 0 end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "redis.call('ZREM', KEYS[5], ARGV[1])\n"
    "redis.call('ZREM', KEYS[6], ARGV[1])\n"
    "if row[1] then redis.call('HDEL', KEYS[3], row[1]) end\n"
    "if row[2] and redis.call('HGET', KEYS[4], row[2]) == ARGV[1] then\n"
    "  redis.call('HDEL', KEYS[4], row[2]) end\n"
    "return 1\n";

#define STORE_REDIS_MAX_ARGS 64
#define STORE_REDIS_BLOCK 4096 /* job numbers taken at once */

/* One command's arguments, binary-safe, with room for the numbers. */
typedef struct StoreRedisArgs {
    int argc;
    const char *argv[STORE_REDIS_MAX_ARGS];
    size_t lens[STORE_REDIS_MAX_ARGS];
    char nums[16][32];
    int nnums;
    char jobkey[48];
} StoreRedisArgs;

static void
store_redis_arg(StoreRedisArgs *a, const char *str, size_t len)
{
    a->argv[a->argc] = str;
    a->lens[a->argc++] = len;
}

static void
store_redis_str(StoreRedisArgs *a, const char *str)
{
    store_redis_arg(a, str, strlen(str));
}

/* A number's text, kept in a for the command's life. */
static const char *
store_redis_num(StoreRedisArgs *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static const char *
store_redis_num(StoreRedisArgs *a, const char *fmt, ...)
{
    char *at = a->nums[a->nnums++];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(at, sizeof(a->nums[0]), fmt, ap);
    va_end(ap);
    return at;
}

/* The script, its six keys, and the first ARGV: seq, id, key, this
 * replica (the writer: only the one holding a job may write it). */
static void
store_redis_head(StoreRedisArgs *a, const char *lua, const StoreJob *j, const char *writer)
{
    snprintf(a->jobkey, sizeof(a->jobkey), STORE_REDIS_PREFIX "job:%llu", (unsigned long long)j->seq);
    store_redis_str(a, "EVAL");
    store_redis_str(a, lua);
    store_redis_str(a, "6");
    store_redis_str(a, a->jobkey);
    store_redis_str(a, STORE_REDIS_JOBS);
    store_redis_str(a, STORE_REDIS_IDS);
    store_redis_str(a, STORE_REDIS_KEYS);
    store_redis_str(a, STORE_REDIS_QUEUE);
    store_redis_str(a, STORE_REDIS_LEASES);
    store_redis_str(a, store_redis_num(a, "%llu", (unsigned long long)j->seq));
    store_redis_str(a, j->id ? j->id : "");
    store_redis_str(a, j->key ? j->key : "");
    store_redis_str(a, writer ? writer : "");
}

/* A (name, value) pair, or the name into nulls when value is NULL. */
static void
store_redis_field(StoreRedisArgs *a, const char **nulls, int *nnull, const char *name, const char *value,
                  size_t len)
{
    if (!value) {
        nulls[(*nnull)++] = name;
        return;
    }
    store_redis_str(a, name);
    store_redis_arg(a, value, len);
}

#define STORE_REDIS_TEXT(name, v) store_redis_field(a, nulls, &nnull, name, v, (v) ? strlen(v) : 0)
#define STORE_REDIS_NUM(name, ...) (store_redis_str(a, name), store_redis_str(a, store_redis_num(a, __VA_ARGS__)))

/* The row's fields after the head: those of the add (every column) or of
 * an update (the mutable ones), the pairs' count first, NULLs last. */
static void
store_redis_fields(StoreRedisArgs *a, const StoreJob *j, int add)
{
    const char *nulls[16];
    int nnull = 0, count_at = a->argc;

    store_redis_str(a, ""); /* the count, filled below */
    if (add) {
        STORE_REDIS_TEXT("id", j->id);
        STORE_REDIS_TEXT("op", j->op);
        STORE_REDIS_TEXT("func", j->func);
        STORE_REDIS_NUM("priority", "%d", j->priority);
        store_redis_field(a, nulls, &nnull, "request", j->request, j->request_len);
        STORE_REDIS_TEXT("key", j->key);
        store_redis_field(a, nulls, &nnull, "digest", j->key ? (const char *)j->digest : NULL, 32);
        STORE_REDIS_NUM("created", "%.17g", j->created);
        STORE_REDIS_NUM("total", "%llu", (unsigned long long)j->total);
    }
    STORE_REDIS_TEXT("status", j->status);
    STORE_REDIS_NUM("started", "%.17g", j->started);
    STORE_REDIS_NUM("finished", "%.17g", j->finished);
    STORE_REDIS_NUM("done", "%llu", (unsigned long long)j->done);
    STORE_REDIS_TEXT("worker", j->worker);
    STORE_REDIS_NUM("pid", "%d", j->pid);
    store_redis_field(a, nulls, &nnull, "result", j->result, j->result_len);
    STORE_REDIS_NUM("fail_outcome", "%d", j->fail_outcome);
    STORE_REDIS_NUM("fail_index", "%llu", (unsigned long long)j->fail_index);
    STORE_REDIS_TEXT("fail_type", j->fail_type);
    STORE_REDIS_TEXT("fail_message", j->fail_message);
    STORE_REDIS_TEXT("callback", j->callback);
    STORE_REDIS_TEXT("fail_traceback", j->fail_traceback);
    a->argv[count_at] = store_redis_num(a, "%d", (a->argc - count_at - 1) / 2);
    a->lens[count_at] = strlen(a->argv[count_at]);
    for (int i = 0; !add && i < nnull; i++)
        store_redis_str(a, nulls[i]);
}

int
store_redis_append(Store *s, const StoreOp *op)
{
    StoreRedisArgs a = {0};
    const char *lua = op->kind == STORE_ADD      ? store_redis_add_lua
                      : op->kind == STORE_UPDATE ? store_redis_update_lua
                                                 : store_redis_forget_lua;

    store_redis_head(&a, lua, &op->job, s->redis_opt.replica);
    if (op->kind != STORE_FORGET)
        store_redis_fields(&a, &op->job, op->kind == STORE_ADD);
    return redisAppendCommandArgv(s->redis, a.argc, a.argv, a.lens) == REDIS_OK ? 0 : -1;
}

/* --- the connection --- */

void
store_redis_drop(Store *s)
{
    if (s->redis)
        redisFree(s->redis);
    s->redis = NULL;
}

/* The reply's error text, or NULL when it is none. */
static const char *
store_redis_error(const redisReply *r)
{
    return !r ? "no reply" : r->type == REDIS_REPLY_ERROR ? r->str : NULL;
}

/* One command, its reply checked: 0, or -1 with why filled. */
static int
store_redis_ask(Store *s, const char *what, char *why, size_t len, const char *fmt, ...)
{
    redisReply *r;
    const char *err;
    va_list ap;

    va_start(ap, fmt);
    r = redisvCommand(s->redis, fmt, ap);
    va_end(ap);
    if ((err = r ? store_redis_error(r) : s->redis->errstr))
        snprintf(why, len, "the job store cannot be written: %s: %s: %s", s->redis_where, what,
                 err[0] ? err : "connection lost");
    freeReplyObject(r);
    return err ? -1 : 0;
}

/* Whether what poold keeps in key is not of its type (another
 * application's data in the same DB, say): 0, or -1 with why filled. */
static int
store_redis_check_type(Store *s, const char *key, const char *type, char *why, size_t len)
{
    redisReply *r = redisCommand(s->redis, "TYPE %s", key);
    int ok = r && r->type == REDIS_REPLY_STATUS && (strcmp(r->str, "none") == 0 || strcmp(r->str, type) == 0);

    if (!ok && r && r->type == REDIS_REPLY_STATUS)
        snprintf(why, len, "the job store cannot be used: %s: %s holds a %s, not a %s (another application's "
                 "data in this database?)", s->redis_where, key, r->str, type);
    else if (!ok)
        snprintf(why, len, "the job store cannot be read: %s: TYPE %s: %s", s->redis_where, key,
                 r ? store_redis_error(r) ? store_redis_error(r) : "unexpected reply" : s->redis->errstr);
    freeReplyObject(r);
    return ok ? 0 : -1;
}

/* Takes another block of job numbers when fewer than half of one are
 * left (s->db_lock held): a submit never waits for Redis for its number.
 * 0, or -1 with why filled. */
int
store_redis_numbers(Store *s, char *why, size_t len)
{
    redisReply *r;
    uint64_t left;

    pthread_mutex_lock(&s->lock);
    left = s->seq_end - s->seq_next;
    pthread_mutex_unlock(&s->lock);
    if (left >= STORE_REDIS_BLOCK / 2)
        return 0;
    r = redisCommand(s->redis, "INCRBY %s %d", STORE_REDIS_SEQ, STORE_REDIS_BLOCK);
    if (!r || r->type != REDIS_REPLY_INTEGER || r->integer < STORE_REDIS_BLOCK) {
        snprintf(why, len, "the job store cannot number jobs: %s: INCRBY %s: %s", s->redis_where, STORE_REDIS_SEQ,
                 !r ? s->redis->errstr : r->type == REDIS_REPLY_ERROR ? r->str : "not a number");
        freeReplyObject(r);
        return -1;
    }
    pthread_mutex_lock(&s->lock);
    /* What is left of the old block goes unused: numbers need only be
     * unique and rising within one poold. */
    s->seq_next = (uint64_t)r->integer - STORE_REDIS_BLOCK + 1;
    s->seq_end = (uint64_t)r->integer + 1;
    pthread_mutex_unlock(&s->lock);
    freeReplyObject(r);
    return 0;
}

redisContext *
store_redis_open(Store *s, char *why, size_t len)
{
    struct timeval connect = {2, 0}, io = {5, 0};
    redisContext *c = redisConnectWithTimeout(s->redis_opt.redis_host, s->redis_opt.redis_port, connect);
    redisReply *r = NULL;

    if (!c || c->err) {
        snprintf(why, len, "the job store cannot be reached: %s: cannot connect: %s", s->redis_where,
                 c ? c->errstr : "out of memory");
        goto fail;
    }
    redisSetTimeout(c, io);
    r = redisCommand(c, "SELECT %d", s->redis_opt.redis_db);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        snprintf(why, len, "the job store cannot be reached: %s: SELECT: %s", s->redis_where,
                 r ? r->str : c->errstr);
        goto fail;
    }
    freeReplyObject(r);
    return c;
fail:
    freeReplyObject(r);
    if (c)
        redisFree(c);
    return NULL;
}

int
store_redis_dial(Store *s, char *why, size_t len)
{
    if (s->redis)
        return 0;
    if (!(s->redis = store_redis_open(s, why, len)))
        return -1;
    if (store_redis_check_type(s, STORE_REDIS_JOBS, "zset", why, len) < 0 ||
        store_redis_check_type(s, STORE_REDIS_IDS, "hash", why, len) < 0 ||
        store_redis_check_type(s, STORE_REDIS_KEYS, "hash", why, len) < 0 ||
        store_redis_check_type(s, STORE_REDIS_QUEUE, "zset", why, len) < 0 ||
        store_redis_check_type(s, STORE_REDIS_LEASES, "zset", why, len) < 0 ||
        store_redis_check_type(s, STORE_REDIS_SEQ, "string", why, len) < 0 ||
        store_redis_numbers(s, why, len) < 0) {
        store_redis_drop(s);
        return -1;
    }
    log_msg(LOG_INFO, "job store: connected to Redis at %s", s->redis_where);
    return 0;
}

static void
store_redis_connect(Store *s, const StoreOptions *o)
{
    char why[sizeof(s->why)];
    size_t n = strlen(o->redis_host) + 32;

    s->open = 1; /* whatever comes now: the connection is tried again */
    s->redis_opt = *o;
    if (!(s->redis_where = malloc(n))) {
        snprintf(s->why, sizeof(s->why), "the job store cannot be written: out of memory");
        return;
    }
    snprintf(s->redis_where, n, "%s%s%s:%d/%d", strchr(o->redis_host, ':') ? "[" : "", o->redis_host,
             strchr(o->redis_host, ':') ? "]" : "", o->redis_port, o->redis_db);
    s->redis_opt.redis_host = o->redis_host; /* the caller's config outlives the store */
    if (store_redis_dial(s, why, sizeof(why)) == 0) {
        s->healthy = 1;
        return;
    }
    s->healthy = 0;
    snprintf(s->why, sizeof(s->why), "%s", why);
    log_msg(LOG_ERROR, "%s", s->why);
}

/* --- the backend's calls --- */

/* An add's reply {seq, row}: the job its Idempotency-Key names already,
 * kept (copied) in op->same for its done. A row of another shape is
 * logged, and the add then counts as written under its own number: the
 * key's other job is not one poold can answer with. */
static void
store_redis_same(Store *s, StoreOp *op, const redisReply *r)
{
    StoreJob same;

    if (r->elements == 2 && r->element[0]->type == REDIS_REPLY_STRING &&
        store_redis_row(r->element[1], strtoull(r->element[0]->str, NULL, 10), &same) == 0)
        op->same = store_op_copy(&same);
    else
        log_msg(LOG_ERROR, "job store: %s: the job Idempotency-Key %s names is not a job's row", s->redis_where,
                op->job.key ? op->job.key : "?");
}

/* Reads op's reply: 0 when written; -1 for a refusal (why filled), -2 when
 * the connection is lost. */
static int
store_redis_settle_one(Store *s, StoreOp *op, char *why, size_t len)
{
    redisReply *r = NULL;
    const char *err;

    if (redisGetReply(s->redis, (void **)&r) != REDIS_OK) {
        snprintf(why, len, "the job store cannot be written: %s: %s", s->redis_where,
                 s->redis->errstr[0] ? s->redis->errstr : "connection lost");
        return -2;
    }
    if ((err = store_redis_error(r)))
        snprintf(why, len, "the job store cannot be written: %s: job %s: %s", s->redis_where,
                 op->job.id ? op->job.id : "?", err);
    else if (op->kind == STORE_ADD && r->type == REDIS_REPLY_ARRAY)
        store_redis_same(s, op, r);
    freeReplyObject(r);
    return err ? -1 : 0;
}

static int
store_redis_commit(Store *s, StoreOp *ops, char *why, size_t len, int *some_ok)
{
    int rc = 0, sent = 0;

    *some_ok = 0;
    for (StoreOp *op = ops; op; op = op->next)
        op->ok = 0;
    if (store_redis_dial(s, why, len) < 0)
        return -1;
    if (store_redis_numbers(s, why, len) < 0) {
        store_redis_drop(s);
        return -1;
    }
    for (StoreOp *op = ops; op; op = op->next)
        if (op->kind != STORE_NONE && store_redis_append(s, op) == 0)
            sent++;
    for (StoreOp *op = ops; op && rc != -2; op = op->next) {
        if (op->kind == STORE_NONE) {
            op->ok = 1;
            continue;
        }
        if (sent-- <= 0 || (rc = store_redis_settle_one(s, op, why, len)) == -2)
            break;
        if ((op->ok = rc == 0))
            *some_ok = 1;
    }
    if (rc == -2 || sent != 0) { /* what was not answered may or may not be in: at least once */
        store_redis_drop(s);
        return -1;
    }
    for (StoreOp *op = ops; op; op = op->next)
        if (!op->ok)
            return -1;
    return 0;
}

static int
store_redis_probe(Store *s, char *why, size_t len)
{
    /* A write, as a job's is: a Redis out of memory (maxmemory with
     * noeviction) or a read-only replica answers PING but refuses it. */
    if (store_redis_dial(s, why, len) < 0)
        return -1;
    if (store_redis_ask(s, "probe", why, len, "SET " STORE_REDIS_PREFIX "probe 1 PX 1000") == 0)
        return 0;
    if (!s->redis->err)
        return -1;
    store_redis_drop(s);
    return -1;
}

static void
store_redis_shrink(Store *s, int idle)
{
    (void)s; /* Redis frees a deleted row's memory itself */
    (void)idle;
}

static void
store_redis_close(Store *s)
{
    store_redis_drop(s);
    free(s->redis_where);
}

const StoreBackend store_redis_backend = {
    .connect = store_redis_connect, .commit = store_redis_commit, .probe = store_redis_probe,
    .shrink = store_redis_shrink, .load = store_redis_load, .close = store_redis_close,
};
