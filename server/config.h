/*
 * config.h: the daemon's settings, from flags and their POOLD_* environment
 * twins. A flag wins over its environment variable, which wins over the
 * default. config_parse is pure: no side effect but reading the
 * environment; config_hide_secrets then wipes the secrets from where code
 * poold runs could read them.
 */
#ifndef POOLD_CONFIG_H
#define POOLD_CONFIG_H

#include <stdio.h>

#include "core/common.h"

#define CONFIG_MAX_PLUGINS 32
#define CONFIG_MAX_ALLOW 32 /* --webhook-allow-host entries */

struct Config {
    char host[256];      /* --host: address to listen on */
    int port;            /* --port */
    int processes;       /* --processes: worker count; default nproc */
    int http_threads;    /* --http-threads: MHD polling threads */
    size_t max_body;     /* --max-body: bytes of one request body */
    long max_queue;      /* --max-queue: tasks waiting for a worker */
    long max_items;      /* --max-items: items in one map */
    long max_jobs;       /* --max-jobs: async jobs held, finished included */
    double result_ttl;   /* --result-ttl: seconds a finished job is kept */
    int max_conns;       /* --max-connections: open HTTP connections */
    int max_conns_per_ip; /* --max-connections-per-ip: from one address; 0 is no limit */
    int conn_timeout;    /* --connection-timeout: whole seconds; 0 is none */
    int store_memory;    /* --store memory: jobs live in memory only */
    char store_path[4096]; /* the SQLite file: --store sqlite:PATH, else
                            * DATA_DIR/poold.db; "" with store_memory */
    char redis_host[256]; /* --store redis://HOST:PORT[/DB]; "" otherwise */
    int redis_port, redis_db;
    char replica[64];    /* --replica: this replica's name; "" is HOSTNAME:PORT */
    double claim_after;  /* --claim-after: seconds before a silent replica's
                          * jobs are taken back */
    char data_dir[4080]; /* --data-dir: where the SQLite file lives (./data);
                          * room for "/poold.db" in store_path */
    int fsync_full;      /* --fsync full: sync every commit (power loss) */
    int runtime_free;    /* --runtime-affinity free: runtimes' workers run on any CPU */
    double task_timeout; /* --task-timeout: seconds per task; 0 is none */
    double max_task_timeout; /* --max-task-timeout: the most a call may ask; 0 is no cap */
    long max_tasks_per_child; /* --max-tasks-per-child: 0 keeps workers */
    size_t worker_memory; /* --worker-memory-limit: RLIMIT_AS bytes; 0 is none */
    long worker_cpu;     /* --worker-cpu-limit: CPU seconds per task; 0 is none */
    double shutdown_grace; /* --shutdown-grace: seconds running tasks get at a stop */
    double worker_start_timeout; /* --worker-start-timeout: seconds to be ready */
    const char *plugins[CONFIG_MAX_PLUGINS]; /* --plugin, in order (argv's
                                              * or plugin_env's strings) */
    int nplugins;
    const char *functions; /* --functions: the exec functions' file, or NULL */
    const char *pythons[CONFIG_MAX_PLUGINS]; /* --python, in order */
    int npythons;
    char python_env[4096]; /* POOLD_PYTHON, split at ':' in place */
    size_t max_result;   /* --max-result: bytes of an exec function's stdout */
    size_t max_spill;    /* --max-spill: an imap's results on disk while it uploads */
    long events_ring;    /* --events-ring: recent events kept for Last-Event-ID */
    double events_heartbeat; /* --events-heartbeat: seconds between a stream's comments */
    char plugin_env[4096]; /* POOLD_PLUGIN, split at ':' in place */
    const char *api_keys[64]; /* --api-key, and the lines of --api-key-file */
    int napi_keys;
    char api_key_buf[8192]; /* the keys of --api-key and POOLD_API_KEY, copied:
                             * config_hide_secrets wipes argv and environ */
    size_t api_key_used;
    char api_key_file_buf[16384]; /* --api-key-file's text, split in place */
    const char *webhook_secret; /* --webhook-secret: "whsec_<base64>", or NULL */
    char webhook_secret_buf[512]; /* the secret, copied from argv or environ,
                                   * or --webhook-secret-file's text */
    double webhook_backoff; /* --webhook-backoff: seconds before the first retry */
    long webhook_attempts; /* --webhook-max-attempts: attempts in all */
    double webhook_timeout; /* --webhook-timeout: seconds one attempt may take */
    const char *webhook_allow[CONFIG_MAX_ALLOW]; /* --webhook-allow-host */
    int nwebhook_allow;
    char allow_env[4096]; /* POOLD_WEBHOOK_ALLOW_HOST, split at ',' in place */
    const char *tls_cert; /* --tls-cert: PEM file, or NULL for plain HTTP */
    const char *tls_key;  /* --tls-key */
    int log_level;       /* --log-level */
    int log_json;        /* --log-format json */
};

#define CONFIG_HELP 1 /* config_parse printed --help: exit 0 */
#define CONFIG_MAX_BODY_LIMIT ((size_t)512 << 20) /* --max-body's own bound */
#define CONFIG_SECONDS_MAX 1e9 /* config_parse_seconds' bound */

/* Fills c from defaults, then environment, then argv. On a bad value it
 * writes one line into err and returns SVC_EINVAL; for --help it prints the
 * usage on out and returns CONFIG_HELP. */
int config_parse(Config *c, int argc, char **argv, FILE *out, char *err,
                 size_t errlen);

/* Zeroes, in place, the values of the secret settings (--api-key,
 * --webhook-secret, however written, those that lost to another too) in
 * argv and in the environment, whose bytes /proc/PID/cmdline and environ
 * show, and unsets their variables: so that no process forked from this
 * one carries them there either. After a config_parse that succeeded on
 * the same argv, which copied what it keeps. */
void config_hide_secrets(int argc, char **argv);

/* Parses "64M", "1k", "512" (bytes; K/M/G are powers of 1024). Returns
 * SVC_OK or SVC_EINVAL. */
int config_parse_size(const char *s, size_t *out);

/* Parses seconds, fractions allowed ("0.5"), >= 0. SVC_OK or SVC_EINVAL. */
int config_parse_seconds(const char *s, double *out);

#endif
