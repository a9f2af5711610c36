/*
 * store_impl.h: the store's insides, shared by store.c (the queue, the
 * writer thread, the public calls) and its two backends, each a
 * StoreBackend: store_db.c (SQLite: the schema and its migrations, the
 * statements, reading jobs back) and store_redis.c (the same on Redis).
 */
#ifndef POOLD_STORE_IMPL_H
#define POOLD_STORE_IMPL_H

#include <pthread.h>

#include <sqlite3.h>
#include <uthash.h>

#include "store/store.h"

typedef enum { STORE_ADD, STORE_UPDATE, STORE_FORGET, STORE_NONE } StoreOpKind;

typedef struct StoreOp {
    struct StoreOp *next;
    StoreOpKind kind;          /* STORE_NONE once a newer update replaced it */
    StoreJob job;              /* its strings point into buf */
    StoreDoneFn done;          /* STORE_ADD; NULL once a fuller ADD replaced it */
    void *ctx;
    int ok;                    /* written, by the last commit */
    int tries;                 /* commits that failed it */
    struct StoreOp *same;      /* STORE_ADD, Redis: the job its key names
                                * already (store_op_copy), for done */
    UT_hash_handle hh;         /* in s->pending while a queued update */
    char buf[];
} StoreOp;

/* What the writer says to where the rows live. Each call but connect
 * runs with s->db_lock held; a code is 0 for success. */
typedef struct StoreBackend {
    /* Connects; on failure the store is unhealthy with the reason, and
     * s->open 0 when it can never be written (SQLite: the file). */
    void (*connect)(Store *s, const StoreOptions *o);
    /* Writes ops; sets each op's `ok` and *some_ok; 0 when all went in,
     * else the failure's code with why filled. */
    int (*commit)(Store *s, StoreOp *ops, char *why, size_t len, int *some_ok);
    /* Whether a new job could be written now: 0, or the failure. */
    int (*probe)(Store *s, char *why, size_t len);
    /* Gives free space back; idle, all it can. */
    void (*shrink)(Store *s, int idle);
    /* store_load's reading. */
    long (*load)(Store *s, double ttl, StoreLoadFn fn, void *ctx);
    /* Frees the connection (the writer has stopped). */
    void (*close)(Store *s);
} StoreBackend;

extern const StoreBackend store_db_backend;
extern const StoreBackend store_redis_backend;

struct Store {
    const StoreBackend *be;
    int open;                  /* the backend can be written at all (a
                                * connection may still come and go) */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    StoreOp *head, *tail;      /* the queue, oldest first */
    StoreOp *pending;          /* queued updates by seq, to replace */
    int healthy, quit, started;
    int busy;                  /* the writer holds ops it took */
    pthread_cond_t flushed;    /* a commit ended: store_flush looks again */
    double retry_at;           /* after a failure: nothing is tried before */
    char why[256];
    pthread_t writer;

    pthread_mutex_t db_lock;
    struct redisContext *redis; /* store_redis.c's; NULL while disconnected */
    char *redis_where;         /* "HOST:PORT/DB", for messages */
    StoreOptions redis_opt;    /* to connect again (its host is redis_where's) */
    double redis_retry;        /* no connection is tried before (monotonic) */
    double redis_backoff;      /* seconds until the next try after a failure */
    uint64_t seq_next, seq_end; /* s->lock: the job numbers this poold took
                                 * (store_seq), [next, end) */
    sqlite3 *db;               /* NULL when it could not be opened */
    sqlite3_stmt *ins, *upd, *del;
    double vacuumed;           /* when incremental_vacuum last ran */
    int tidy;                  /* rows were deleted since the file was last
                                * shrunk: do it once the writer is idle */
};

/* In store_redis.c and store_redis_load.c, s->db_lock held: Redis's keys
 * (store_redis.c says what each holds). */
