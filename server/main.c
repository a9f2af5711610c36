/*
 * main.c: parse the configuration, build the registry, fork the fork server
 * (before any thread exists), start the pool and HTTP, wait for SIGTERM or
 * SIGINT, and shut down in order.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/clock.h"
#include "config.h"
#include "functions/exec.h"
#include "handlers.h"
#include "http/http.h"
#include "jobs/job.h"
#include "core/log.h"
#include "core/metrics.h"
#include "functions/plugin.h"
#include "pool/pool.h"
#include "functions/registry.h"
#include "store/store.h"
#include "webhook/webhook.h"

/* Distinct exit codes per start-up failure, as beanstalkd does. */
enum { EXIT_USAGE = 2, EXIT_REGISTRY = 3, EXIT_POOL = 4, EXIT_HTTP = 5, EXIT_POOL_FAILED = 6,
       EXIT_NOMEM = 7 };

/* The counters get a slot for every function and every route, fixed from
 * here on, so that counting needs no lock. */
static int
main_metrics_init(const Registry *reg)
{
    unsigned nfuncs = registry_count(reg), nroutes = 0;
    json_t *list = registry_list(reg), *fn;
    size_t i;
    int rc = SVC_ENOMEM;

    while (routes[nroutes].method)
        nroutes++;
    const char *names[nfuncs + 1], *methods[nroutes + 1], *patterns[nroutes + 1];
    if (!list)
        return SVC_ENOMEM;
    json_array_foreach(list, i, fn) {
        const RegistryFn *f = registry_find(reg, json_string_value(json_object_get(fn, "name")));
        if (f && f->id < nfuncs)
            names[f->id] = f->name;
    }
    for (unsigned r = 0; r < nroutes; r++) {
        methods[r] = routes[r].method;
        patterns[r] = routes[r].pattern;
    }
    if (json_array_size(list) == nfuncs)
        rc = metrics_init(names, nfuncs, methods, patterns, nroutes);
    json_decref(list);
    return rc;
}

/* Suspended connections and worker sockets add up: take the hard limit. */
static void
main_raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* A second stop signal during the graceful stop: end at once. Workers
 * and the fork server die with this process (PR_SET_PDEATHSIG). */
static void
main_stop_now(int sig)
{
    static const char msg[] = "poold: second stop signal: exiting at once\n";

    (void)sig;
    if (write(2, msg, sizeof(msg) - 1) < 0)
        _exit(1);
    _exit(1);
}

/* The stop signals are blocked in every thread; the main thread takes
 * them with sigwait, so no handler runs in an arbitrary thread. After the
 * first, the next one is let through to main_stop_now. */
