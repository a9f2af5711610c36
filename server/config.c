/* config.c: see config.h. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

enum {
    OPT_HOST = 'H', OPT_PORT = 'p', OPT_PROCESSES = 'n', OPT_HELP = 'h',
    OPT_MAX_BODY = 256, OPT_MAX_QUEUE, OPT_STORE, OPT_LOG_LEVEL,
    OPT_HTTP_THREADS, OPT_MAX_CONNS, OPT_MAX_ITEMS, OPT_MAX_JOBS, OPT_RESULT_TTL,
    OPT_TASK_TIMEOUT, OPT_MAX_TASK_TIMEOUT, OPT_MAX_TASKS_PER_CHILD, OPT_WORKER_MEMORY,
    OPT_WORKER_CPU, OPT_SHUTDOWN_GRACE, OPT_PLUGIN, OPT_WORKER_START_TIMEOUT, OPT_FUNCTIONS,
    OPT_MAX_RESULT, OPT_MAX_SPILL, OPT_DATA_DIR, OPT_FSYNC, OPT_WEBHOOK_SECRET, OPT_WEBHOOK_BACKOFF,
    OPT_WEBHOOK_ATTEMPTS, OPT_WEBHOOK_TIMEOUT, OPT_WEBHOOK_ALLOW, OPT_API_KEY, OPT_API_KEY_FILE, OPT_LOG_FORMAT,
    OPT_TLS_CERT, OPT_TLS_KEY, OPT_WEBHOOK_SECRET_FILE, OPT_CONN_TIMEOUT, OPT_MAX_CONNS_PER_IP,
};

/* One row per setting: the flag, its environment twin and its help line.
 * The same table drives getopt, the environment and --help. */
