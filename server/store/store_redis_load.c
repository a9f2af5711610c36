/*
 * store_redis_load.c: reading the jobs back from Redis at start-up
 * (store_load): the list order from poold:jobs, each row's hash fetched in
 * pipelined batches, and the jobs that expired while poold was down
 * deleted instead of read. A row Redis holds in another shape (a key of
 * another type, a field missing) is skipped and logged, never trusted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "core/clock.h"
#include "core/log.h"
#include "store/store_impl.h"

#define STORE_REDIS_BATCH 256 /* rows asked for in one round trip */

/* The reply's string as a number (0 when absent). */
static double
store_redis_double(const redisReply *v)
{
    return v ? strtod(v->str, NULL) : 0;
}

static unsigned long long
store_redis_u64(const redisReply *v)
{
    return v ? strtoull(v->str, NULL, 10) : 0;
}

/* Fills j's field `name` from v (a string reply, borrowed). */
static void
store_redis_set(StoreJob *j, const char *name, const redisReply *v)
{
    static const char *const texts[] = {"id", "op", "func", "status", "key", "worker", "fail_type",
                                        "fail_message", "callback", "fail_traceback", "replica"};
    const char **slots[] = {&j->id, &j->op, &j->func, &j->status, &j->key, &j->worker, &j->fail_type,
                            &j->fail_message, &j->callback, &j->fail_traceback, &j->replica};

    for (size_t i = 0; i < ARRAY_LEN(texts); i++)
        if (strcmp(name, texts[i]) == 0)
            *slots[i] = v->str;
    if (strcmp(name, "request") == 0)
        j->request = v->str, j->request_len = v->len;
    else if (strcmp(name, "result") == 0)
        j->result = v->str, j->result_len = v->len;
    else if (strcmp(name, "digest") == 0 && v->len == 32)
        j->digest = (const uint8_t *)v->str;
    else if (strcmp(name, "priority") == 0)
        j->priority = (int)strtol(v->str, NULL, 10);
    else if (strcmp(name, "created") == 0)
        j->created = store_redis_double(v);
    else if (strcmp(name, "started") == 0)
        j->started = store_redis_double(v);
    else if (strcmp(name, "finished") == 0)
        j->finished = store_redis_double(v);
    else if (strcmp(name, "total") == 0)
        j->total = store_redis_u64(v);
    else if (strcmp(name, "done") == 0)
        j->done = store_redis_u64(v);
    else if (strcmp(name, "pid") == 0)
        j->pid = (int)strtol(v->str, NULL, 10);
    else if (strcmp(name, "fail_outcome") == 0)
        j->fail_outcome = (int)strtol(v->str, NULL, 10);
    else if (strcmp(name, "fail_index") == 0)
        j->fail_index = store_redis_u64(v);
    else if (strcmp(name, "attempts") == 0)
        j->attempts = store_redis_u64(v);
}

/* Whether what a row says can be served as it is: a Redis that anyone
 * else can write to is not trusted to hold poold's own rows. Its result
 * is answered as JSON text, spliced: it must be JSON; its counts and
 * priority within what poold writes. */
static int
store_redis_sane(const StoreJob *j)
{
    json_t *v;

    if (j->total > (1ULL << 40) || j->done > j->total || j->priority < -1000000 || j->priority > 1000000 ||
        j->pid < 0 || j->attempts > 1000000 || (j->replica && strlen(j->replica) > 63))
        return 0;
    if (!j->result)
        return 1;
    if (!(v = json_loadb(j->result, j->result_len, JSON_DECODE_ANY, NULL)))
        return 0;
    json_decref(v);
    return 1;
}

int
store_redis_row(const redisReply *r, uint64_t seq, StoreJob *j)
{
    *j = (StoreJob){.seq = seq};
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2)
        return -1;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        if (r->element[i]->type != REDIS_REPLY_STRING || r->element[i + 1]->type != REDIS_REPLY_STRING)
            return -1;
        store_redis_set(j, r->element[i]->str, r->element[i + 1]);
    }
    if (!j->id || !j->op || !j->func || !j->status)
        return -1;
    return store_redis_sane(j) ? 0 : -1;
}

/* Whether j finished more than ttl ago with no webhook left to deliver:
 * what SQLite's load deletes too. */
