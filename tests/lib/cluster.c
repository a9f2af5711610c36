/*
 * cluster.c: see cluster.h.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "cluster.h"
#include "harness.h"

/* Starts redis and n replicas with `processes` workers each and extra
 * flags (NULL-terminated, may be NULL). */
void
cluster_start(Cluster *c, int n, const char *processes, const char *const *extra)
{
    char text[512], name[MAX_REPLICAS][16];

    memset(c, 0, sizeof(*c)); /* the caller's is uninitialised */
    snprintf(c->runs, sizeof(c->runs), "/tmp/poold-test-%d-runs", (int)getpid());
    unlink(c->runs);
    snprintf(text, sizeof(text),
             "import time\n\n"
             "def record(i, pause=0):\n"
             "    \"\"\"Appends i to the runs file (one line a run), then sleeps.\"\"\"\n"
             "    with open('%s', 'a') as f:\n"
             "        f.write('%%s\\n' %% i)\n"
             "    time.sleep(pause)\n"
             "    return i\n",
             c->runs);
    test_write_file(c->py, sizeof(c->py), "cluster.py", text);
    redis_start(&c->redis);
    c->n = n;
    for (int i = 0; i < n; i++) {
        const char *args[24] = {"--processes", processes, "--store", c->redis.url, "--python", c->py,
                                "--replica", name[i]};
        int k = 8;
        snprintf(name[i], sizeof(name[i]), "r%d", i);
        for (int e = 0; extra && extra[e] && k < 22; e++)
            args[k++] = extra[e];
        args[k] = NULL;
        server_start(&c->s[i], args);
    }
    /* Ready to take work, every one: a replica takes none while its
     * workers' runtimes start. */
    for (int i = 0; i < n; i++)
        CHECK(await_idle_workers(&c->s[i], atoi(processes), 20));
}

void
cluster_stop(Cluster *c)
{
    for (int i = 0; i < c->n; i++)
        if (c->s[i].pid)
            server_stop(&c->s[i]);
    redis_free(&c->redis);
    unlink(c->runs);
    unlink(c->py);
}

/* The wall clock, which finished_at is in (one machine: one clock). */
double
wall_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* How often each job value ran, by the runs file: counts[v] for v < n. */
void
count_runs(const Cluster *c, int *counts, int n)
{
    FILE *f = fopen(c->runs, "r");
    int v;

    memset(counts, 0, sizeof(*counts) * (size_t)n);
    while (f && fscanf(f, "%d", &v) == 1)
        if (v >= 0 && v < n)
            counts[v]++;
    if (f)
        fclose(f);
}

/* The replica (index) a job runs on, by its view; -1 when none yet. */
int
running_on(const Cluster *c, const char *id)
{
    json_t *j = job_get(&c->s[0], id);
    const char *rep = json_string_value(jpath(j, "replica"));
    int k = j && strcmp(json_string_value(jpath(j, "status")) ?: "", "running") == 0 && rep && rep[0] == 'r'
                ? rep[1] - '0' : -1;

    json_decref(j);
    return k;
}

/* --- submitting many jobs at once --- */

/* One submitting thread's share of submit_many. */
typedef struct Burst {
    Cluster *c;
    int from, to, step;   /* job values from, from+step, ... below to */
    double pause;
    char (*ids)[40];      /* by value */
    int *via;             /* the replica each was submitted to, or NULL */
    int alive[MAX_REPLICAS];
    int failed;
} Burst;

/* Submits record(v) for its values, round-robin over the live replicas. */
static void *
burst_run(void *arg)
{
    Burst *b = arg;
    char body[96];
    Resp r;
    int turn = b->from;

    for (int v = b->from; v < b->to; v += b->step) {
        int k;
        do
            k = turn++ % b->c->n;
        while (!b->alive[k]);
        snprintf(body, sizeof(body), "{\"func\":\"record\",\"args\":[%d,%g]}", v, b->pause);
        if (req(&b->c->s[k], "POST", "/v1/apply_async", body, &r) != 0 || r.status != 202) {
            b->failed++;
        } else {
            snprintf(b->ids[v], sizeof(b->ids[v]), "%s", json_string_value(jpath(r.json, "id")));
            if (b->via)
                b->via[v] = k;
        }
        if (r.body)
            resp_free(&r);
    }
    return NULL;
}

/* Submits record(0..n-1) from four threads; 0 when all were accepted. */
int
submit_many(Cluster *c, int n, double pause, char (*ids)[40])
{
    pthread_t th[4];
    Burst b[4];
    int failed = 0;

    for (int t = 0; t < 4; t++) {
        b[t] = (Burst){.c = c, .from = t, .to = n, .step = 4, .pause = pause, .ids = ids};
        for (int k = 0; k < c->n; k++)
            b[t].alive[k] = c->s[k].pid != 0;
        CHECK(pthread_create(&th[t], NULL, burst_run, &b[t]) == 0);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        failed += b[t].failed;
    }
    return failed;
}

/* Waits up to `seconds` until every job has succeeded on replica s: the
 * number that has not. */
int
await_all(const Server *s, char (*ids)[40], int n, double seconds)
{
    int left = n, from = 0;
    char path[96];
    Resp r;

    /* Jobs end in about the order they came: each pass starts at the
     * first not yet done. */
    for (double end = now_seconds() + seconds; left && now_seconds() < end; sleep_seconds(0.05)) {
        left = 0;
        for (int v = from; v < n; v++) {
            snprintf(path, sizeof(path), "/v1/jobs/%s/result", ids[v]);
            if (req(s, "GET", path, NULL, &r) != 0 || r.status != 200) {
                if (!left)
                    from = v;
                left++;
            }
            resp_free(&r);
        }
    }
    return left;
}