static const struct {
    const char *name;
    int id;
    const char *env;
    const char *arg;
    const char *help;
} config_opts[] = {
    {"host", OPT_HOST, "POOLD_HOST", "ADDR", "address to listen on (127.0.0.1)"},
    {"port", OPT_PORT, "POOLD_PORT", "PORT", "TCP port (8080)"},
    {"processes", OPT_PROCESSES, "POOLD_PROCESSES", "N", "worker processes (number of CPUs)"},
    {"max-body", OPT_MAX_BODY, "POOLD_MAX_BODY", "BYTES", "largest request body, K/M/G suffixes, at most 512M (64M)"},
    {"max-items", OPT_MAX_ITEMS, "POOLD_MAX_ITEMS", "N", "items in one map's iterable (10000000)"},
    {"max-queue", OPT_MAX_QUEUE, "POOLD_MAX_QUEUE", "N", "tasks waiting for a worker before 503 (100000)"},
    {"max-jobs", OPT_MAX_JOBS, "POOLD_MAX_JOBS", "N", "async jobs held, finished ones included (1000000)"},
    {"result-ttl", OPT_RESULT_TTL, "POOLD_RESULT_TTL", "SECONDS", "how long a finished job is kept (3600)"},
    {"max-connections", OPT_MAX_CONNS, "POOLD_MAX_CONNECTIONS", "N", "open HTTP connections (10000)"},
    {"max-connections-per-ip", OPT_MAX_CONNS_PER_IP, "POOLD_MAX_CONNECTIONS_PER_IP", "N", "connections from one client address; 0 is none, as a NAT's clients share one (0)"},
    {"connection-timeout", OPT_CONN_TIMEOUT, "POOLD_CONNECTION_TIMEOUT", "SECONDS", "close a connection idle this long; a request whose headers, or body, are slower gets 408; whole seconds, 0 never (60)"},
    {"http-threads", OPT_HTTP_THREADS, "POOLD_HTTP_THREADS", "N", "HTTP polling threads (twice the CPUs, at most 8)"},
    {"task-timeout", OPT_TASK_TIMEOUT, "POOLD_TASK_TIMEOUT", "SECONDS", "a task's default timeout; 0 is none (0)"},
    {"max-task-timeout", OPT_MAX_TASK_TIMEOUT, "POOLD_MAX_TASK_TIMEOUT", "SECONDS", "the longest timeout a call may ask; 0 is no cap (0)"},
    {"max-tasks-per-child", OPT_MAX_TASKS_PER_CHILD, "POOLD_MAX_TASKS_PER_CHILD", "N", "replace a worker after N tasks; 0 never (0)"},
    {"worker-memory-limit", OPT_WORKER_MEMORY, "POOLD_WORKER_MEMORY_LIMIT", "BYTES", "each worker's address space (RLIMIT_AS), K/M/G; 0 is none (0)"},
    {"worker-cpu-limit", OPT_WORKER_CPU, "POOLD_WORKER_CPU_LIMIT", "SECONDS", "CPU seconds one task may use (RLIMIT_CPU); 0 is none (0)"},
    {"worker-start-timeout", OPT_WORKER_START_TIMEOUT, "POOLD_WORKER_START_TIMEOUT", "SECONDS", "a new worker not ready by then (its plugins' initializers) is killed; 0 waits (30)"},
    {"shutdown-grace", OPT_SHUTDOWN_GRACE, "POOLD_SHUTDOWN_GRACE", "SECONDS", "how long running tasks may finish after SIGTERM (30)"},
    {"plugin", OPT_PLUGIN, "POOLD_PLUGIN", "PATH", "load a plugin; repeat for more (env: ':'-separated)"},
    {"functions", OPT_FUNCTIONS, "POOLD_FUNCTIONS", "FILE", "exec functions to declare (JSON: {\"functions\": [...]})"},
    {"max-result", OPT_MAX_RESULT, "POOLD_MAX_RESULT", "BYTES", "most stdout an exec function may write, K/M/G (16M)"},
    {"max-spill", OPT_MAX_SPILL, "POOLD_MAX_SPILL", "BYTES", "NDJSON imaps' results held on disk while their bodies still upload, all together, K/M/G (1G)"},
    {"data-dir", OPT_DATA_DIR, "POOLD_DATA_DIR", "DIR", "where the job store's SQLite file lives (./data)"},
    {"store", OPT_STORE, "POOLD_STORE", "KIND", "job store: sqlite:PATH, or memory to keep nothing across restarts (sqlite in --data-dir)"},
    {"fsync", OPT_FSYNC, "POOLD_FSYNC", "MODE", "normal: jobs survive a crash of poold; full: a power loss too, slower (normal)"},
    {"api-key", OPT_API_KEY, "POOLD_API_KEY", "KEY", "require \"Authorization: Bearer KEY\" on /v1 and /metrics (repeatable; /healthz and /readyz stay open)"},
    {"api-key-file", OPT_API_KEY_FILE, "POOLD_API_KEY_FILE", "FILE", "API keys, one a line (blank lines and # comments skipped)"},
    {"tls-cert", OPT_TLS_CERT, "POOLD_TLS_CERT", "FILE", "serve HTTPS with this PEM certificate (chain); needs --tls-key"},
    {"tls-key", OPT_TLS_KEY, "POOLD_TLS_KEY", "FILE", "the certificate's PEM private key"},
    {"webhook-secret", OPT_WEBHOOK_SECRET, "POOLD_WEBHOOK_SECRET", "whsec_…", "sign callbacks as Standard Webhooks do (unsigned without)"},
    {"webhook-secret-file", OPT_WEBHOOK_SECRET_FILE, "POOLD_WEBHOOK_SECRET_FILE", "FILE", "the same secret from a file (a Docker secret), kept out of the environment"},
    {"webhook-backoff", OPT_WEBHOOK_BACKOFF, "POOLD_WEBHOOK_BACKOFF", "SECONDS", "a callback's first retry delay; each later one doubles (5)"},
    {"webhook-max-attempts", OPT_WEBHOOK_ATTEMPTS, "POOLD_WEBHOOK_MAX_ATTEMPTS", "N", "attempts per callback, the first included (10)"},
    {"webhook-timeout", OPT_WEBHOOK_TIMEOUT, "POOLD_WEBHOOK_TIMEOUT", "SECONDS", "how long one callback attempt may take (15)"},
    {"webhook-allow-host", OPT_WEBHOOK_ALLOW, "POOLD_WEBHOOK_ALLOW_HOST", "HOST", "let callbacks reach this host even if inner (loopback, private); repeat for more (env: ','-separated)"},
    {"log-format", OPT_LOG_FORMAT, "POOLD_LOG_FORMAT", "FORMAT", "text, or json: one object a line with ts, level, msg and fields (text)"},
    {"log-level", OPT_LOG_LEVEL, "POOLD_LOG_LEVEL", "LEVEL", "error, warn, info or debug (info)"},
};

