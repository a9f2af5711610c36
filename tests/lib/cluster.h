/*
 * cluster.h: poold replicas for the tests (http_cluster, http_cluster_faults):
 * a real redis-server and up to three poolds on it, each serving `record`,
 * a warm Python function that appends its first argument to a file each
 * time it runs (then sleeps its second), so that a test counts the runs
 * of every job.
 */
#ifndef POOLD_TEST_CLUSTER_H
#define POOLD_TEST_CLUSTER_H

#include "redis.h"
#include "server.h"

#define MAX_REPLICAS 3

typedef struct Cluster {
    RedisServer redis;
    Server s[MAX_REPLICAS];
    int n;
    char runs[128];   /* where record writes */
    char py[128];     /* the functions' file */
} Cluster;

/* Starts redis and n replicas named r0.. with `processes` workers each and
 * extra flags (NULL-terminated, may be NULL), and waits until their
 * workers are ready. */
void cluster_start(Cluster *c, int n, const char *processes, const char *const *extra);
/* Stops the replicas still running and redis; removes the files. */
void cluster_stop(Cluster *c);

/* The wall clock, which finished_at is in (one machine: one clock). */
double wall_now(void);
/* How often each job value ran, by the runs file: counts[v] for v < n. */
void count_runs(const Cluster *c, int *counts, int n);
/* The replica (index) a job runs on, by r0's view; -1 when none yet. */
int running_on(const Cluster *c, const char *id);
/* Submits record(v, pause) for v in 0..n-1 from four threads, round-robin
 * over the live replicas, ids into ids[v]; 0 when all were accepted. */
int submit_many(Cluster *c, int n, double pause, char (*ids)[40]);
/* Waits up to `seconds` until every job has succeeded on replica s: the
 * number that has not. */
int await_all(const Server *s, char (*ids)[40], int n, double seconds);

#endif
