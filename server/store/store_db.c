/*
 * store_db.c: what the store says to SQLite: the schema and its
 * migrations, opening the file, the statements a commit runs, and reading
 * the jobs back at start-up. See store.c for the queue and its writer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/clock.h"
#include "core/log.h"
#include "store/store_impl.h"

/*
 * The schema, one entry per version: entry i migrates version i to i + 1.
 * Never edit an entry once released; add one. status and op are names, not
 * numbers, so that reordering an enum cannot misread an old file.
 */
static const char *const store_db_migrations[] = {
    "CREATE TABLE jobs ("
    " seq INTEGER PRIMARY KEY,"   /* creation order; the row's key */
    " id TEXT NOT NULL,"
    " op TEXT NOT NULL,"
    " func TEXT NOT NULL,"
    " priority INTEGER NOT NULL DEFAULT 0,"
    " status TEXT NOT NULL,"
    " request BLOB,"              /* the call's body, to run it again */
    " idem_key TEXT,"
    " digest BLOB,"
    " created REAL NOT NULL,"
    " started REAL NOT NULL DEFAULT 0,"
    " finished REAL NOT NULL DEFAULT 0,"
    " total INTEGER NOT NULL,"
    " done INTEGER NOT NULL DEFAULT 0,"
    " worker TEXT,"
    " pid INTEGER NOT NULL DEFAULT 0,"
    " result BLOB,"               /* JSON text */
    " fail_outcome INTEGER NOT NULL DEFAULT 0,"
    " fail_index INTEGER NOT NULL DEFAULT 0,"
    " fail_type TEXT,"
    " fail_message TEXT);"
    "CREATE INDEX jobs_finished ON jobs(finished) WHERE finished > 0;",
    /* 2: webhooks, their state as JSON (job_hook.c writes and reads it) */
    "ALTER TABLE jobs ADD COLUMN callback TEXT;",
    /* 3: a warm runtime's traceback of a failed job's error */
    "ALTER TABLE jobs ADD COLUMN fail_traceback TEXT;",
};

_Static_assert(ARRAY_LEN(store_db_migrations) == STORE_SCHEMA_VERSION, "one migration per version");

#define STORE_COLUMNS "seq, id, op, func, priority, status, request, idem_key, digest, created, " \
                      "started, finished, total, done, worker, pid, result, fail_outcome, "      \
                      "fail_index, fail_type, fail_message, callback, fail_traceback"

void
store_fail(Store *s, const char *what, const char *detail)
{
    s->healthy = 0;
    snprintf(s->why, sizeof(s->why), "the job store cannot be written: %s: %s", what, detail);
}

/* --- opening --- */

/* mkdir -p of path's directory. */
static int
store_db_mkdirs(const char *path)
{
    char dir[4096];
    char *slash;

    if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
        return -1;
    if (!(slash = strrchr(dir, '/')))
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return dir[0] && mkdir(dir, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

/* Runs the migrations from the file's version to this build's. */
static int
store_db_migrate(Store *s)
{
    sqlite3_stmt *st = NULL;
    int version = -1, rc = SQLITE_ERROR;
    char sql[64];

    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version < 0)
        return SQLITE_ERROR;
    if (version > STORE_SCHEMA_VERSION) {
        store_fail(s, "schema", "the file was written by a newer poold");
        return SQLITE_ERROR;
    }
    for (rc = SQLITE_OK; version < STORE_SCHEMA_VERSION && rc == SQLITE_OK; version++) {
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version + 1);
        if ((rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK)
            break;
        if ((rc = sqlite3_exec(s->db, store_db_migrations[version], NULL, NULL, NULL)) == SQLITE_OK &&
            (rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL)) == SQLITE_OK)
            rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        else
            log_msg(LOG_INFO, "job store: schema version %d", version + 1);
    }
    return rc;
}

/* Opens the file, sets it up and prepares the statements; on failure the
 * store is unhealthy with the reason. */
