/* config_opts.c: see config_opts.h. The kinds of value first, then the
 * special setters, then the table. */
#include "config_opts.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

#define CONFIG_OPTS_FIELD(c, o, type) ((type *)(void *)((char *)(c) + (o)->off))

static int
config_opts_invalid(const char *name, const char *v, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: invalid value '%s'", name, v);
    return SVC_EINVAL;
}

/* The bounds are doubles, as in the table: a long compares exactly with
 * any bound there (small whole numbers, or LONG_MAX, which no long is
 * over). */
static int
config_opts_parse_long(const char *s, double lo, double hi, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return SVC_EINVAL;
    *out = v;
    return SVC_OK;
}

/* The kinds of value, each a setter that the table's rows share. */

static int
config_opts_int(Config *c, const ConfigOpt *o, const char *name, const char *v, char *err, size_t errlen)
{
    long n;

    if (config_opts_parse_long(v, o->lo, o->hi, &n) != SVC_OK)
        return config_opts_invalid(name, v, err, errlen);
    *CONFIG_OPTS_FIELD(c, o, int) = (int)n;
    return SVC_OK;
}

static int
config_opts_long(Config *c, const ConfigOpt *o, const char *name, const char *v, char *err, size_t errlen)
{
    if (config_opts_parse_long(v, o->lo, o->hi, CONFIG_OPTS_FIELD(c, o, long)) != SVC_OK)
        return config_opts_invalid(name, v, err, errlen);
    return SVC_OK;
}

static int
config_opts_seconds(Config *c, const ConfigOpt *o, const char *name, const char *v, char *err, size_t errlen)
{
    double secs;

    if (config_parse_seconds(v, &secs) != SVC_OK || secs < o->lo || secs > o->hi)
        return config_opts_invalid(name, v, err, errlen);
    *CONFIG_OPTS_FIELD(c, o, double) = secs;
    return SVC_OK;
}

/* Seconds kept in an int: libmicrohttpd counts a connection's timeout in
 * whole seconds. */
static int
config_opts_whole_seconds(Config *c, const ConfigOpt *o, const char *name, const char *v, char *err,
                         size_t errlen)
{
    double secs;

    if (config_parse_seconds(v, &secs) != SVC_OK)
        return config_opts_invalid(name, v, err, errlen);
    if (secs != (double)(long)secs) {
        snprintf(err, errlen, "%s: '%s' is not whole seconds (libmicrohttpd counts no finer)", name, v);
        return SVC_EINVAL;
    }
    if (secs < o->lo || secs > o->hi)
        return config_opts_invalid(name, v, err, errlen);
    *CONFIG_OPTS_FIELD(c, o, int) = (int)secs;
    return SVC_OK;
}

static int
config_opts_size(Config *c, const ConfigOpt *o, const char *name, const char *v, char *err, size_t errlen)
{
    size_t sz;

    if (config_parse_size(v, &sz) != SVC_OK || sz < o->lo || sz > o->hi)
        return config_opts_invalid(name, v, err, errlen);
    *CONFIG_OPTS_FIELD(c, o, size_t) = sz;
    return SVC_OK;
}

/* A string kept as given (argv's or the environment's), not empty. */
static int
config_opts_string(Config *c, const ConfigOpt *o, const char *name, const char *v, char *err, size_t errlen)
{
    if (!*v)
        return config_opts_invalid(name, v, err, errlen);
    *CONFIG_OPTS_FIELD(c, o, const char *) = v;
    return SVC_OK;
}

/* A file read at start-up (the TLS certificate and key, by http.c): one
 * that cannot be is said now. */
static int
config_opts_file(Config *c, const ConfigOpt *o, const char *name, const char *v, char *err, size_t errlen)
{
    if (access(v, R_OK) != 0) {
        snprintf(err, errlen, "%s: cannot read %s", name, v);
        return SVC_EINVAL;
    }
    *CONFIG_OPTS_FIELD(c, o, const char *) = v;
    return SVC_OK;
}