static void
config_defaults(Config *c)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    memset(c, 0, sizeof(*c));
    strcpy(c->host, "127.0.0.1");
    c->port = 8080;
    c->processes = ncpu > 0 ? (int)ncpu : 1;
    /* Measured on 2 CPUs under 64 keep-alive clients: 2 threads 0.42 of
     * nginx's rate, 3 0.45, 4 0.48, 6 0.45, 8 0.41, 16 0.34. A thread
     * waiting in a syscall or preempted by a worker leaves another to run;
     * many more only add switches. Capped low: no larger machine was
     * measured, and in a container held to 2 CPUs by a quota (not a
     * cpuset) the count is the host's. */
    c->http_threads = ncpu > 1 ? (int)(ncpu * 2 < 8 ? ncpu * 2 : 8) : 2;
    c->max_body = 64u << 20;
    c->max_queue = 100000;
    c->max_items = 10000000;
    c->max_jobs = 1000000;
    c->result_ttl = 3600;
    c->max_conns = 10000;
    c->conn_timeout = 60;
    c->shutdown_grace = 30;
    c->worker_start_timeout = 30;
    c->max_result = 16u << 20;
    c->max_spill = (size_t)1 << 30;
    c->webhook_backoff = 5;
    c->webhook_attempts = 10;
    c->webhook_timeout = 15;
    strcpy(c->data_dir, "data");
    c->log_level = LOG_INFO;
}

int
config_parse_size(const char *s, size_t *out)
{
    char *end;
    unsigned long long v, mult = 1;

    if (!s || !isdigit((unsigned char)*s)) /* strtoull would take " -1" or "+5" */
        return SVC_EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s)
        return SVC_EINVAL;
    switch (*end) {
    case 'k': case 'K': mult = 1ull << 10; end++; break;
    case 'm': case 'M': mult = 1ull << 20; end++; break;
    case 'g': case 'G': mult = 1ull << 30; end++; break;
    }
    if (mult > 1 && strcmp(end, "iB") == 0) /* "64MiB" */
        end += 2;
    else if (*end == 'B' && end[1] == '\0') /* "64MB", "512B" */
        end++;
    if (*end || v > SIZE_MAX / mult)
        return SVC_EINVAL;
    *out = (size_t)(v * mult);
    return SVC_OK;
}

int
config_parse_seconds(const char *s, double *out)
{
    char *end;
    double v;

    if (!s || !(isdigit((unsigned char)*s) || *s == '.'))
        return SVC_EINVAL;
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0) || v > 1e9)
        return SVC_EINVAL;
    *out = v;
    return SVC_OK;
}

static int
config_parse_long(const char *s, long lo, long hi, long *out)
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

static int config_set(Config *c, int id, const char *name, const char *v, char *err, size_t errlen);

/* --api-key-file: its lines become keys (read now: a file that cannot be
 * read is a mistake in the command line, said at once). */
