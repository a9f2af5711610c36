/*
 * main.c: parse the configuration; main_start builds the registry, forks
 * the fork server (before any thread exists), starts the pool, the store,
 * the webhooks, the job table and HTTP; wait for SIGTERM or SIGINT;
 * main_drain lets running work finish, and main_stop tears down, in an
 * order of its own, whatever was started.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/clock.h"
#include "config.h"
#include "functions/exec.h"
#include "functions/runtime.h"
#include "handlers.h"
#include "http/http.h"
#include "jobs/job.h"
#include "core/log.h"
#include "core/metrics.h"
#include "events/events.h"
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

/* Freed heap the server keeps for the next large call rather than give
 * back to the kernel. A map's body and answer are copied a few times on
 * their way (the request, the chunks' texts, the answer); past glibc's
 * 128 KiB each copy was a fresh mmap faulted in page by page, and the HTTP
 * thread's time on a map of a million items went 0.09 s -> 0.03 s. */
#define MAIN_HEAP_KEEP (8 << 20)

static void
main_keep_heap(void)
{
    mallopt(M_TRIM_THRESHOLD, MAIN_HEAP_KEEP);
    mallopt(M_MMAP_THRESHOLD, MAIN_HEAP_KEEP);
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

/* What main_start started, for main_drain and main_stop; NULL where it
 * did not get so far. */
typedef struct Main {
    Config cfg;
    Registry *reg;
    Pool *pool;
    Store *store;
    Webhooks *hooks;
    JobTable *jobs;
    Http *http;
    App app;         /* every handler's view of the above */
    sigset_t stop;   /* SIGTERM and SIGINT, blocked in every thread */
} Main;

/* The warm runtimes: --python's files, then the --functions file's. Each
 * is run once here, before any worker, to learn its functions. */
static int
main_start_runtimes(Main *m, char *err, size_t len)
{
    for (int i = 0; i < m->cfg.npythons; i++) {
        RuntimeSpec *spec = runtime_python(m->cfg.pythons[i], NULL, NULL, err, len);
        if (!spec || runtime_declare(m->reg, spec, m->cfg.worker_start_timeout, err, len) != SVC_OK)
            return SVC_EINVAL;
    }
    if (m->cfg.functions)
        return runtime_load(m->reg, m->cfg.functions, m->cfg.worker_start_timeout, err, len);
    return SVC_OK;
}

/* The registry: built-ins, plugins, exec functions, runtimes, then the counters of
 * every function. Returns 0 or the exit code. */
static int
main_start_registry(Main *m)
{
    char err[512];

    if (!(m->reg = registry_new()) || builtins_register(m->reg) != SVC_OK) {
        log_msg(LOG_ERROR, "cannot build the function registry");
        return EXIT_REGISTRY;
    }
    /* A plugin that cannot load is a mistake in the command line: usage. */
    for (int i = 0; i < m->cfg.nplugins; i++)
        if (plugin_load(m->reg, m->cfg.plugins[i], err, sizeof(err)) != SVC_OK) {
            fprintf(stderr, "poold: %s\n", err);
            return EXIT_USAGE;
        }
    if (m->cfg.functions && exec_load(m->reg, m->cfg.functions, m->cfg.max_result, err, sizeof(err)) != SVC_OK) {
        fprintf(stderr, "poold: %s\n", err);
        return EXIT_USAGE;
    }
    if (main_start_runtimes(m, err, sizeof(err)) != SVC_OK) {
        fprintf(stderr, "poold: %s\n", err);
        return EXIT_USAGE;
    }
    if (main_metrics_init(m->reg) != SVC_OK) {
        log_msg(LOG_ERROR, "cannot make the metrics' counters");
        return EXIT_NOMEM;
    }
    return 0;
}

/* The fork server is forked here, while this process has one thread; the
 * stop signals are blocked before the pool's threads inherit the mask. */
static int
main_start_pool(Main *m)
{
    const Config *cfg = &m->cfg;
    PoolOptions po = {.processes = cfg->processes, .max_queue = cfg->max_queue, .reg = m->reg,
                      .max_tasks_per_child = cfg->max_tasks_per_child,
                      .worker_memory = cfg->worker_memory, .worker_cpu = cfg->worker_cpu,
                      .start_timeout = cfg->worker_start_timeout, .max_result = cfg->max_result,
                      .pin = !cfg->runtime_free && runtime_count(m->reg) > 0};

    if (!(m->pool = pool_new(&po))) {
        log_errno(LOG_ERROR, errno, "cannot start the fork server");
        return EXIT_POOL;
    }
    sigemptyset(&m->stop);
    sigaddset(&m->stop, SIGTERM);
    sigaddset(&m->stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &m->stop, NULL);
    /* The events' waker is a thread: after the fork server, before the
     * pool, whose workers' starts are events. */
    EventsOptions eo = {.ring = (size_t)cfg->events_ring, .heartbeat = cfg->events_heartbeat,
                        .tick = watch_tick, .tick_ctx = &m->app, .tick_every = 2};
    if (events_init(&eo) != SVC_OK) {
        log_msg(LOG_ERROR, "cannot start the event stream");
        return EXIT_NOMEM;
    }
    if (pool_start(m->pool) != SVC_OK) {
        log_errno(LOG_ERROR, errno, "cannot start the pool");
        return EXIT_POOL;
    }
    return 0;
}

/* A replica's name when --replica gives none: HOSTNAME:PORT, unique
 * among replicas on one machine as on several (the process id where the
 * port is chosen at random). */
static void
main_replica_name(Main *m)
{
    char host[256] = "poold";

    if (gethostname(host, sizeof(host) - 1) != 0)
        snprintf(host, sizeof(host), "poold");
    host[strcspn(host, ".")] = '\0'; /* the short name: the name must stay under 64 */
    snprintf(m->cfg.replica, sizeof(m->cfg.replica), "%.40s:%d", host,
             m->cfg.port ? m->cfg.port : (int)getpid());
}

/* The store, the webhooks, and the job table over them, which takes back
 * the jobs the store kept. */
static int
main_start_jobs(Main *m)
{
    const Config *cfg = &m->cfg;

    if (cfg->redis_host[0] && !cfg->replica[0])
        main_replica_name(m);
    StoreOptions so = {.path = cfg->store_path, .fsync_full = cfg->fsync_full,
                       .redis_host = cfg->redis_host[0] ? cfg->redis_host : NULL,
                       .redis_port = cfg->redis_port, .redis_db = cfg->redis_db, .replica = cfg->replica};
    WebhookOptions wo = {.secret = cfg->webhook_secret, .backoff = cfg->webhook_backoff,
                         .max_attempts = (int)cfg->webhook_attempts, .timeout = cfg->webhook_timeout,
                         .nallow = cfg->nwebhook_allow};
    char err[512];

    /* A store that cannot be opened is not fatal: sync calls still serve,
     * async submits and /readyz answer 503 with the reason. */
    if (!cfg->store_memory && !(m->store = store_open(&so)))
        return EXIT_NOMEM;
    /* A Redis away at start is no reason to stop: sync calls serve, job
     * calls answer 503 until the replica has connected and read the jobs
     * (job_store_current). */
    _Static_assert(sizeof(wo.allow) == sizeof(cfg->webhook_allow), "one allow list");
    memcpy(wo.allow, cfg->webhook_allow, sizeof(wo.allow));
    if (!(m->hooks = webhook_start(&wo, err, sizeof(err)))) {
        fprintf(stderr, "poold: %s\n", err);
        return EXIT_USAGE;
    }
    m->app = (App){.cfg = cfg, .reg = m->reg, .pool = m->pool, .webhooks = m->hooks, .started = clock_wall()};
    JobOptions jo = {.pool = m->pool, .max_jobs = cfg->max_jobs, .result_ttl = cfg->result_ttl,
                     .store = m->store, .webhooks = m->hooks, .reg = m->reg,
                     .limits = request_limits(&m->app, 1), .claim_after = cfg->claim_after,
                     .replica = so.redis_host ? cfg->replica : NULL};
    if (!(m->jobs = job_table_new(&jo))) {
        log_msg(LOG_ERROR, "cannot start the job table");
        return EXIT_POOL;
    }
    m->app.jobs = m->jobs;
    job_store_recover(m->jobs);
    return 0;
}

static int
main_start_http(Main *m)
{
    const Config *cfg = &m->cfg;
    HttpOptions ho = {.host = cfg->host, .port = cfg->port, .threads = cfg->http_threads,
                      .max_conns = cfg->max_conns, .max_body = cfg->max_body,
                      .max_conns_per_ip = cfg->max_conns_per_ip, .conn_timeout = cfg->conn_timeout,
                      .routes = routes, .app = &m->app, .keys = cfg->api_keys, .nkeys = cfg->napi_keys,
                      .tls_cert = cfg->tls_cert, .tls_key = cfg->tls_key};
    char err[512];

    if (!(m->http = http_start(&ho, err, sizeof(err)))) {
        log_msg(LOG_ERROR, "%s", err);
        return EXIT_HTTP;
    }
    log_msg(LOG_INFO, "poold listening on %s://%s%s%s:%d with %d processes, pid %d", cfg->tls_cert ? "https" : "http",
            strchr(cfg->host, ':') ? "[" : "", cfg->host, strchr(cfg->host, ':') ? "]" : "",
            http_port(m->http), cfg->processes, (int)getpid());
    return 0;
}

/* Everything, in order, from the parsed settings in m->cfg. Returns 0 once
 * serving, or the exit code of what failed (main_stop tears down the rest). */
static int
main_start(Main *m)
{
    int rc;

    log_level = m->cfg.log_level;
    log_json = m->cfg.log_json;
    main_raise_nofile();
    main_keep_heap();
    signal(SIGPIPE, SIG_IGN);
    /* Past RLIMIT_FSIZE a write fails with EFBIG, as on a full disk, and
     * the store says so; the default action would kill poold instead. */
    signal(SIGXFSZ, SIG_IGN);
    if ((rc = main_start_registry(m)) || (rc = main_start_pool(m)) || (rc = main_start_jobs(m)) ||
        (rc = main_start_http(m)))
        return rc;
    return 0;
}

/* The graceful stop, after the signal. HTTP goes on serving during the
 * grace: a new call is told 503 (and a balancer reads /readyz 503) instead
 * of meeting a closed port, and a client can still fetch the results of
 * its jobs. Returns the exit code. */
static int
main_drain(Main *m)
{
    int rc;

    pool_stop(m->pool, m->cfg.shutdown_grace); /* every waiting call gets its answer */
    http_quiesce(m->http);
    job_table_stop(m->jobs);         /* and every long poll */
    events_stop();                   /* every event stream reads its end */
    http_stop(m->http);              /* no handler runs after this */
    m->http = NULL;
    webhook_stop(m->hooks);          /* deliveries left resume at the next start */
    m->hooks = NULL;
    store_close(m->store);           /* every state change is written */
    m->store = NULL;
    rc = pool_failed(m->pool) ? EXIT_POOL_FAILED : 0;
    log_msg(LOG_INFO, "poold stopped%s", rc ? ": the pool had failed" : "");
    return rc;
}

/* Tears down whatever main_start started. In this order whatever the
 * failure: no callback of the pool (jobs ending, their webhooks, their
 * rows) may find its target gone. */
static void
main_stop(Main *m)
{
    pool_stop(m->pool, 0);
    events_stop();
    http_stop(m->http);
    webhook_stop(m->hooks);
    job_table_stop(m->jobs); /* and its replicas' threads, which use the store */
    store_close(m->store);
    job_table_free(m->jobs);
    pool_free(m->pool);
    registry_free(m->reg);
    events_free(); /* after whatever publishes: the pool, the jobs, the webhooks */
    metrics_free();
}

/* Code poold runs for its users (exec functions, warm runtimes) runs as
 * poold's user, under its workers. So the secrets leave argv and the
 * environment, which /proc shows to that user; and poold is not dumpable:
 * the fork server and the workers inherit it, and a process of the same
 * user without CAP_SYS_PTRACE can then neither read their memory nor their
 * environ, nor trace them. (A command's exec makes it dumpable again.) */
static void
main_hide_secrets(int argc, char **argv)
{
    config_hide_secrets(argc, argv);
    if (prctl(PR_SET_DUMPABLE, 0) != 0)
        log_errno(LOG_WARN, errno, "prctl(PR_SET_DUMPABLE)");
}

int
main(int argc, char **argv)
{
    static Main m; /* zeroed: main_stop skips what was never started */
    char err[512];
    int rc = config_parse(&m.cfg, argc, argv, stdout, err, sizeof(err));

    if (rc == CONFIG_HELP)
        return 0;
    if (rc != SVC_OK) {
        fprintf(stderr, "poold: %s\n", err);
        return EXIT_USAGE;
    }
    main_hide_secrets(argc, argv);
    if ((rc = main_start(&m)) == 0) {
        main_wait_for_signal(&m.stop);
        rc = main_drain(&m);
    }
    main_stop(&m);
    return rc;
}
