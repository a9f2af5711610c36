/*
 * poold.h: the interface between poold and the functions it runs.
 *
 * A function takes its positional arguments (a JSON array) and keyword
 * arguments (a JSON object), both borrowed, and returns a new reference to
 * its result. On failure it returns NULL and fills *err with a type
 * ("TypeError", "ValueError", ...) and a message; poold answers 422 with
 * both. A function runs in a worker process and knows nothing of the pool.
 *
 * A plugin is a shared object loaded with `poold --plugin path.so`. It
 * defines its entry point with POOLD_PLUGIN:
 *
 *     static int setup(PooldHost *host)
 *     {
 *         return host->add(host, "wordcount", "wordcount(text)", wordcount);
 *     }
 *     POOLD_PLUGIN(setup)
 *
 * poold loads it before it forks any worker, so every worker, replacements
 * included, inherits what the plugin registered.
 */
#ifndef POOLD_H
#define POOLD_H

#include <stdarg.h>
#include <stdio.h>

#include <jansson.h>

#define POOLD_ABI_VERSION 1

typedef struct PooldError {
    char type[64];
    char message[4096];
} PooldError;

typedef json_t *(*PooldFn)(const json_t *args, const json_t *kwds,
                           PooldError *err);

/* Runs once in each new worker before it takes a task (Pool's
 * initializer). Non-zero fails the worker's start-up. */
typedef int (*PooldWorkerInit)(unsigned worker_number);

/* What poold hands a plugin's entry point, valid only while it runs. Both
 * calls return 0, or -1 for an empty or already taken name (the load then
 * fails, whatever the entry point returns). */
typedef struct PooldHost PooldHost;
struct PooldHost {
    unsigned abi_version; /* POOLD_ABI_VERSION of the poold loading it */
    void *ctx;            /* poold's own */
    int (*add)(PooldHost *host, const char *name, const char *doc, PooldFn fn);
    int (*on_worker_start)(PooldHost *host, PooldWorkerInit init);
};

/* Defines the plugin's entry point and the ABI version it was built
 * against, which poold checks before it calls anything. The entry point
 * returns 0, or non-zero to stop poold's start-up. */
#define POOLD_PLUGIN(setup)                                                   \
    const unsigned poold_plugin_abi = POOLD_ABI_VERSION;                      \
    int poold_plugin_init(PooldHost *host);                                   \
    int poold_plugin_init(PooldHost *host) { return (setup)(host); }

/* Fills err and returns NULL, so a function can `return poold_error(...)`. */
static inline json_t *
poold_error(PooldError *err, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline json_t *
poold_error(PooldError *err, const char *type, const char *fmt, ...)
{
    va_list ap;

    snprintf(err->type, sizeof(err->type), "%s", type);
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return NULL;
}

#endif