static int
config_key_file(Config *c, const char *name, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    size_t n;
    char *save = NULL;

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
        if (*line && *line != '#' && config_set(c, OPT_API_KEY, name, line, err, errlen) != SVC_OK)
            return SVC_EINVAL;
    }
    return SVC_OK;
}

/* Applies one setting. Returns SVC_OK or SVC_EINVAL with err filled. */
static int
config_set(Config *c, int id, const char *name, const char *v, char *err,
           size_t errlen)
{
    long n = 0;
    size_t sz = 0;
    int rc = SVC_OK;

    switch (id) {
    case OPT_HOST: {
        /* Resolved here, so that a typo is a usage error (exit 2), not a
         * failure to listen after the pool has started. */
        struct addrinfo hints = {.ai_flags = AI_PASSIVE, .ai_socktype = SOCK_STREAM}, *ai = NULL;
        if (strlen(v) == 0 || strlen(v) >= sizeof(c->host) || getaddrinfo(v, NULL, &hints, &ai) != 0)
            rc = SVC_EINVAL;
        else
            strcpy(c->host, v);
        if (ai)
            freeaddrinfo(ai);
        break;
    }
    case OPT_PORT:
        if ((rc = config_parse_long(v, 0, 65535, &n)) == SVC_OK)
            c->port = (int)n;
        break;
    case OPT_PROCESSES:
        if ((rc = config_parse_long(v, 1, 1024, &n)) == SVC_OK)
            c->processes = (int)n;
        break;
    case OPT_HTTP_THREADS:
        if ((rc = config_parse_long(v, 1, 64, &n)) == SVC_OK)
            c->http_threads = (int)n;
        break;
    case OPT_MAX_CONNS:
        if ((rc = config_parse_long(v, 1, 1000000, &n)) == SVC_OK)
            c->max_conns = (int)n;
        break;
    case OPT_MAX_CONNS_PER_IP:
        if ((rc = config_parse_long(v, 0, 1000000, &n)) == SVC_OK)
            c->max_conns_per_ip = (int)n;
        break;
    case OPT_CONN_TIMEOUT: {
        /* libmicrohttpd counts a connection's timeout in whole seconds. */
        double secs = 0;
        if ((rc = config_parse_seconds(v, &secs)) == SVC_OK && secs != (double)(long)secs) {
            snprintf(err, errlen, "%s: '%s' is not whole seconds (libmicrohttpd counts no finer)", name, v);
            return SVC_EINVAL;
        }
        if (rc == SVC_OK && secs > 86400)
            rc = SVC_EINVAL;
        if (rc == SVC_OK)
            c->conn_timeout = (int)secs;
        break;
    }
    case OPT_MAX_JOBS:
        if ((rc = config_parse_long(v, 1, 100000000, &n)) == SVC_OK)
            c->max_jobs = n;
        break;
    case OPT_RESULT_TTL:
        rc = config_parse_seconds(v, &c->result_ttl);
        break;
    case OPT_MAX_ITEMS:
        if ((rc = config_parse_long(v, 1, 1000000000, &n)) == SVC_OK)
            c->max_items = n;
        break;
    case OPT_MAX_QUEUE:
        if ((rc = config_parse_long(v, 1, 100000000, &n)) == SVC_OK)
            c->max_queue = n;
        break;
    case OPT_MAX_BODY:
        /* A body becomes one task frame, which wire.h bounds at 1 GiB. */
        if ((rc = config_parse_size(v, &sz)) == SVC_OK && (sz == 0 || sz > CONFIG_MAX_BODY_LIMIT))
            rc = SVC_EINVAL;
        if (rc == SVC_OK)
            c->max_body = sz;
        break;
    case OPT_TASK_TIMEOUT:
        rc = config_parse_seconds(v, &c->task_timeout);
        break;
    case OPT_MAX_TASK_TIMEOUT:
        rc = config_parse_seconds(v, &c->max_task_timeout);
        break;
    case OPT_WORKER_START_TIMEOUT:
        rc = config_parse_seconds(v, &c->worker_start_timeout);
        break;
    case OPT_SHUTDOWN_GRACE:
        rc = config_parse_seconds(v, &c->shutdown_grace);
        break;
    case OPT_MAX_TASKS_PER_CHILD:
        if ((rc = config_parse_long(v, 0, LONG_MAX, &n)) == SVC_OK)
            c->max_tasks_per_child = n;
        break;
    case OPT_WORKER_CPU:
        if ((rc = config_parse_long(v, 0, 1000000000, &n)) == SVC_OK)
            c->worker_cpu = n;
        break;
    case OPT_WORKER_MEMORY:
        /* Under a few MiB a worker cannot even start. */
        if ((rc = config_parse_size(v, &sz)) == SVC_OK && sz != 0 && sz < (16u << 20)) {
            snprintf(err, errlen, "%s: '%s' is below the least a worker needs (16M)", name, v);
            return SVC_EINVAL;
        }
        if (rc == SVC_OK)
            c->worker_memory = sz;
        break;
    case OPT_PLUGIN:
        if (c->nplugins == CONFIG_MAX_PLUGINS) {
            snprintf(err, errlen, "%s: at most %d plugins", name, CONFIG_MAX_PLUGINS);
            return SVC_EINVAL;
        }
        if (!*v)
            rc = SVC_EINVAL;
        else
            c->plugins[c->nplugins++] = v;
        break;
    case OPT_API_KEY:
        if (c->napi_keys == (int)ARRAY_LEN(c->api_keys)) {
            snprintf(err, errlen, "%s: at most %zu keys", name, ARRAY_LEN(c->api_keys));
            return SVC_EINVAL;
        }
        if (strlen(v) < 8 || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=") != strlen(v)) {
            snprintf(err, errlen, "%s: a key is 8 or more characters of A-Z a-z 0-9 -._~+/=", name);
            return SVC_EINVAL;
        }
        c->api_keys[c->napi_keys++] = v;
        break;
    case OPT_API_KEY_FILE:
        return config_key_file(c, name, v, err, errlen);
    case OPT_WEBHOOK_SECRET:
        if (strncmp(v, "whsec_", 6) != 0 || !v[6]) {
            snprintf(err, errlen, "%s: must be whsec_ followed by the base64 secret", name);
            return SVC_EINVAL;
        }
        c->webhook_secret = v;
        break;
    case OPT_WEBHOOK_SECRET_FILE: {
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
        return config_set(c, OPT_WEBHOOK_SECRET, name, c->webhook_secret_buf, err, errlen);
    }
    case OPT_WEBHOOK_BACKOFF:
        if ((rc = config_parse_seconds(v, &c->webhook_backoff)) == SVC_OK && c->webhook_backoff > 86400)
            rc = SVC_EINVAL;
        break;
    case OPT_WEBHOOK_ATTEMPTS:
        rc = config_parse_long(v, 1, 100, &c->webhook_attempts);
        break;
    case OPT_WEBHOOK_TIMEOUT:
        if ((rc = config_parse_seconds(v, &c->webhook_timeout)) == SVC_OK &&
            (c->webhook_timeout <= 0 || c->webhook_timeout > 3600))
            rc = SVC_EINVAL;
        break;
    case OPT_WEBHOOK_ALLOW:
        if (c->nwebhook_allow == CONFIG_MAX_ALLOW) {
            snprintf(err, errlen, "%s: at most %d hosts", name, CONFIG_MAX_ALLOW);
            return SVC_EINVAL;
        }
        if (!*v || strlen(v) > 253)
            rc = SVC_EINVAL;
        else
            c->webhook_allow[c->nwebhook_allow++] = v;
        break;
    case OPT_TLS_CERT:
    case OPT_TLS_KEY:
        /* Read at start-up (http.c); a file that cannot be is said now. */
        if (access(v, R_OK) != 0) {
            snprintf(err, errlen, "%s: cannot read %s", name, v);
            return SVC_EINVAL;
        }
        *(id == OPT_TLS_CERT ? &c->tls_cert : &c->tls_key) = v;
        break;
    case OPT_FUNCTIONS:
        if (!*v)
            rc = SVC_EINVAL;
        else
            c->functions = v;
        break;
    case OPT_MAX_RESULT:
        if ((rc = config_parse_size(v, &sz)) == SVC_OK && (sz == 0 || sz > CONFIG_MAX_BODY_LIMIT))
            rc = SVC_EINVAL;
        if (rc == SVC_OK)
            c->max_result = sz;
        break;
    case OPT_MAX_SPILL:
        if ((rc = config_parse_size(v, &sz)) == SVC_OK && sz == 0)
            rc = SVC_EINVAL;
        if (rc == SVC_OK)
            c->max_spill = sz;
        break;
    case OPT_STORE:
        c->store_memory = strcmp(v, "memory") == 0;
        c->store_path[0] = '\0';
        if (!c->store_memory && (strncmp(v, "sqlite:", 7) != 0 || !v[7] ||
                                 strlen(v + 7) >= sizeof(c->store_path))) {
            snprintf(err, errlen, "%s: unknown store '%s' (memory or sqlite:PATH)", name, v);
            return SVC_EINVAL;
        }
        if (!c->store_memory)
            strcpy(c->store_path, v + 7);
        break;
    case OPT_DATA_DIR:
        if (!*v || strlen(v) + sizeof("/poold.db") > sizeof(c->data_dir))
            rc = SVC_EINVAL;
        else
            strcpy(c->data_dir, v);
        break;
    case OPT_FSYNC:
        if (strcmp(v, "normal") != 0 && strcmp(v, "full") != 0)
            rc = SVC_EINVAL;
        else
            c->fsync_full = strcmp(v, "full") == 0;
        break;
    case OPT_LOG_FORMAT:
        if (strcmp(v, "text") != 0 && strcmp(v, "json") != 0)
            rc = SVC_EINVAL;
        else
            c->log_json = strcmp(v, "json") == 0;
        break;
    case OPT_LOG_LEVEL:
        if ((c->log_level = log_level_parse(v)) < 0)
            rc = SVC_EINVAL;
        break;
    }
    if (rc != SVC_OK)
        snprintf(err, errlen, "%s: invalid value '%s'", name, v);
    return rc;
}

