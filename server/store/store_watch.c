/*
 * store_watch.c: the replicas' watcher thread (store_cluster.h). It
 * subscribes to poold:news and poold:cancels on one connection and reads
 * the rows the news names on a second, in pipelined batches, deduplicated
 * (a burst of changes to one job is one read: the row as it is now).
 *
 * Pub/sub keeps no message for a subscriber that is away, so each
 * (re)connection subscribes first and then reads every row: whatever
 * changed while it was away is in the rows, whatever changes from now on
 * is in the news. Until that read is done the replica is not current
 * (store_cluster_current), and answers no job from its copy.
 *
 * A silent connection is pinged every 2 s and given up after 10 s without
 * a word, so that a Redis that stalls or a network that drops the
 * connection silently is noticed.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "core/clock.h"
#include "core/log.h"
#include "store/store_impl.h"

#define STORE_WATCH_BATCH 256 /* rows read in one round trip */
#define STORE_WATCH_PING 2.0
#define STORE_WATCH_DEAD 10.0

/* What one batch of news names: the distinct seqs of changed rows. */
typedef struct StoreWatchNews {
    uint64_t seqs[STORE_WATCH_BATCH];
    size_t n;
} StoreWatchNews;

static int
store_watch_quit(StoreCluster *c)
{
    int quit;

    pthread_mutex_lock(&c->lock);
    quit = c->quit;
    pthread_mutex_unlock(&c->lock);
    return quit;
}

void
store_watch_state(StoreCluster *c, int current, const char *why)
{
    pthread_mutex_lock(&c->lock);
    c->current = current;
    c->tried = 1;
    if (why)
        snprintf(c->why, sizeof(c->why), "%s", why);
    pthread_cond_broadcast(&c->seen);
    pthread_mutex_unlock(&c->lock);
}

/* Reads the rows of seqs[0..n) on rd and hands each to hooks.row; a
 * queued one that no replica holds kicks the taker. 0, or -1 when rd
 * failed. */
static int
store_watch_rows(StoreCluster *c, redisContext *rd, const uint64_t *seqs, size_t n)
{
    int work = 0;

    for (size_t i = 0; i < n; i++)
        if (redisAppendCommand(rd, "HGETALL " STORE_REDIS_PREFIX "job:%llu", (unsigned long long)seqs[i]) != REDIS_OK)
            return -1;
    for (size_t i = 0; i < n; i++) {
        redisReply *r = NULL;
        StoreJob j;
        if (redisGetReply(rd, (void **)&r) != REDIS_OK)
            return -1;
        /* An empty reply is a row gone (expired): each replica expires
         * its own copy. */
        if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 && store_redis_row(r, seqs[i], &j) == 0) {
            work |= strcmp(j.status, "queued") == 0 && !j.replica;
            c->hooks.row(c->hooks.ctx, &j);
        } else if (r->type != REDIS_REPLY_ARRAY || r->elements > 0) {
            log_msg(LOG_ERROR, "job store: %s: " STORE_REDIS_PREFIX "job:%llu is not a job's row (%s); skipped",
                    c->s->redis_where, (unsigned long long)seqs[i],
                    r->type == REDIS_REPLY_ERROR ? r->str : "fields missing or out of range");
        }
        freeReplyObject(r);
    }
    if (work)
        store_cluster_news(c);
    return 0;
}

/* Every row, in creation order: what changed while the watcher was away.
 * 0, or -1. */
static int
store_watch_all(StoreCluster *c, redisContext *rd)
{
    redisReply *list = redisCommand(rd, "ZRANGE %s 0 -1", STORE_REDIS_JOBS);
    uint64_t seqs[STORE_WATCH_BATCH];
    int rc = list && list->type == REDIS_REPLY_ARRAY ? 0 : -1;

    for (size_t i = 0; rc == 0 && i < list->elements; i += STORE_WATCH_BATCH) {
        size_t k = list->elements - i < STORE_WATCH_BATCH ? list->elements - i : STORE_WATCH_BATCH;
        for (size_t m = 0; m < k; m++)
            seqs[m] = strtoull(list->element[i + m]->str, NULL, 10);
        rc = store_watch_rows(c, rd, seqs, k);
    }
    freeReplyObject(list);
    return rc;
}

/* One message of the subscription into news (a new seq) or to
 * hooks.cancel; other replies (the subscriptions' confirmations, pongs)
 * are nothing to do. */
static void
store_watch_message(StoreCluster *c, const redisReply *r, StoreWatchNews *news)
{
    char *writer;
    uint64_t seq;

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || r->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(r->element[0]->str, "message") != 0 || r->element[2]->type != REDIS_REPLY_STRING)
        return;
    seq = strtoull(r->element[2]->str, &writer, 10);
    if (strcmp(r->element[1]->str, STORE_REDIS_CANCELS) == 0) {
        c->hooks.cancel(c->hooks.ctx, seq);
        return;
    }
    if (*writer == ' ' && strcmp(writer + 1, c->opt.replica) == 0)
        return; /* this replica's own write: its copy moved first */
    for (size_t i = 0; i < news->n; i++)
        if (news->seqs[i] == seq)
            return;
    news->seqs[news->n++] = seq;
}