static int
config_opts_choice(Config *c, const ConfigOpt *o, const char *name, const char *v, char *err, size_t errlen)
{
    for (int i = 0; i < 2; i++)
        if (strcmp(v, o->words[i]) == 0) {
            *CONFIG_OPTS_FIELD(c, o, int) = i;
            return SVC_OK;
        }
    return config_opts_invalid(name, v, err, errlen);
}

/* The settings that are special, each a setter of its own. */

/* Resolved here, so that a typo is a usage error (exit 2), not a failure to
 * listen after the pool has started. */
static int
config_opts_host(Config *c, const ConfigOpt *o, const char *name, const char *v, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_flags = AI_PASSIVE, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int rc = SVC_OK;

    (void)o;
    if (strlen(v) == 0 || strlen(v) >= sizeof(c->host) || getaddrinfo(v, NULL, &hints, &ai) != 0)
        rc = config_opts_invalid(name, v, err, errlen);
    else
        strcpy(c->host, v);
    if (ai)
        freeaddrinfo(ai);
    return rc;
}

/* Under a few MiB a worker cannot even start; 0 is no limit. */
static int
config_opts_worker_memory(Config *c, const ConfigOpt *o, const char *name, const char *v, char *err,
                         size_t errlen)
{
    size_t sz;

    (void)o;
    if (config_parse_size(v, &sz) != SVC_OK)
        return config_opts_invalid(name, v, err, errlen);
    if (sz != 0 && sz < (16u << 20)) {
        snprintf(err, errlen, "%s: '%s' is below the least a worker needs (16M)", name, v);
        return SVC_EINVAL;
    }
    c->worker_memory = sz;
    return SVC_OK;
}

/* Whether a list of n entries has room for one more. */
static int
config_opts_room(int n, int cap, const char *what, const char *name, char *err, size_t errlen)
{
    if (n < cap)
        return SVC_OK;
    snprintf(err, errlen, "%s: at most %d %s", name, cap, what);
    return SVC_EINVAL;
}

static int
config_opts_python(Config *c, const ConfigOpt *o, const char *name, const char *v, char *err, size_t errlen)
{
    (void)o;
    if (config_opts_room(c->npythons, CONFIG_MAX_PLUGINS, "Python files", name, err, errlen) != SVC_OK)
        return SVC_EINVAL;
    if (!*v)
        return config_opts_invalid(name, v, err, errlen);
    c->pythons[c->npythons++] = v;
    return SVC_OK;
}

static int
config_opts_plugin(Config *c, const ConfigOpt *o, const char *name, const char *v, char *err, size_t errlen)
{
    (void)o;
    if (config_opts_room(c->nplugins, CONFIG_MAX_PLUGINS, "plugins", name, err, errlen) != SVC_OK)
        return SVC_EINVAL;
    if (!*v)
        return config_opts_invalid(name, v, err, errlen);
    c->plugins[c->nplugins++] = v;
    return SVC_OK;
}

static int
config_opts_webhook_allow(Config *c, const ConfigOpt *o, const char *name, const char *v, char *err,
                         size_t errlen)
{
    (void)o;
    if (config_opts_room(c->nwebhook_allow, CONFIG_MAX_ALLOW, "hosts", name, err, errlen) != SVC_OK)
        return SVC_EINVAL;
    if (!*v || strlen(v) > 253)
        return config_opts_invalid(name, v, err, errlen);
    c->webhook_allow[c->nwebhook_allow++] = v;
    return SVC_OK;
}

static int
config_opts_api_key_add(Config *c, const char *name, const char *v, char *err, size_t errlen)
{
    if (config_opts_room(c->napi_keys, (int)ARRAY_LEN(c->api_keys), "keys", name, err, errlen) != SVC_OK)
        return SVC_EINVAL;
    if (strlen(v) < 8 ||
        strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=") != strlen(v)) {
        snprintf(err, errlen, "%s: a key is 8 or more characters of A-Z a-z 0-9 -._~+/=", name);
        return SVC_EINVAL;
    }
    c->api_keys[c->napi_keys++] = v;
    return SVC_OK;
}

/* A key from a flag or the environment is kept as a copy: where it came
 * from is wiped (config_hide_secrets). */