/* A list in one variable (POOLD_PLUGIN's paths split at ':', POOLD_WEBHOOK_
 * ALLOW_HOST's hosts at ','), kept in buf, each entry set as its flag. */
static int
config_list_env(Config *c, int id, const char *env, const char *v, char *buf, size_t size, const char *sep,
                char *err, size_t errlen)
{
    char *save = NULL;

    if (strlen(v) >= size) {
        snprintf(err, errlen, "%s: too long", env);
        return SVC_EINVAL;
    }
    strcpy(buf, v);
    for (char *p = strtok_r(buf, sep, &save); p; p = strtok_r(NULL, sep, &save))
        if (config_set(c, id, env, p, err, errlen) != SVC_OK)
            return SVC_EINVAL;
    return SVC_OK;
}

static void
config_usage(FILE *out)
{
    fprintf(out, "usage: poold [options]\n\n"
                 "Python's multiprocessing.Pool as an HTTP service.\n\n");
    for (size_t i = 0; i < ARRAY_LEN(config_opts); i++) {
        char flag[64];
        snprintf(flag, sizeof(flag), "--%s %s", config_opts[i].name, config_opts[i].arg);
        fprintf(out, "  %-24s %s [%s]\n", flag, config_opts[i].help, config_opts[i].env);
    }
    fprintf(out, "  %-24s %s\n", "--help", "show this help");
}