/* Waits up to `seconds` for sub to have bytes, or for the stop: 1 when
 * there are bytes, 0 on time out, -1 on the stop or an error. */
static int
store_watch_poll(StoreCluster *c, redisContext *sub, double seconds)
{
    struct pollfd fds[2] = {{.fd = sub->fd, .events = POLLIN}, {.fd = c->wake_fd, .events = POLLIN}};
    int n = poll(fds, 2, (int)(seconds * 1000));

    if (n < 0 || fds[1].revents || store_watch_quit(c))
        return -1;
    return n > 0;
}

/* Serves one subscription until it fails or poold stops: news read in
 * batches, pings while silent. */
static void
store_watch_serve(StoreCluster *c, redisContext *sub, redisContext *rd)
{
    double heard = clock_mono(), pinged = heard;

    for (;;) {
        StoreWatchNews news = {.n = 0};
        redisReply *r = NULL;
        int ready;
        /* What hiredis has read already first, then the socket. */
        while (news.n < STORE_WATCH_BATCH && redisGetReplyFromReader(sub, (void **)&r) == REDIS_OK && r) {
            store_watch_message(c, r, &news);
            freeReplyObject(r);
            r = NULL;
            heard = clock_mono();
        }
        if (sub->err || (news.n && store_watch_rows(c, rd, news.seqs, news.n) < 0))
            return;
        if (news.n == STORE_WATCH_BATCH)
            continue;
        if ((ready = store_watch_poll(c, sub, STORE_WATCH_PING)) < 0)
            return;
        if (ready && redisBufferRead(sub) != REDIS_OK)
            return;
        if (!ready && clock_mono() - heard > STORE_WATCH_DEAD) {
            log_msg(LOG_WARN, "replicas: %s said nothing for %.0f s; connecting again", c->s->redis_where,
                    STORE_WATCH_DEAD);
            return;
        }
        if (!ready && clock_mono() - pinged >= STORE_WATCH_PING) {
            int done = 0;
            pinged = clock_mono();
            if (redisAppendCommand(sub, "PING") != REDIS_OK)
                return;
            while (!done)
                if (redisBufferWrite(sub, &done) != REDIS_OK)
                    return;
        }
    }
}

/* One connection's life: subscribe, read every row, serve the news. */
static void
store_watch_once(StoreCluster *c)
{
    char why[256];
    redisContext *sub = store_redis_open(c->s, why, sizeof(why)), *rd = NULL;
    redisReply *r = NULL;

    if (!sub || !(rd = store_redis_open(c->s, why, sizeof(why))))
        goto cleanup;
    r = redisCommand(sub, "SUBSCRIBE %s %s", STORE_REDIS_NEWS, STORE_REDIS_CANCELS);
    if (!r || r->type != REDIS_REPLY_ARRAY) { /* an ACL that refuses it, say */
        snprintf(why, sizeof(why), "the job store cannot be followed: %s: SUBSCRIBE: %s", c->s->redis_where,
                 r && r->type == REDIS_REPLY_ERROR ? r->str : sub->errstr[0] ? sub->errstr : "unexpected reply");
        freeReplyObject(r);
        goto cleanup;
    }
    freeReplyObject(r); /* the second confirmation waits in the reader */
    if (store_watch_all(c, rd) < 0) {
        snprintf(why, sizeof(why), "the job store cannot be read: %s: %s", c->s->redis_where,
                 rd->errstr[0] ? rd->errstr : "unexpected reply");
        goto cleanup;
    }
    store_watch_state(c, 1, NULL);
    log_msg(LOG_INFO, "replicas: following the jobs of %s as %s", c->s->redis_where, c->opt.replica);
    store_cluster_kick(c);
    store_watch_serve(c, sub, rd);
    snprintf(why, sizeof(why), "the job store cannot be read: %s: %s", c->s->redis_where,
             sub->errstr[0] ? sub->errstr : rd->errstr[0] ? rd->errstr : "connection lost");
cleanup:
    if (!store_watch_quit(c))
        log_msg(LOG_WARN, "replicas: %s", why);
    store_watch_state(c, 0, why);
    if (sub)
        redisFree(sub);
    if (rd)
        redisFree(rd);
}

void *
store_watch_run(void *arg)
{
    StoreCluster *c = arg;
    double backoff = 0.25;

    while (!store_watch_quit(c)) {
        double began = clock_mono();
        store_watch_once(c);
        /* A connection that lasted was no failure to back off from. */
        backoff = clock_mono() - began > 10 ? 0.25 : backoff * 2 > 5 ? 5 : backoff * 2;
        struct pollfd fd = {.fd = c->wake_fd, .events = POLLIN};
        if (!store_watch_quit(c) && poll(&fd, 1, (int)(backoff * 1000)) != 0)
            break;
    }
    return NULL;
}