static void
store_db_connect(Store *s, const StoreOptions *o)
{
    char pragmas[256];
    const char *step = "open";
    int rc;

    if (store_db_mkdirs(o->path) < 0) {
        store_fail(s, o->path, strerror(errno));
        return;
    }
    /* auto_vacuum must come before the first table: deleted jobs' pages
     * can then be given back to the file system a few at a time. */
    snprintf(pragmas, sizeof(pragmas),
             "PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL; PRAGMA synchronous = %s;"
             "PRAGMA busy_timeout = 5000; PRAGMA journal_size_limit = 67108864;",
             o->fsync_full ? "FULL" : "NORMAL");
    rc = sqlite3_open_v2(o->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK && (step = "setup", rc = sqlite3_exec(s->db, pragmas, NULL, NULL, NULL)) == SQLITE_OK &&
        (step = "migration", rc = store_db_migrate(s)) == SQLITE_OK && (step = "prepare") &&
        (rc = sqlite3_prepare_v2(s->db, "INSERT INTO jobs (" STORE_COLUMNS ") VALUES "
                                 "(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23)",
                                 -1, &s->ins, NULL)) == SQLITE_OK &&
        (rc = sqlite3_prepare_v2(s->db, "UPDATE jobs SET status=?6, started=?11, finished=?12, done=?14, "
                                 "worker=?15, pid=?16, result=?17, fail_outcome=?18, fail_index=?19, "
                                 "fail_type=?20, fail_message=?21, callback=?22, fail_traceback=?23 WHERE seq=?1", -1, &s->upd, NULL)) == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->db, "DELETE FROM jobs WHERE seq=?1", -1, &s->del, NULL);
    if (rc == SQLITE_OK) {
        s->healthy = s->open = 1;
        return;
    }
    if (s->healthy || !s->why[0])
        store_fail(s, o->path, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    log_msg(LOG_ERROR, "%s (%s); async jobs are refused until poold restarts with a usable store", s->why, step);
    sqlite3_finalize(s->ins);
    sqlite3_finalize(s->upd);
    sqlite3_finalize(s->del);
    s->ins = s->upd = s->del = NULL;
    sqlite3_close(s->db);
    s->db = NULL;
}


/* Binds the job's columns (those the statement has). */
static void
store_db_bind(sqlite3_stmt *st, const StoreJob *j)
{
    int n = sqlite3_bind_parameter_count(st);

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)j->seq);
    if (n < 2) /* the DELETE */
        return;
    sqlite3_bind_text(st, 2, j->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, j->op, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, j->func, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, j->priority);
    sqlite3_bind_text(st, 6, j->status, -1, SQLITE_STATIC);
    if (j->request)
        sqlite3_bind_blob64(st, 7, j->request, j->request_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, j->key, -1, SQLITE_STATIC);
    if (j->key && j->digest)
        sqlite3_bind_blob(st, 9, j->digest, 32, SQLITE_STATIC);
    sqlite3_bind_double(st, 10, j->created);
    sqlite3_bind_double(st, 11, j->started);
    sqlite3_bind_double(st, 12, j->finished);
    sqlite3_bind_int64(st, 13, (sqlite3_int64)j->total);
    sqlite3_bind_int64(st, 14, (sqlite3_int64)j->done);
    sqlite3_bind_text(st, 15, j->worker, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 16, j->pid);
    if (j->result)
        sqlite3_bind_blob64(st, 17, j->result, j->result_len, SQLITE_STATIC);
    sqlite3_bind_int(st, 18, j->fail_outcome);
    sqlite3_bind_int64(st, 19, (sqlite3_int64)j->fail_index);
    sqlite3_bind_text(st, 20, j->fail_type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 21, j->fail_message, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 22, j->callback, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 23, j->fail_traceback, -1, SQLITE_STATIC);
}

/* Returns up to 2000 free pages (8 MiB) to the file system; idle, also
 * empties the WAL, which otherwise keeps its high-water size (s->db_lock
 * held). */