static void
main_wait_for_signal(const sigset_t *set)
{
    int sig = 0;

    while (sigwait(set, &sig) != 0)
        ;
    log_msg(LOG_INFO, "received %s: shutting down (a second signal stops at once)",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
    signal(SIGTERM, main_stop_now);
    signal(SIGINT, main_stop_now);
    pthread_sigmask(SIG_UNBLOCK, set, NULL);
}

int
main(int argc, char **argv)
{
    Config cfg;
    Registry *reg = NULL;
    Pool *pool = NULL;
    Http *http = NULL;
    JobTable *jobs = NULL;
    Store *store = NULL;
    Webhooks *hooks = NULL;
    char err[512];
    sigset_t stop;
    int rc;

    rc = config_parse(&cfg, argc, argv, stdout, err, sizeof(err));
    if (rc == CONFIG_HELP)
        return 0;
    if (rc != SVC_OK) {
        fprintf(stderr, "poold: %s\n", err);
        return EXIT_USAGE;
    }
    log_level = cfg.log_level;
    log_json = cfg.log_json;
    main_raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    /* Past RLIMIT_FSIZE a write fails with EFBIG, as on a full disk, and
     * the store says so; the default action would kill poold instead. */
    signal(SIGXFSZ, SIG_IGN);

    rc = EXIT_REGISTRY;
    if (!(reg = registry_new()) || builtins_register(reg) != SVC_OK) {
        log_msg(LOG_ERROR, "cannot build the function registry");
        goto cleanup;
    }
    /* A plugin that cannot load is a mistake in the command line: usage. */
    for (int i = 0; i < cfg.nplugins; i++)
        if (plugin_load(reg, cfg.plugins[i], err, sizeof(err)) != SVC_OK) {
            fprintf(stderr, "poold: %s\n", err);
            rc = EXIT_USAGE;
            goto cleanup;
        }
    if (cfg.functions && exec_load(reg, cfg.functions, cfg.max_result, err, sizeof(err)) != SVC_OK) {
        fprintf(stderr, "poold: %s\n", err);
        rc = EXIT_USAGE;
        goto cleanup;
    }
    if (main_metrics_init(reg) != SVC_OK) {
        log_msg(LOG_ERROR, "cannot make the metrics' counters");
        rc = EXIT_NOMEM;
        goto cleanup;
    }
    /* The fork server is forked here, while this process has one thread. */
    rc = EXIT_POOL;
    PoolOptions po = {.processes = cfg.processes, .max_queue = cfg.max_queue, .reg = reg,
                      .max_tasks_per_child = cfg.max_tasks_per_child,
                      .worker_memory = cfg.worker_memory, .worker_cpu = cfg.worker_cpu,
                      .start_timeout = cfg.worker_start_timeout};
    if (!(pool = pool_new(&po))) {
        log_errno(LOG_ERROR, errno, "cannot start the fork server");
        goto cleanup;
    }
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    if (pool_start(pool) != SVC_OK) {
        log_errno(LOG_ERROR, errno, "cannot start the pool");
        goto cleanup;
    }

    /* A store that cannot be opened is not fatal: sync calls still serve,
     * async submits and /readyz answer 503 with the reason. */
    StoreOptions so = {.path = cfg.store_path, .fsync_full = cfg.fsync_full};
    if (!cfg.store_memory && !(store = store_open(&so))) {
        rc = EXIT_NOMEM;
        goto cleanup;
    }
    WebhookOptions wo = {.secret = cfg.webhook_secret, .backoff = cfg.webhook_backoff,
                         .max_attempts = (int)cfg.webhook_attempts, .timeout = cfg.webhook_timeout,
                         .nallow = cfg.nwebhook_allow};
    _Static_assert(sizeof(wo.allow) == sizeof(cfg.webhook_allow), "one allow list");
    memcpy(wo.allow, cfg.webhook_allow, sizeof(wo.allow));
    if (!(hooks = webhook_start(&wo, err, sizeof(err)))) {
        fprintf(stderr, "poold: %s\n", err);
        rc = EXIT_USAGE;
        goto cleanup;
    }
    App app = {.cfg = &cfg, .reg = reg, .pool = pool, .webhooks = hooks, .started = clock_wall()};
    JobOptions jo = {.pool = pool, .max_jobs = cfg.max_jobs, .result_ttl = cfg.result_ttl,
                     .store = store, .webhooks = hooks, .reg = reg, .limits = request_limits(&app, 1)};
    if (!(jobs = job_table_new(&jo))) {
        log_msg(LOG_ERROR, "cannot start the job table");
        goto cleanup;
    }
    app.jobs = jobs;
    job_store_recover(jobs);
    HttpOptions ho = {.host = cfg.host, .port = cfg.port, .threads = cfg.http_threads,
                      .max_conns = cfg.max_conns, .max_body = cfg.max_body,
                      .max_conns_per_ip = cfg.max_conns_per_ip, .conn_timeout = cfg.conn_timeout,
                      .routes = routes, .app = &app, .keys = cfg.api_keys, .nkeys = cfg.napi_keys,
                      .tls_cert = cfg.tls_cert, .tls_key = cfg.tls_key};
    rc = EXIT_HTTP;
    if (!(http = http_start(&ho, err, sizeof(err)))) {
        log_msg(LOG_ERROR, "%s", err);
        goto cleanup;
    }
    log_msg(LOG_INFO, "poold listening on %s://%s%s%s:%d with %d processes, pid %d", cfg.tls_cert ? "https" : "http",
            strchr(cfg.host, ':') ? "[" : "", cfg.host, strchr(cfg.host, ':') ? "]" : "",
            http_port(http), cfg.processes, (int)getpid());

    main_wait_for_signal(&stop);
    /* HTTP goes on serving during the grace: a new call is told 503 (and a
     * balancer reads /readyz 503) instead of meeting a closed port, and a
     * client can still fetch the results of its jobs. */
    pool_stop(pool, cfg.shutdown_grace); /* every waiting call gets its answer */
    http_quiesce(http);
    job_table_stop(jobs);            /* and every long poll */
    http_stop(http);                 /* no handler runs after this */
    http = NULL;
    webhook_stop(hooks);             /* deliveries left resume at the next start */
    hooks = NULL;
    store_close(store);              /* every state change is written */
    store = NULL;
    rc = pool_failed(pool) ? EXIT_POOL_FAILED : 0;
    log_msg(LOG_INFO, "poold stopped%s", rc ? ": the pool had failed" : "");
cleanup:
    /* In this order whatever the failure: no callback of the pool (jobs
     * ending, their webhooks, their rows) may find its target gone. */
    pool_stop(pool, 0);
    http_stop(http);
    webhook_stop(hooks);
    store_close(store);
    job_table_free(jobs);
    pool_free(pool);
    registry_free(reg);
    metrics_free();
    return rc;
}
