/*
 * poold.h: the interface between poold and the functions it runs.
 *
 * A function takes its positional arguments (a JSON array) and keyword
 * arguments (a JSON object), both borrowed, and returns a new reference to
 * its result. On failure it returns NULL and fills *err with a type
 * ("TypeError", "ValueError", ...) and a message; poold answers 422 with
 * both. A function runs in a worker process and knows nothing of the pool.
 */
#ifndef POOLD_H
#define POOLD_H

#include <stdarg.h>
#include <stdio.h>

#include <jansson.h>

#define POOLD_ABI_VERSION 1

typedef struct PooldError {
    char type[64];
    char message[512];
} PooldError;

typedef json_t *(*PooldFn)(const json_t *args, const json_t *kwds,
                           PooldError *err);

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