static void
store_db_shrink(Store *s, int idle)
{
    sqlite3_stmt *st = NULL;
    int free_pages = 0;

    s->vacuumed = clock_mono();
    sqlite3_exec(s->db, "PRAGMA incremental_vacuum(2000)", NULL, NULL, NULL);
    if (sqlite3_prepare_v2(s->db, "PRAGMA freelist_count", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        free_pages = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (idle && free_pages == 0) {
        sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        s->tidy = 0;
    }
}

/* Runs one op's statement (s->db_lock held, a transaction open). */
static int
store_db_exec(Store *s, StoreOp *op)
{
    sqlite3_stmt *st = op->kind == STORE_ADD ? s->ins : op->kind == STORE_UPDATE ? s->upd : s->del;
    int rc;

    store_db_bind(st, &op->job);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Whether rc is the file being busy (another connection), not this
 * write failing. */
static int
store_db_busy(int rc)
{
    return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

/* The op-by-op pass of store_db_commit: each op in its own transaction,
 * stopping at the first one the file as a whole refuses (busy, or a
 * failed BEGIN or COMMIT: the rest would fail alike). *some_ok says
 * whether any went in. */
static int
store_db_commit_each(Store *s, StoreOp *ops, char *why, size_t len, int *some_ok)
{
    int rc = SQLITE_OK, failed = SQLITE_OK, stmt;

    for (StoreOp *op = ops; op; op = op->next) {
        if (op->kind == STORE_NONE)
            continue;
        stmt = 0;
        if ((rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) == SQLITE_OK &&
            (stmt = 1, rc = store_db_exec(s, op)) == SQLITE_OK)
            stmt = 0, rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
        if ((op->ok = rc == SQLITE_OK)) {
            *some_ok = 1;
            continue;
        }
        snprintf(why, len, "the job store cannot be written: %s", sqlite3_errmsg(s->db));
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        failed = rc;
        if (!stmt || store_db_busy(rc))
            break;
    }
    return failed;
}

static int
store_db_probe(Store *s, char *why, size_t len)
{
    /* A row where the next job's goes (after the last seq: the same
     * b-tree pages, a split included), as large as a small job's, taken
     * back in the same transaction. A tiny row at one end of the table
     * fitted on a full disk where the next job then did not. */
    int rc = s->db ? sqlite3_exec(s->db, "BEGIN IMMEDIATE; INSERT INTO jobs (seq, id, op, func, status, request, created, total) "
                                         "SELECT COALESCE(MAX(seq), 0) + 1, 'probe', 'probe', 'probe', 'probe', "
                                         "randomblob(1024), 0, 0 FROM jobs; "
                                         "DELETE FROM jobs WHERE seq = last_insert_rowid(); COMMIT", NULL, NULL, NULL)
                   : SQLITE_CANTOPEN;

    if (rc != SQLITE_OK) {
        snprintf(why, len, "the job store cannot be written: %s", s->db ? sqlite3_errmsg(s->db) : "not open");
        if (s->db)
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    return rc;
}

/*
 * Writes ops in one transaction; when one of its statements fails, each
 * op in its own, so that one op that can never be written (a result too
 * large for the room left) does not hold back the others. Sets each op's
 * `ok`, and *some_ok when any went in. Returns SQLITE_OK when every op
 * was written, else the last failure's code with why filled (s->db_lock
 * held).
 */
static int
store_db_commit(Store *s, StoreOp *ops, char *why, size_t len, int *some_ok)
{
    int rc, forgot = 0, stmt = 0;

    *some_ok = 0;
    for (StoreOp *op = ops; op; op = op->next)
        op->ok = 0;
    if (!s->db)
        return SQLITE_CANTOPEN;
    rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    for (StoreOp *op = ops; op && rc == SQLITE_OK; op = op->next) {
        forgot |= op->kind == STORE_FORGET;
        if (op->kind != STORE_NONE && (rc = store_db_exec(s, op)) != SQLITE_OK)
            stmt = 1;
    }
    if (rc == SQLITE_OK && (rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL)) == SQLITE_OK) {
        for (StoreOp *op = ops; op; op = op->next)
            op->ok = 1;
        *some_ok = 1;
    } else {
        snprintf(why, len, "the job store cannot be written: %s", sqlite3_errmsg(s->db));
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        /* One statement failed, not the file (not busy): find which. */
        if (stmt && !store_db_busy(rc))
            rc = store_db_commit_each(s, ops, why, len, some_ok);
    }
    /* Give deleted jobs' pages back, a bounded number at a time, so the
     * file follows the jobs it holds without one long lock. */
    s->tidy |= forgot;
    if (forgot && rc == SQLITE_OK && clock_mono() - s->vacuumed >= 1.0)
        store_db_shrink(s, 0);
    return rc;
}

/* The text of column i, NULL for NULL. */
static const char *
store_db_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* store_load's reading; store.c holds s->db_lock around it. */
static long
store_db_load(Store *s, double ttl, StoreLoadFn fn, void *ctx)
{
    sqlite3_stmt *del = NULL, *st = NULL;
    long n = -1;
    int rc;

    if (!s->db)
        goto cleanup;
    rc = sqlite3_prepare_v2(s->db, "DELETE FROM jobs WHERE finished > 0 AND finished <= ?1 AND (callback IS NULL OR "
                            "json_extract(callback, '$.target') IS NULL OR json_extract(callback, '$.done'))", -1, &del, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_double(del, 1, clock_wall() - ttl);
        rc = sqlite3_step(del) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    if (rc == SQLITE_OK && sqlite3_changes(s->db) > 0) { /* expired while poold was down */
        pthread_mutex_lock(&s->lock);
        s->tidy = 1; /* the writer shrinks the file once idle */
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->lock);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->db, "SELECT " STORE_COLUMNS " FROM jobs ORDER BY seq", -1, &st, NULL);
    for (n = 0; rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW; n++, rc = SQLITE_OK) {
        StoreJob j = {
            .seq = (uint64_t)sqlite3_column_int64(st, 0), .id = store_db_text(st, 1),
            .op = store_db_text(st, 2), .func = store_db_text(st, 3), .priority = sqlite3_column_int(st, 4),
            .status = store_db_text(st, 5), .request = sqlite3_column_blob(st, 6),
            .request_len = (size_t)sqlite3_column_bytes(st, 6), .key = store_db_text(st, 7),
            .digest = sqlite3_column_bytes(st, 8) == 32 ? sqlite3_column_blob(st, 8) : NULL,
            .created = sqlite3_column_double(st, 9), .started = sqlite3_column_double(st, 10),
            .finished = sqlite3_column_double(st, 11), .total = (uint64_t)sqlite3_column_int64(st, 12),
            .done = (uint64_t)sqlite3_column_int64(st, 13), .worker = store_db_text(st, 14),
            .pid = sqlite3_column_int(st, 15), .result = sqlite3_column_blob(st, 16),
            .result_len = (size_t)sqlite3_column_bytes(st, 16), .fail_outcome = sqlite3_column_int(st, 17),
            .fail_index = (uint64_t)sqlite3_column_int64(st, 18), .fail_type = store_db_text(st, 19),
            .fail_message = store_db_text(st, 20), .callback = store_db_text(st, 21),
            .fail_traceback = store_db_text(st, 22),
        };
        if (j.id && j.op && j.func && j.status)
            fn(ctx, &j);
    }
    if (rc != SQLITE_DONE) {
        log_msg(LOG_ERROR, "job store: cannot read the jobs back: %s", sqlite3_errmsg(s->db));
        pthread_mutex_lock(&s->lock);
        store_fail(s, "reading", sqlite3_errmsg(s->db));
        pthread_mutex_unlock(&s->lock);
        n = -1;
    }
cleanup:
    sqlite3_finalize(del);
    sqlite3_finalize(st);
    return n;
}

static void
store_db_close(Store *s)
{
    sqlite3_finalize(s->ins);
    sqlite3_finalize(s->upd);
    sqlite3_finalize(s->del);
    sqlite3_close(s->db);
}

const StoreBackend store_db_backend = {
    .connect = store_db_connect, .commit = store_db_commit, .probe = store_db_probe,
    .shrink = store_db_shrink, .load = store_db_load, .close = store_db_close,
};