static int
config_opts_api_key(Config *c, const ConfigOpt *o, const char *name, const char *v, char *err, size_t errlen)
{
    size_t n = strlen(v) + 1;
    char *copy = c->api_key_buf + c->api_key_used;

    (void)o;
    if (n > sizeof(c->api_key_buf) - c->api_key_used) {
        snprintf(err, errlen, "%s: the keys are too long together", name);
        return SVC_EINVAL;
    }
    memcpy(copy, v, n);
    if (config_opts_api_key_add(c, name, copy, err, errlen) != SVC_OK)
        return SVC_EINVAL;
    c->api_key_used += n;
    return SVC_OK;
}

/* --api-key-file: its lines become keys (read now: a file that cannot be
 * read is a mistake in the command line, said at once). */
static int
config_opts_api_key_file(Config *c, const ConfigOpt *o, const char *name, const char *path, char *err,
                        size_t errlen)
{
    FILE *f = fopen(path, "r");
    size_t n;
    char *save = NULL;

    (void)o;
    if (!f) {
        snprintf(err, errlen, "%s: cannot read %s", name, path);
        return SVC_EINVAL;
    }
    n = fread(c->api_key_file_buf, 1, sizeof(c->api_key_file_buf) - 1, f);
    fclose(f);
    if (n == sizeof(c->api_key_file_buf) - 1) {
        snprintf(err, errlen, "%s: %s is too large", name, path);
        return SVC_EINVAL;
    }
    c->api_key_file_buf[n] = '\0';
    for (char *line = strtok_r(c->api_key_file_buf, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
        line += strspn(line, " \t");
        line[strcspn(line, " \t")] = '\0';
        if (*line && *line != '#' && config_opts_api_key_add(c, name, line, err, errlen) != SVC_OK)
            return SVC_EINVAL;
    }
    return SVC_OK;
}

static int
config_opts_webhook_secret(Config *c, const ConfigOpt *o, const char *name, const char *v, char *err,
                          size_t errlen)
{
    (void)o;
    if (strncmp(v, "whsec_", 6) != 0 || !v[6]) {
        snprintf(err, errlen, "%s: must be whsec_ followed by the base64 secret", name);
        return SVC_EINVAL;
    }
    if (strlen(v) >= sizeof(c->webhook_secret_buf)) {
        snprintf(err, errlen, "%s: too long", name);
        return SVC_EINVAL;
    }
    /* A copy: where it came from is wiped (config_hide_secrets). */
    if (v != c->webhook_secret_buf)
        strcpy(c->webhook_secret_buf, v);
    c->webhook_secret = c->webhook_secret_buf;
    return SVC_OK;
}

static int
config_opts_webhook_secret_file(Config *c, const ConfigOpt *o, const char *name, const char *v, char *err,
                               size_t errlen)
{
    FILE *f = fopen(v, "r");
    size_t n = f ? fread(c->webhook_secret_buf, 1, sizeof(c->webhook_secret_buf) - 1, f) : 0;

    if (f)
        fclose(f);
    if (!f || n == sizeof(c->webhook_secret_buf) - 1) {
        snprintf(err, errlen, "%s: cannot read %s%s", name, v, f ? " (too large)" : "");
        return SVC_EINVAL;
    }
    c->webhook_secret_buf[n] = '\0';
    c->webhook_secret_buf[strcspn(c->webhook_secret_buf, " \t\r\n")] = '\0'; /* a file ends with a newline */
    return config_opts_webhook_secret(c, o, name, c->webhook_secret_buf, err, errlen);
}

/* A decimal in [lo, hi] spelt by the n bytes at p, into *out; -1 if not. */
static int
config_opts_number(const char *p, size_t n, long lo, long hi, int *out)
{
    long v = 0;

    if (n == 0 || n > 9)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

/* redis://HOST:PORT[/DB] into c->redis_*; the reason in err if not. A
 * bracketed IPv6 host ([::1]) keeps its colons. TLS (rediss://) is refused
 * by name: Debian's hiredis 0.14 has no hiredis_ssl to speak it. */
static int
config_opts_redis(Config *c, const char *name, const char *v, char *err, size_t errlen)
{
    const char *host = v + 8, *colon, *slash, *end;
    int bracket = *host == '[';

    if (strncmp(v, "rediss://", 9) == 0) {
        snprintf(err, errlen, "%s: rediss:// (TLS) is not supported: this build's hiredis (0.14) has no TLS; "
                 "reach Redis over a private network or a TLS tunnel (stunnel) as redis://", name);
        return SVC_EINVAL;
    }
    end = bracket ? strchr(host, ']') : host + strcspn(host, ":/");
    colon = end && *end == ']' ? end + 1 : end;
    slash = colon && *colon == ':' ? strchr(colon, '/') : NULL;
    if (!slash && colon)
        slash = colon + strlen(colon);
    if (!end || end == host + bracket || !colon || *colon != ':' || end - host - bracket >= (long)sizeof(c->redis_host) ||
        config_opts_number(colon + 1, (size_t)(slash - colon - 1), 1, 65535, &c->redis_port) < 0 ||
        (*slash && config_opts_number(slash + 1, strlen(slash + 1), 0, 1000000, &c->redis_db) < 0)) {
        snprintf(err, errlen, "%s: malformed Redis URL '%s' (redis://HOST:PORT or redis://HOST:PORT/DB)", name, v);
        return SVC_EINVAL;
    }
    if (!*slash)
        c->redis_db = 0;
    snprintf(c->redis_host, sizeof(c->redis_host), "%.*s", (int)(end - host - bracket), host + bracket);
    return SVC_OK;
}

static int
config_opts_store(Config *c, const ConfigOpt *o, const char *name, const char *v, char *err, size_t errlen)
{
    (void)o;
    c->store_memory = strcmp(v, "memory") == 0;
    c->store_path[0] = '\0';
    c->redis_host[0] = '\0';
    if (strncmp(v, "redis://", 8) == 0 || strncmp(v, "rediss://", 9) == 0)
        return config_opts_redis(c, name, v, err, errlen);
    if (!c->store_memory &&
        (strncmp(v, "sqlite:", 7) != 0 || !v[7] || strlen(v + 7) >= sizeof(c->store_path))) {
        snprintf(err, errlen, "%s: unknown store '%s' (memory, sqlite:PATH or redis://HOST:PORT[/DB])", name, v);
        return SVC_EINVAL;
    }
    if (!c->store_memory)
        strcpy(c->store_path, v + 7);
    return SVC_OK;
}

/* With room left for "/poold.db" in store_path. */
static int
config_opts_data_dir(Config *c, const ConfigOpt *o, const char *name, const char *v, char *err, size_t errlen)
{
    (void)o;
    if (!*v || strlen(v) + sizeof("/poold.db") > sizeof(c->data_dir))
        return config_opts_invalid(name, v, err, errlen);
    strcpy(c->data_dir, v);
    return SVC_OK;
}

/* A name others read in logs, views and metrics: 1 to 63 of letters,
 * digits and ._:- */
static int
config_opts_replica(Config *c, const ConfigOpt *o, const char *name, const char *v, char *err, size_t errlen)
{
    (void)o;
    if (!*v || strlen(v) >= sizeof(c->replica) || strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                            "0123456789._:-") != strlen(v))
        return config_opts_invalid(name, v, err, errlen);
    strcpy(c->replica, v);
    return SVC_OK;
}

static int
config_opts_log_level(Config *c, const ConfigOpt *o, const char *name, const char *v, char *err, size_t errlen)
{
    (void)o;
    if ((c->log_level = log_level_parse(v)) < 0)
        return config_opts_invalid(name, v, err, errlen);
    return SVC_OK;
}

/* A row's reading: a kind of value, with the field it fills (the _Generic
 * fails to compile on a field of another type) and its bounds. */
#define CONFIG_OPTS_AT(f, type) (offsetof(Config, f) + 0 * sizeof(_Generic(((Config *)0)->f, type: 1)))
#define INT_IN(f, l, h) .set = config_opts_int, .off = CONFIG_OPTS_AT(f, int), .lo = (l), .hi = (h)
#define LONG_IN(f, l, h) .set = config_opts_long, .off = CONFIG_OPTS_AT(f, long), .lo = (l), .hi = (h)
#define SECONDS_IN(f, l, h) .set = config_opts_seconds, .off = CONFIG_OPTS_AT(f, double), .lo = (l), .hi = (h)
#define SECONDS(f) SECONDS_IN(f, 0, CONFIG_SECONDS_MAX)
#define WHOLE_SECONDS_IN(f, l, h) .set = config_opts_whole_seconds, .off = CONFIG_OPTS_AT(f, int), .lo = (l), .hi = (h)
#define SIZE_IN(f, l, h) .set = config_opts_size, .off = CONFIG_OPTS_AT(f, size_t), .lo = (l), .hi = (h)
#define STRING(f) .set = config_opts_string, .off = CONFIG_OPTS_AT(f, const char *)
#define READABLE(f) .set = config_opts_file, .off = CONFIG_OPTS_AT(f, const char *)
#define CHOICE(f, off_word, on_word) .set = config_opts_choice, .off = CONFIG_OPTS_AT(f, int), \
    .words = {off_word, on_word}
#define SETTER(fn) .set = (fn)
#define SECRET(fn) .set = (fn), .secret = 1
#define LIST(fn, n, list_buf, separators) .set = (fn), .count = CONFIG_OPTS_AT(n, int), \
    .buf = offsetof(Config, list_buf), .buf_size = sizeof(((Config *)0)->list_buf), .sep = (separators)

const ConfigOpt config_opts[] = {
    {"host", OPT_HOST, "POOLD_HOST", "ADDR", "address to listen on (127.0.0.1)",
     SETTER(config_opts_host)},
    {"port", OPT_PORT, "POOLD_PORT", "PORT", "TCP port (8080)",
     INT_IN(port, 0, 65535)},
    {"processes", OPT_PROCESSES, "POOLD_PROCESSES", "N", "worker processes (number of CPUs)",
     INT_IN(processes, 1, 1024)},
    /* A body becomes one task frame, which wire.h bounds at 1 GiB. */
    {"max-body", OPT_MAX_BODY, "POOLD_MAX_BODY", "BYTES", "largest request body, K/M/G suffixes, at most 512M (64M)",
     SIZE_IN(max_body, 1, CONFIG_MAX_BODY_LIMIT)},
    {"max-items", OPT_MAX_ITEMS, "POOLD_MAX_ITEMS", "N", "items in one map's iterable (10000000)",
     LONG_IN(max_items, 1, 1000000000)},
    {"max-queue", OPT_MAX_QUEUE, "POOLD_MAX_QUEUE", "N", "tasks waiting for a worker before 503 (100000)",
     LONG_IN(max_queue, 1, 100000000)},
    {"max-jobs", OPT_MAX_JOBS, "POOLD_MAX_JOBS", "N", "async jobs held, finished ones included (1000000)",
     LONG_IN(max_jobs, 1, 100000000)},
    {"result-ttl", OPT_RESULT_TTL, "POOLD_RESULT_TTL", "SECONDS", "how long a finished job is kept (3600)",
     SECONDS(result_ttl)},
    {"max-connections", OPT_MAX_CONNS, "POOLD_MAX_CONNECTIONS", "N", "open HTTP connections (10000)",
     INT_IN(max_conns, 1, 1000000)},
    {"max-connections-per-ip", OPT_MAX_CONNS_PER_IP, "POOLD_MAX_CONNECTIONS_PER_IP", "N", "connections from one client address; 0 is none, as a NAT's clients share one (0)",
     INT_IN(max_conns_per_ip, 0, 1000000)},
    {"connection-timeout", OPT_CONN_TIMEOUT, "POOLD_CONNECTION_TIMEOUT", "SECONDS", "close a connection idle this long; a request whose headers, or body, are slower gets 408; whole seconds, 0 never (60)",
     WHOLE_SECONDS_IN(conn_timeout, 0, 86400)},
    {"http-threads", OPT_HTTP_THREADS, "POOLD_HTTP_THREADS", "N", "HTTP polling threads (twice the CPUs, at most 8)",
     INT_IN(http_threads, 1, 64)},
    {"task-timeout", OPT_TASK_TIMEOUT, "POOLD_TASK_TIMEOUT", "SECONDS", "a task's default timeout; 0 is none (0)",
     SECONDS(task_timeout)},
    {"max-task-timeout", OPT_MAX_TASK_TIMEOUT, "POOLD_MAX_TASK_TIMEOUT", "SECONDS", "the longest timeout a call may ask; 0 is no cap (0)",
     SECONDS(max_task_timeout)},
    {"max-tasks-per-child", OPT_MAX_TASKS_PER_CHILD, "POOLD_MAX_TASKS_PER_CHILD", "N", "replace a worker after N tasks; 0 never (0)",
     LONG_IN(max_tasks_per_child, 0, LONG_MAX)},
    {"worker-memory-limit", OPT_WORKER_MEMORY, "POOLD_WORKER_MEMORY_LIMIT", "BYTES", "each worker's address space (RLIMIT_AS), K/M/G; 0 is none (0)",
     SETTER(config_opts_worker_memory)},
    {"worker-cpu-limit", OPT_WORKER_CPU, "POOLD_WORKER_CPU_LIMIT", "SECONDS", "CPU seconds one task may use (RLIMIT_CPU); 0 is none (0)",
     LONG_IN(worker_cpu, 0, 1000000000)},
    {"worker-start-timeout", OPT_WORKER_START_TIMEOUT, "POOLD_WORKER_START_TIMEOUT", "SECONDS", "a new worker not ready by then (its plugins' initializers, its runtimes' start) is killed; 0 waits (30)",
     SECONDS(worker_start_timeout)},
    {"shutdown-grace", OPT_SHUTDOWN_GRACE, "POOLD_SHUTDOWN_GRACE", "SECONDS", "how long running tasks may finish after SIGTERM (30)",
     SECONDS(shutdown_grace)},
    {"plugin", OPT_PLUGIN, "POOLD_PLUGIN", "PATH", "load a plugin; repeat for more (env: ':'-separated)",
     LIST(config_opts_plugin, nplugins, plugin_env, ":")},
    {"python", OPT_PYTHON, "POOLD_PYTHON", "FILE", "serve FILE.py's public functions from a warm Python runtime in each worker; repeat for more (env: ':'-separated)",
     LIST(config_opts_python, npythons, python_env, ":")},
    {"runtime-affinity", OPT_RUNTIME_AFFINITY, "POOLD_RUNTIME_AFFINITY", "MODE", "cpu: with warm runtimes and at least "
     "a worker a CPU poold may use, each worker runs on one CPU with its runtimes and all it runs, exec functions too (the "
     "k-th worker on the k-th CPU), their calls' rate kept on a busy machine; free: anywhere, for functions that run "
     "threads of their own (cpu)",
     CHOICE(runtime_free, "cpu", "free")},
    {"functions", OPT_FUNCTIONS, "POOLD_FUNCTIONS", "FILE", "exec functions and runtimes to declare (JSON: {\"functions\": [...]})",
     STRING(functions)},
    {"max-result", OPT_MAX_RESULT, "POOLD_MAX_RESULT", "BYTES", "most stdout an exec function may write, K/M/G (16M)",
     SIZE_IN(max_result, 1, CONFIG_MAX_BODY_LIMIT)},
    {"max-spill", OPT_MAX_SPILL, "POOLD_MAX_SPILL", "BYTES", "NDJSON imaps' results held on disk while their bodies still upload, all together, K/M/G (1G)",
     SIZE_IN(max_spill, 1, SIZE_MAX)},
    {"events-ring", OPT_EVENTS_RING, "POOLD_EVENTS_RING", "N", "recent events kept for GET /v1/events' Last-Event-ID (4096)",
     LONG_IN(events_ring, 16, 10000000)},
    {"events-heartbeat", OPT_EVENTS_HEARTBEAT, "POOLD_EVENTS_HEARTBEAT", "SECONDS", "a comment line on each GET /v1/events stream this often, so proxies keep it open (15)",
     SECONDS_IN(events_heartbeat, 0.05, 3600)},
    {"data-dir", OPT_DATA_DIR, "POOLD_DATA_DIR", "DIR", "where the job store's SQLite file lives (./data)",
     SETTER(config_opts_data_dir)},
    {"store", OPT_STORE, "POOLD_STORE", "KIND", "job store: sqlite:PATH, memory to keep nothing across restarts, or redis://HOST:PORT[/DB] "
     "to share jobs between replicas (sqlite in --data-dir)",
     SETTER(config_opts_store)},
    {"replica", OPT_REPLICA, "POOLD_REPLICA", "NAME", "with --store redis://: this replica's name, unique among them; "
     "1 to 63 of letters, digits and ._:- (HOSTNAME:PORT)",
     SETTER(config_opts_replica)},
    {"claim-after", OPT_CLAIM_AFTER, "POOLD_CLAIM_AFTER", "SECONDS", "with --store redis://: a replica silent this long "
     "has its jobs taken back and run elsewhere; it renews its hold every third of it (30)",
     SECONDS_IN(claim_after, 0.3, 86400)},
    {"fsync", OPT_FSYNC, "POOLD_FSYNC", "MODE", "normal: jobs survive a crash of poold; full: a power loss too, slower (normal)",
     CHOICE(fsync_full, "normal", "full")},
    {"api-key", OPT_API_KEY, "POOLD_API_KEY", "KEY", "require \"Authorization: Bearer KEY\" on /v1 and /metrics (repeatable; /healthz and /readyz stay open)",
     SECRET(config_opts_api_key)},
    {"api-key-file", OPT_API_KEY_FILE, "POOLD_API_KEY_FILE", "FILE", "API keys, one a line (blank lines and # comments skipped)",
     SETTER(config_opts_api_key_file)},
    {"tls-cert", OPT_TLS_CERT, "POOLD_TLS_CERT", "FILE", "serve HTTPS with this PEM certificate (chain); needs --tls-key",
     READABLE(tls_cert)},
    {"tls-key", OPT_TLS_KEY, "POOLD_TLS_KEY", "FILE", "the certificate's PEM private key",
     READABLE(tls_key)},
    {"webhook-secret", OPT_WEBHOOK_SECRET, "POOLD_WEBHOOK_SECRET", "whsec_…", "sign callbacks as Standard Webhooks do (unsigned without)",
     SECRET(config_opts_webhook_secret)},
    {"webhook-secret-file", OPT_WEBHOOK_SECRET_FILE, "POOLD_WEBHOOK_SECRET_FILE", "FILE", "the same secret from a file (a Docker secret), kept out of the environment",
     SETTER(config_opts_webhook_secret_file)},
    {"webhook-backoff", OPT_WEBHOOK_BACKOFF, "POOLD_WEBHOOK_BACKOFF", "SECONDS", "a callback's first retry delay; each later one doubles (5)",
     SECONDS_IN(webhook_backoff, 0, 86400)},
    {"webhook-max-attempts", OPT_WEBHOOK_ATTEMPTS, "POOLD_WEBHOOK_MAX_ATTEMPTS", "N", "attempts per callback, the first included (10)",
     LONG_IN(webhook_attempts, 1, 100)},
    /* DBL_TRUE_MIN, the least double over 0: no timeout is not offered. */
    {"webhook-timeout", OPT_WEBHOOK_TIMEOUT, "POOLD_WEBHOOK_TIMEOUT", "SECONDS", "how long one callback attempt may take (15)",
     SECONDS_IN(webhook_timeout, DBL_TRUE_MIN, 3600)},
    {"webhook-allow-host", OPT_WEBHOOK_ALLOW, "POOLD_WEBHOOK_ALLOW_HOST", "HOST", "let callbacks reach this host even if inner (loopback, private); repeat for more (env: ','-separated)",
     LIST(config_opts_webhook_allow, nwebhook_allow, allow_env, ", ")},
    {"log-format", OPT_LOG_FORMAT, "POOLD_LOG_FORMAT", "FORMAT", "text, or json: one object a line with ts, level, msg and fields (text)",
     CHOICE(log_json, "text", "json")},
    {"log-level", OPT_LOG_LEVEL, "POOLD_LOG_LEVEL", "LEVEL", "error, warn, info or debug (info)",
     SETTER(config_opts_log_level)},
};
