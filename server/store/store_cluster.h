/*
 * store_cluster.h: poold replicas sharing their jobs through Redis
 * (--store redis://). Every poold started with the same URL is one: the
 * store's rows are the truth, and this module is how a replica keeps up
 * with them and takes its share of the work.
 *
 * Two threads, each with its own connection:
 *   the watcher (store_watch.c) subscribes to poold:news and
 *     poold:cancels: each job whose row changed on any replica is read and
 *     handed to hooks.row (and every row again after each (re)connection,
 *     so that nothing missed while away stays missed); a cancel is handed
 *     to hooks.cancel;
 *   the taker (store_cluster.c) takes queued jobs while hooks.room says
 *     this replica's workers have room, holds a lease on each it runs
 *     (renewed every --claim-after / 3 seconds while hooks.held lists it),
 *     and puts back in the queue the jobs whose lease ran out: their
 *     replica died, or lost Redis for longer than --claim-after.
 *
 * It knows no job table: rows are StoreJobs, and the hooks are the job
 * table's (jobs/job_cluster.c).
 */
#ifndef POOLD_STORE_CLUSTER_H
#define POOLD_STORE_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef struct StoreCluster StoreCluster;

typedef struct StoreClusterHooks {
    void *ctx;
    /* A job's row as Redis holds it now (watcher thread; borrowed). */
    void (*row)(void *ctx, const StoreJob *j);
    /* Job seq was cancelled (its row says so): stop it if it runs here
     * (watcher thread). */
    void (*cancel)(void *ctx, uint64_t seq);
    /* Job seq's lease was lost (this replica was silent past
     * --claim-after): it may run elsewhere now; stop it here without an
     * end of its own (taker thread). */
    void (*lost)(void *ctx, uint64_t seq);
    /* How many more jobs this replica would start now (taker thread). */
    size_t (*room)(void *ctx);
    /* A job this replica has just taken, to run (taker thread; borrowed):
     * 0 when it runs, 1 when it could not be queued here (it goes back to
     * Redis's queue), -1 when it cannot run anywhere (left out). */
    int (*taken)(void *ctx, const StoreJob *j);
    /* The jobs this replica runs, their leases to renew: up to max numbers
     * into seqs; the count (taker thread). */
    size_t (*held)(void *ctx, uint64_t *seqs, size_t max);
} StoreClusterHooks;

typedef struct StoreClusterOptions {
    const char *replica;  /* this replica's name (outlives the cluster) */
    double claim_after;   /* seconds of silence before a job is taken back */
} StoreClusterOptions;

/* Starts both threads on s's Redis; NULL when out of memory or s is not
 * on Redis. A Redis away is not an error: both connect when they can. */
StoreCluster *store_cluster_start(Store *s, const StoreClusterOptions *o, const StoreClusterHooks *h);

/* Room may have come: the taker looks at once. Any thread. */
void store_cluster_kick(StoreCluster *c);

/*
 * Cancels job seq (id) in Redis, wherever it is: a queued one leaves the
 * queue, a running one's replica is told to stop it. Returns 1 when it is
 * cancelled now (its row says so), 0 when it had ended already, SVC_ESTORE
 * when Redis cannot be asked, SVC_ENOFUNC when Redis holds no such job.
 * Any thread; it waits for Redis.
 */
int store_cluster_cancel(StoreCluster *c, uint64_t seq, const char *id);

/* Reads job id's row from Redis now and hands it to fn (borrowed): for a
 * job whose news has not come yet (submitted a moment ago on another
 * replica). 1 when found, 0 when Redis has no such job, SVC_ESTORE when
 * it cannot be asked. Any thread; it waits for Redis. */
int store_cluster_fetch(StoreCluster *c, const char *id, StoreLoadFn fn, void *ctx);

/* 1 while the watcher is subscribed and has read every row since (a
 * replica behind on the news must not answer for jobs); else 0 with why.
 * Any thread. */
int store_cluster_current(StoreCluster *c, char *why, size_t len);

/* Stops both threads; the jobs this replica still held go back to the
 * queue at once, for the others (its stop has ended their tasks). The
 * calls above still answer until store_cluster_free (HTTP may still ask
 * them while it stops). NULL is fine; so is a second call. */
void store_cluster_stop(StoreCluster *c);
void store_cluster_free(StoreCluster *c);

#endif