static int
store_redis_expired(const StoreJob *j, double ttl)
{
    json_t *cb;
    int left;

    if (j->finished <= 0 || j->finished > clock_wall() - ttl)
        return 0;
    if (!j->callback || !(cb = json_loads(j->callback, 0, NULL)))
        return 1;
    left = json_is_string(json_object_get(cb, "target")) && !json_is_true(json_object_get(cb, "done"));
    json_decref(cb);
    return !left;
}

/* Deletes an expired row with its indexes (the forget script). */
static void
store_redis_forget_now(Store *s, uint64_t seq)
{
    struct {
        StoreOp op;
        char none[1];
    } f = {.op = {.kind = STORE_FORGET, .job = {.seq = seq}}};
    redisReply *r = NULL;

    if (store_redis_append(s, &f.op) == 0 && redisGetReply(s->redis, (void **)&r) == REDIS_OK && r &&
        r->type == REDIS_REPLY_ERROR)
        log_msg(LOG_WARN, "job store: cannot delete expired job (seq %llu): %s", (unsigned long long)seq, r->str);
    freeReplyObject(r);
}

/* One batch of rows, seqs[0..n), fetched and handed to fn: the count
 * read, or -1 when the connection failed. */
static long
store_redis_batch(Store *s, redisReply **seqs, size_t n, double ttl, StoreLoadFn fn, void *ctx)
{
    char key[48];
    long read = 0;

    for (size_t i = 0; i < n; i++) {
        snprintf(key, sizeof(key), STORE_REDIS_PREFIX "job:%s", seqs[i]->str);
        if (redisAppendCommand(s->redis, "HGETALL %s", key) != REDIS_OK)
            return -1;
    }
    for (size_t i = 0; i < n; i++) {
        redisReply *r = NULL;
        StoreJob j;
        uint64_t seq = strtoull(seqs[i]->str, NULL, 10);
        if (redisGetReply(s->redis, (void **)&r) != REDIS_OK)
            return -1;
        if (store_redis_row(r, seq, &j) < 0)
            log_msg(LOG_ERROR, "job store: %s: " STORE_REDIS_PREFIX "job:%s is not a job's row (%s); skipped",
                    s->redis_where, seqs[i]->str, r->type == REDIS_REPLY_ERROR ? r->str : "fields missing");
        else if (store_redis_expired(&j, ttl))
            store_redis_forget_now(s, seq);
        else
            fn(ctx, &j), read++;
        freeReplyObject(r);
    }
    return read;
}

/* Marks the store unhealthy with why (s->lock taken here). */
static long
store_redis_load_failed(Store *s, const char *why)
{
    log_msg(LOG_ERROR, "job store: cannot read the jobs back: %s", why);
    pthread_mutex_lock(&s->lock);
    s->healthy = 0;
    snprintf(s->why, sizeof(s->why), "%s", why);
    pthread_mutex_unlock(&s->lock);
    return -1;
}

long
store_redis_load(Store *s, double ttl, StoreLoadFn fn, void *ctx)
{
    char why[sizeof(s->why)];
    redisReply *list = NULL;
    long n = 0, got = 0;

    if (store_redis_dial(s, why, sizeof(why)) < 0)
        return store_redis_load_failed(s, why);
    list = redisCommand(s->redis, "ZRANGE %s 0 -1", STORE_REDIS_JOBS);
    if (!list || list->type != REDIS_REPLY_ARRAY) {
        snprintf(why, sizeof(why), "the job store cannot be read: %s: ZRANGE %s: %s", s->redis_where,
                 STORE_REDIS_JOBS, !list ? s->redis->errstr : list->type == REDIS_REPLY_ERROR ? list->str
                                                                                            : "unexpected reply");
        freeReplyObject(list);
        if (!list)
            store_redis_drop(s);
        return store_redis_load_failed(s, why);
    }
    for (size_t i = 0; i < list->elements && got >= 0; i += STORE_REDIS_BATCH) {
        size_t k = list->elements - i < STORE_REDIS_BATCH ? list->elements - i : STORE_REDIS_BATCH;
        if ((got = store_redis_batch(s, list->element + i, k, ttl, fn, ctx)) >= 0)
            n += got;
    }
    freeReplyObject(list);
    if (got < 0) {
        snprintf(why, sizeof(why), "the job store cannot be read: %s: %s", s->redis_where,
                 s->redis->errstr[0] ? s->redis->errstr : "connection lost");
        store_redis_drop(s);
        return store_redis_load_failed(s, why);
    }
    return n;
}
