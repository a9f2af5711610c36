/*
 * scrape.c: GET /metrics, in Prometheus' text format 0.0.4.
 *
 * The counters come from server/core/metrics.c; what is a state (the queue, the
 * workers, the jobs, the process) is read here at scrape time, so a scrape
 * costs one pool snapshot and one look at the job table, never a scan.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "handlers.h"
#include "jobs/job.h"
#include "core/metrics.h"
#include "events/events.h"
#include "pool/pool.h"

#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

static void
write_pool(FILE *f, Pool *pool)
{
    static const char *const states[] = {"busy", "idle", "starting", "dying", "waiting"};
    json_t *snap = pool_snapshot(pool), *w;
    json_t *queue = json_object_get(snap, "queue");
    long n[ARRAY_LEN(states)] = {0};
    size_t i;
    char lab[64];

    json_array_foreach(json_object_get(snap, "workers"), i, w) {
        const char *state = json_string_value(json_object_get(w, "state"));
        for (size_t s = 0; state && s < ARRAY_LEN(states); s++)
            n[s] += strcmp(state, states[s]) == 0;
    }
    metrics_family(f, "poold_workers", "gauge",
                   "Worker processes by state: busy (holding tasks), idle, starting, dying, waiting to respawn.");
    for (size_t s = 0; s < ARRAY_LEN(states); s++) {
        snprintf(lab, sizeof(lab), "state=\"%s\"", states[s]);
        metrics_sample(f, "poold_workers", lab, (double)n[s]);
    }
    metrics_family(f, "poold_processes", "gauge", "Worker processes the pool keeps (--processes).");
    metrics_sample(f, "poold_processes", "", (double)json_integer_value(json_object_get(snap, "processes")));
    metrics_family(f, "poold_queue_depth", "gauge", "Tasks waiting for a worker: queued, or written ahead to one and not started (--max-queue bounds them).");
    metrics_sample(f, "poold_queue_depth", "", (double)json_integer_value(json_object_get(queue, "queued")));
    metrics_family(f, "poold_queue_capacity", "gauge", "Tasks the queue takes before it refuses (--max-queue).");
    metrics_sample(f, "poold_queue_capacity", "", (double)json_integer_value(json_object_get(queue, "max")));
    metrics_family(f, "poold_tasks_in_flight", "gauge",
                   "Tasks handed to workers: running, or sent and waiting in a worker's socket.");
    metrics_sample(f, "poold_tasks_in_flight", "state=\"running\"",
                   (double)json_integer_value(json_object_get(queue, "running")));
    metrics_sample(f, "poold_tasks_in_flight", "state=\"sent\"",
                   (double)json_integer_value(json_object_get(queue, "sent")));
    json_decref(snap);
}

static void
write_jobs(FILE *f, JobTable *jobs)
{
    size_t counts[JOB_NSTATUS];
    char lab[64];

    job_view_counts(jobs, counts);
    metrics_family(f, "poold_jobs", "gauge", "Async jobs the table holds, by status.");
    for (int s = 0; s < JOB_NSTATUS; s++) {
        snprintf(lab, sizeof(lab), "status=\"%s\"", job_status_name((JobStatus)s));
        metrics_sample(f, "poold_jobs", lab, (double)counts[s]);
    }
}

/* The process' standard families (the names every exporter uses). */
static void
write_process(FILE *f, const App *app)
{
    long pages = 0, rss = 0, fds = 0;
    FILE *statm = fopen("/proc/self/statm", "r");
    DIR *d = opendir("/proc/self/fd");

    if (statm) {
        /* The kernel writes these numbers: none is past a long. */
        if (fscanf(statm, "%ld %ld", &pages, &rss) != 2) /* NOLINT(cert-err34-c) */
            rss = 0;
        fclose(statm);
    }
    for (struct dirent *e; d && (e = readdir(d));)
        fds += e->d_name[0] != '.';
    if (d) {
        closedir(d);
        fds--; /* the directory's own */
    }
    metrics_family(f, "process_resident_memory_bytes", "gauge", "Resident memory of poold's main process.");
    metrics_sample(f, "process_resident_memory_bytes", "", (double)rss * (double)sysconf(_SC_PAGESIZE));
    metrics_family(f, "process_open_fds", "gauge", "File descriptors poold's main process holds.");
    metrics_sample(f, "process_open_fds", "", (double)fds);
    metrics_family(f, "process_start_time_seconds", "gauge", "When poold started, in seconds since the epoch.");
    metrics_sample(f, "process_start_time_seconds", "", app->started);
}

void
handle_metrics(HttpReq *r)
{
    App *app = http_app(r);
    char *text = NULL, why[300];
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    if (!f) {
        http_reply_problem(r, 500, "out of memory", NULL);
        return;
    }
    metrics_write(f);
    events_metrics_write(f);
    write_pool(f, app->pool);
    write_jobs(f, app->jobs);
    metrics_family(f, "poold_ready", "gauge", "1 when GET /readyz would answer 200.");
    metrics_sample(f, "poold_ready", "",
                   pool_ready(app->pool, why, sizeof(why)) && job_store_ready(app->jobs, why, sizeof(why)));
    write_process(f, app);
    if (app->cfg->redis_host[0]) { /* which replica a scrape through a balancer reached */
        char label[96];
        snprintf(label, sizeof(label), "replica=\"%s\"", app->cfg->replica);
        metrics_family(f, "poold_replica_info", "gauge", "1, labelled with this replica's name (--replica).");
        metrics_sample(f, "poold_replica_info", label, 1);
    }
    if (fclose(f) != 0) {
        free(text);
        http_reply_problem(r, 500, "out of memory", NULL);
        return;
    }
    http_reply_typed(r, 200, METRICS_TYPE, text);
}