int
config_parse(Config *c, int argc, char **argv, FILE *out, char *err,
             size_t errlen)
{
    struct option longopts[ARRAY_LEN(config_opts) + 2];
    int opt, idx, plugin_flags = 0, allow_flags = 0;

    config_defaults(c);
    for (size_t i = 0; i < ARRAY_LEN(config_opts); i++) {
        const char *v = getenv(config_opts[i].env);
        if (v && config_opts[i].id == OPT_PLUGIN) {
            if (config_list_env(c, OPT_PLUGIN, "POOLD_PLUGIN", v, c->plugin_env, sizeof(c->plugin_env), ":", err,
                                errlen) != SVC_OK)
                return SVC_EINVAL;
        } else if (v && config_opts[i].id == OPT_WEBHOOK_ALLOW) {
            if (config_list_env(c, OPT_WEBHOOK_ALLOW, "POOLD_WEBHOOK_ALLOW_HOST", v, c->allow_env,
                                sizeof(c->allow_env), ", ", err, errlen) != SVC_OK)
                return SVC_EINVAL;
        } else if (v && config_set(c, config_opts[i].id, config_opts[i].env, v, err, errlen) != SVC_OK) {
            return SVC_EINVAL;
        }
        longopts[i] = (struct option){config_opts[i].name, required_argument, NULL, config_opts[i].id};
    }
    longopts[ARRAY_LEN(config_opts)] = (struct option){"help", no_argument, NULL, OPT_HELP};
    longopts[ARRAY_LEN(config_opts) + 1] = (struct option){0, 0, 0, 0};

    optind = 0; /* getopt keeps state: 0 makes it start afresh each call */
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":H:p:n:h", longopts, &idx)) != -1) {
        if (opt == OPT_HELP) {
            config_usage(out);
            return CONFIG_HELP;
        }
        if (opt == '?' || opt == ':') {
            /* Inside a group of short options ("-xp"), optopt names the
             * culprit; for a long option only argv does. */
            char shortopt[3] = {'-', (char)optopt, '\0'};
            const char *arg = opt == ':' ? argv[argc - 1] : argv[optind - 1];
            if (strncmp(arg, "--", 2) != 0 && optopt > 0 && optopt < 128)
                arg = shortopt;
            snprintf(err, errlen, "%s: %s (see --help)", arg,
                     opt == ':' ? "needs a value" : "unknown option");
            return SVC_EINVAL;
        }
        char name[40] = "?";
        for (size_t i = 0; i < ARRAY_LEN(config_opts); i++)
            if (config_opts[i].id == opt)
                snprintf(name, sizeof(name), "--%s", config_opts[i].name);
        if (opt == OPT_PLUGIN && !plugin_flags++)
            c->nplugins = 0; /* the flags replace POOLD_PLUGIN's list */
        if (opt == OPT_WEBHOOK_ALLOW && !allow_flags++)
            c->nwebhook_allow = 0; /* and POOLD_WEBHOOK_ALLOW_HOST's */
        if (config_set(c, opt, name, optarg, err, errlen) != SVC_OK)
            return SVC_EINVAL;
    }
    if (c->max_task_timeout > 0 && (c->task_timeout == 0 || c->task_timeout > c->max_task_timeout)) {
        if (c->task_timeout > c->max_task_timeout) {
            snprintf(err, errlen, "--task-timeout %g is over --max-task-timeout %g", c->task_timeout,
                     c->max_task_timeout);
            return SVC_EINVAL;
        }
        c->task_timeout = c->max_task_timeout; /* "no timeout" is over any cap */
    }
    if (!c->tls_cert != !c->tls_key) {
        snprintf(err, errlen, "--tls-cert and --tls-key go together");
        return SVC_EINVAL;
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
        return SVC_EINVAL;
    }
    if (!c->store_memory && !c->store_path[0])
        snprintf(c->store_path, sizeof(c->store_path), "%s/poold.db", c->data_dir);
    return SVC_OK;
}
