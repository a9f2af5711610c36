/*
 * config.c: see config.h. Walks the settings table (config_opts.c) three
 * ways: the environment first, then getopt over argv, and --help; then
 * checks the settings that bound one another. Once parsed, the secrets'
 * values are wiped from argv and the environment (config_hide_secrets).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_opts.h"
#include "core/log.h"

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
    c->claim_after = 30;
    c->max_conns = 10000;
    c->conn_timeout = 60;
    c->shutdown_grace = 30;
    c->worker_start_timeout = 30;
    c->max_result = 16u << 20;
    c->max_spill = (size_t)1 << 30;
    c->events_ring = 4096;
    c->events_heartbeat = 15;
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
    if (errno || end == s || *end || !(v >= 0) || v > CONFIG_SECONDS_MAX)
        return SVC_EINVAL;
    *out = v;
    return SVC_OK;
}


/* A flag: its row's reader, under the name "--flag". The first of a list's
 * flags empties the list its variable filled: the flags replace it. */
static int
config_set(Config *c, int id, const char *v, unsigned char *listed, char *err, size_t errlen)
{
    char name[40];

    for (size_t i = 0; i < ARRAY_LEN(config_opts); i++) {
        const ConfigOpt *o = &config_opts[i];
        if (o->id != id)
            continue;
        if (o->sep && !listed[i]) {
            listed[i] = 1;
            *(int *)(void *)((char *)c + o->count) = 0;
        }
        snprintf(name, sizeof(name), "--%s", o->name);
        return o->set(c, o, name, v, err, errlen);
    }
    return SVC_OK;
}

/* A list in one variable (POOLD_PLUGIN's paths split at ':', POOLD_WEBHOOK_
 * ALLOW_HOST's hosts at ','), kept in its row's buffer, each entry set as
 * its flag. */
static int
config_list_env(Config *c, const ConfigOpt *o, const char *v, char *err, size_t errlen)
{
    char *buf = (char *)c + o->buf, *save = NULL;

    if (strlen(v) >= o->buf_size) {
        snprintf(err, errlen, "%s: too long", o->env);
        return SVC_EINVAL;
    }
    strcpy(buf, v);
    for (char *p = strtok_r(buf, o->sep, &save); p; p = strtok_r(NULL, o->sep, &save))
        if (o->set(c, o, o->env, p, err, errlen) != SVC_OK)
            return SVC_EINVAL;
    return SVC_OK;
}

/* The POOLD_* variables, in the table's order: the first bad one is said. */
static int
config_env(Config *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < ARRAY_LEN(config_opts); i++) {
        const ConfigOpt *o = &config_opts[i];
        const char *v = getenv(o->env);

        if (v && (o->sep ? config_list_env(c, o, v, err, errlen) : o->set(c, o, o->env, v, err, errlen)) != SVC_OK)
            return SVC_EINVAL;
    }
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

/* getopt's '?' (unknown) or ':' (no value), said of the option at fault. */
static int
config_bad_option(int argc, char **argv, int opt, char *err, size_t errlen)
{
    /* Inside a group of short options ("-xp"), optopt names the culprit;
     * for a long option only argv does. */
    char shortopt[3] = {'-', (char)optopt, '\0'};
    const char *arg = opt == ':' ? argv[argc - 1] : argv[optind - 1];

    if (strncmp(arg, "--", 2) != 0 && optopt > 0 && optopt < 128)
        arg = shortopt;
    snprintf(err, errlen, "%s: %s (see --help)", arg, opt == ':' ? "needs a value" : "unknown option");
    return SVC_EINVAL;
}

/* The settings that bound one another, once all are read. */
static int
config_check(Config *c, char *err, size_t errlen)
{
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
    return SVC_OK;
}

#define CONFIG_SHORTOPTS ":H:p:n:h"

/* getopt_long's table of the flags, --help last; and getopt's state reset
 * (0 makes it start afresh: it keeps state between calls). */
static void
config_longopts(struct option longopts[ARRAY_LEN(config_opts) + 2])
{
    for (size_t i = 0; i < ARRAY_LEN(config_opts); i++)
        longopts[i] = (struct option){config_opts[i].name, required_argument, NULL, config_opts[i].id};
    longopts[ARRAY_LEN(config_opts)] = (struct option){"help", no_argument, NULL, OPT_HELP};
    longopts[ARRAY_LEN(config_opts) + 1] = (struct option){0, 0, 0, 0};
    optind = 0;
    opterr = 0;
}

int
config_parse(Config *c, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
    struct option longopts[ARRAY_LEN(config_opts) + 2];
    unsigned char listed[ARRAY_LEN(config_opts)] = {0};
    int opt;

    config_defaults(c);
    if (config_env(c, err, errlen) != SVC_OK)
        return SVC_EINVAL;
    config_longopts(longopts);
    while ((opt = getopt_long(argc, argv, CONFIG_SHORTOPTS, longopts, NULL)) != -1) {
        if (opt == OPT_HELP) {
            config_usage(out);
            return CONFIG_HELP;
        }
        if (opt == '?' || opt == ':')
            return config_bad_option(argc, argv, opt, err, errlen);
        if (config_set(c, opt, optarg, listed, err, errlen) != SVC_OK)
            return SVC_EINVAL;
    }
    if (config_check(c, err, errlen) != SVC_OK)
        return SVC_EINVAL;
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
        return SVC_EINVAL;
    }
    if (!c->store_memory && !c->redis_host[0] && !c->store_path[0])
        snprintf(c->store_path, sizeof(c->store_path), "%s/poold.db", c->data_dir);
    return SVC_OK;
}

/* The flags are found as config_parse found them, by getopt itself: each
 * spelling (--api-key=KEY, --api-key KEY) and no value mistaken for a flag. */
void
config_hide_secrets(int argc, char **argv)
{
    struct option longopts[ARRAY_LEN(config_opts) + 2];
    int opt;

    config_longopts(longopts);
    while ((opt = getopt_long(argc, argv, CONFIG_SHORTOPTS, longopts, NULL)) != -1)
        for (size_t i = 0; i < ARRAY_LEN(config_opts); i++)
            if (config_opts[i].id == opt && config_opts[i].secret && optarg)
                explicit_bzero(optarg, strlen(optarg));
    for (size_t i = 0; i < ARRAY_LEN(config_opts); i++) {
        char *v = config_opts[i].secret ? getenv(config_opts[i].env) : NULL;
        if (v) {
            explicit_bzero(v, strlen(v)); /* the bytes /proc/PID/environ reads */
            unsetenv(config_opts[i].env);
        }
    }
}