#define STORE_REDIS_PREFIX "poold:"
#define STORE_REDIS_JOBS STORE_REDIS_PREFIX "jobs"
#define STORE_REDIS_IDS STORE_REDIS_PREFIX "ids"
#define STORE_REDIS_KEYS STORE_REDIS_PREFIX "keys"
#define STORE_REDIS_SEQ STORE_REDIS_PREFIX "seq"
#define STORE_REDIS_ORDER STORE_REDIS_PREFIX "order"
#define STORE_REDIS_QUEUE STORE_REDIS_PREFIX "queue"
#define STORE_REDIS_LEASES STORE_REDIS_PREFIX "leases"
#define STORE_REDIS_NEWS STORE_REDIS_PREFIX "news"
#define STORE_REDIS_CANCELS STORE_REDIS_PREFIX "cancels"
/* The Lua that every script which ends or queues a job shares: which
 * statuses are ends, and a job's place in the queue: higher priority
 * first, then in the order jobs came to Redis (its `order`, from one
 * counter for every replica: job numbers come in blocks, a replica's
 * own); exact in a double for priorities within +-1000000 and below 2^32
 * jobs. */
#define STORE_REDIS_LUA_COMMON \
    "local ended = {succeeded=1, failed=1, timed_out=1, worker_lost=1, cancelled=1}\n" \
    "local function place(prio, seq) return (1000000 - tonumber(prio or 0)) * 4294967296 + tonumber(seq) end\n"
/* A new connection to the store's Redis, its database selected: the
 * caller's, or NULL with why filled. */
struct redisContext *store_redis_open(Store *s, char *why, size_t len);
/* Fills j from a row's HGETALL reply (its strings borrowed from r): 0, or
 * -1 when it is not a job's row (store_redis_load.c). */
struct redisReply;
int store_redis_row(const struct redisReply *r, uint64_t seq, StoreJob *j);
/* Connects unless connected: 0, or -1 with why filled. */
int store_redis_dial(Store *s, char *why, size_t len);
/* Takes another block of job numbers when half of one is used
 * (s->db_lock held, connected): 0, or -1 with why filled. */
int store_redis_numbers(Store *s, char *why, size_t len);
/* Closes the connection; the next dial opens another. */
void store_redis_drop(Store *s);
/* Queues op's script on the connection (its reply to be read): 0, or -1. */
int store_redis_append(Store *s, const StoreOp *op);
/* The backend's load (store_redis_load.c). */
long store_redis_load(Store *s, double ttl, StoreLoadFn fn, void *ctx);

/* A copy of j, every column, as one allocation (free); NULL when out of
 * memory. */
StoreOp *store_op_copy(const StoreJob *j);

/* --- replicas (store_cluster.c, store_watch.c) --- */

#include "store/store_cluster.h"

struct StoreCluster {
    Store *s;
    StoreClusterOptions opt;   /* its replica a copy */
    StoreClusterHooks hooks;
    pthread_mutex_t lock;      /* what follows, but the connections */
    pthread_cond_t cond;       /* the taker sleeps on it */
    int quit, kicked;          /* kicked: room here, or work this replica queued */
    int news;                  /* work another replica queued */
    int current;               /* the watcher is subscribed and caught up */
    int tried;                 /* its first connection came, or failed */
    pthread_cond_t seen;       /* signalled with tried */
    char why[256];             /* when not current */
    pthread_mutex_t conn_lock; /* conn: the taker's */
    struct redisContext *conn;
    double connected_at;       /* when conn was dialled (monotonic) */
    pthread_mutex_t ask_lock;  /* ask: cancels and reads from HTTP threads,
                                * which must not wait for the taker */
    struct redisContext *ask;
    int wake_fd;               /* an eventfd: the watcher's stop */
    pthread_t taker, watcher;
    int taker_started, watcher_started;
    int stopped;               /* store_cluster_stop ran */
};

/* Work another replica queued (the watcher, c->lock not held): taken a
 * moment later than a kick, so that the replica that queued it, when it
 * has room, takes its own first and a burst spreads as it came. */
void store_cluster_news(StoreCluster *c);

/* The watcher thread (store_watch.c). */
void *store_watch_run(void *arg);
/* Sets whether the watcher is current, with why when not (c->lock not
 * held). */
void store_watch_state(StoreCluster *c, int current, const char *why);

/* Records why the store is unhealthy (s->lock held or not yet shared). */
void store_fail(Store *s, const char *what, const char *detail);

#endif
