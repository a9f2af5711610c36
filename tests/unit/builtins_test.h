/*
 * builtins_test.h: what unit_builtins.c and unit_builtins_tasks.c share:
 * the registry of built-ins, and a task run the way a worker runs it,
 * worker_execute on a payload [id, items, kwds], then the outcomes array
 * it answers ({"r": value} or {"e": {"type", "message"}}) checked. The
 * tests write a frame with its function's name, for reading's sake;
 * builtins_test_frame puts the id in its place.
 */
#ifndef POOLD_TEST_BUILTINS_TEST_H
#define POOLD_TEST_BUILTINS_TEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "functions/registry.h"

/* Built by builtins_test_main, inherited by each test. */
extern Registry *builtins_test_reg;

/* A frame ["name", items, kwds] as the wire has it: [id, items, kwds]
 * (wire.h). Malloc'd; an apply body (WIRE_MODE_APPLY_BODY) is copied as
 * it is. */
char *builtins_test_frame(const char *named, uint32_t mode);

/* Runs payload in mode and returns its outcomes (a new reference), which
 * must hold nitems entries. */
json_t *builtins_test_run(const char *file, int line, const char *payload, uint32_t mode, size_t nitems,
                          uint32_t *fails, uint64_t *first);

/* Checks that outcome is {"r": want}, compared as JSON. */
void builtins_test_value(const char *file, int line, const char *what, const json_t *outcome, const json_t *want);

/* Checks that outcome is {"e": {"type": type, "message": non-empty}}. */
void builtins_test_failure(const char *file, int line, const char *what, const json_t *outcome, const char *type);

/* Applies payload: its one outcome must be {"r": want} (want as JSON
 * text), or with want NULL an error of this type. */
void builtins_test_apply(const char *file, int line, const char *payload, const char *want, const char *type);

/* Applies payload; its one outcome must be {"r": want}, want as JSON text. */
#define EXPECT_RESULT(payload, want)                                          \
    builtins_test_apply(__FILE__, __LINE__, (payload), (want), NULL)

/* Applies payload; its one outcome must be an error of this type. */
#define EXPECT_ERROR(payload, type)                                           \
    builtins_test_apply(__FILE__, __LINE__, (payload), NULL, (type))


/* The pow outcome must be the exact integer want. */
#define EXPECT_INTEGER(payload, want)                                         \
    do {                                                                      \
        char want_[32];                                                       \
        snprintf(want_, sizeof(want_), "%lld", (long long)(want));            \
        EXPECT_RESULT((payload), want_);                                      \
    } while (0)

/* The error type of an outcome (borrowed), or NULL. */
static inline json_t *
jpath_e(json_t *outcome)
{
    return json_object_get(json_object_get(outcome, "e"), "type");
}

/* main: builds the registry, runs the tests; prog names the binary in a
 * failure to build it. */
int builtins_test_main(int argc, char **argv, const char *prog);

#endif
