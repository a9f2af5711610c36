/*
 * store_impl.h: the store's insides, shared by store.c (the queue, the
 * writer thread, the public calls) and store_db.c (the SQLite side: the
 * schema and its migrations, the statements, reading jobs back).
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
    UT_hash_handle hh;         /* in s->pending while a queued update */
    char buf[];
} StoreOp;

struct Store {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    StoreOp *head, *tail;      /* the queue, oldest first */
    StoreOp *pending;          /* queued updates by seq, to replace */
    int healthy, quit, started;
    double retry_at;           /* after a failure: nothing is tried before */
    char why[256];
    pthread_t writer;

    pthread_mutex_t db_lock;
    sqlite3 *db;               /* NULL when it could not be opened */
    sqlite3_stmt *ins, *upd, *del;
    double vacuumed;           /* when incremental_vacuum last ran */
    int tidy;                  /* rows were deleted since the file was last
                                * shrunk: do it once the writer is idle */
};

/* In store_db.c; s->db_lock held unless said. */
/* Opens the file, migrates it and prepares the statements; on failure
 * the store is unhealthy with the reason (before the writer starts). */
void store_db_connect(Store *s, const StoreOptions *o);
/* Writes ops (see the definition); SQLITE_OK or the failure's code. */
int store_db_commit(Store *s, StoreOp *ops, char *why, size_t len, int *some_ok);
/* Writes a row and takes it back in one transaction: whether a new job
 * could be written now (s->db_lock held). SQLITE_OK, or the failure with
 * why filled. */
int store_db_probe(Store *s, char *why, size_t len);
/* Gives free pages back; idle, empties the WAL too. */
void store_db_shrink(Store *s, int idle);
/* Deletes the jobs expired while poold was down, then calls fn for each
 * row (store_load); -1, the store then unhealthy, when it cannot read. */
long store_db_load(Store *s, double ttl, StoreLoadFn fn, void *ctx);

#endif
