/*
 * config_opts.h: the settings table, one row per setting: its flag, its
 * environment twin, its help line, and how its value is read (a kind of
 * value with its bounds and the field of Config it fills, or a setter of
 * its own for the few that are special). config.c walks it for getopt, the
 * environment and --help; it lives apart with its setters so that adding a
 * setting is one row here.
 */
#ifndef POOLD_CONFIG_OPTS_H
#define POOLD_CONFIG_OPTS_H

#include <stddef.h>

#include "config.h"

/* getopt's value for each flag; the short ones are their letters. */
enum {
    OPT_HOST = 'H', OPT_PORT = 'p', OPT_PROCESSES = 'n', OPT_HELP = 'h',
    OPT_MAX_BODY = 256, OPT_MAX_QUEUE, OPT_STORE, OPT_LOG_LEVEL,
    OPT_HTTP_THREADS, OPT_MAX_CONNS, OPT_MAX_ITEMS, OPT_MAX_JOBS, OPT_RESULT_TTL,
    OPT_TASK_TIMEOUT, OPT_MAX_TASK_TIMEOUT, OPT_MAX_TASKS_PER_CHILD, OPT_WORKER_MEMORY,
    OPT_WORKER_CPU, OPT_SHUTDOWN_GRACE, OPT_PLUGIN, OPT_WORKER_START_TIMEOUT, OPT_FUNCTIONS,
    OPT_MAX_RESULT, OPT_MAX_SPILL, OPT_DATA_DIR, OPT_FSYNC, OPT_WEBHOOK_SECRET, OPT_WEBHOOK_BACKOFF,
    OPT_WEBHOOK_ATTEMPTS, OPT_WEBHOOK_TIMEOUT, OPT_WEBHOOK_ALLOW, OPT_API_KEY, OPT_API_KEY_FILE, OPT_LOG_FORMAT,
    OPT_TLS_CERT, OPT_TLS_KEY, OPT_WEBHOOK_SECRET_FILE, OPT_CONN_TIMEOUT, OPT_MAX_CONNS_PER_IP,
    OPT_PYTHON, OPT_EVENTS_RING, OPT_EVENTS_HEARTBEAT, OPT_REPLICA, OPT_CLAIM_AFTER, OPT_RUNTIME_AFFINITY,
};

#define CONFIG_OPTS_LEN 44 /* the table's rows; the compiler checks it */

typedef struct ConfigOpt ConfigOpt;

/* Reads v into c as o says; name is the flag or variable, for err. Returns
 * SVC_OK, or SVC_EINVAL with one line in err. */
typedef int ConfigOptSet(Config *c, const ConfigOpt *o, const char *name, const char *v, char *err,
                         size_t errlen);

struct ConfigOpt {
    const char *name;     /* the flag, without "--" */
    int id;
    const char *env;
    const char *arg;      /* the value's name in --help */
    const char *help;
    ConfigOptSet *set;
    size_t off;           /* the field of Config a kind of value fills */
    double lo, hi;        /* a number's bounds, both included */
    const char *words[2]; /* a choice's two words: the field becomes 0 or 1 */
    /* A repeatable flag whose variable is a list: split at sep into the
     * char array at buf, its entries counted at count, which the first
     * flag resets (the flags replace the variable's list). */
    const char *sep;
    size_t buf, buf_size, count;
    int secret;           /* a key or a secret: its setter copies the value,
                           * config_hide_secrets wipes where it came from */
};

extern const ConfigOpt config_opts[CONFIG_OPTS_LEN];

#endif
