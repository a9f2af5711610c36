/*
 * exec.h: exec functions, declared by the operator in a --functions file.
 *
 * Each is a fixed argv. A call runs it in the worker: the call's args go to
 * the command's stdin as JSON, its stdout comes back (as JSON when it
 * parses, else as a string), a non-zero exit is a function error carrying
 * the tail of stderr. Nothing in a request ever becomes part of an argv,
 * the environment or a path: a client can only name a declared function.
 */
#ifndef POOLD_EXEC_H
#define POOLD_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "poold.h"
#include "functions/registry.h"

typedef struct ExecSpec {
    char *name;        /* the function's, for its errors */
    char **argv;       /* NULL-terminated */
    char **env;        /* "NAME=value" set over poold's environment; NULL-terminated */
    char *cwd;         /* NULL: poold's */
    double timeout;    /* seconds; 0 for none */
    size_t max_result; /* bytes of stdout kept; more is an error */
} ExecSpec;

/* exec_load.c: reads the --functions file at path and adds each function
 * to r, which then owns its ExecSpec. Returns SVC_OK, or SVC_EINVAL with
 * one line in err naming the file and entry. */
int exec_load(Registry *r, const char *path, size_t max_result, char *err, size_t errlen);

/* exec.c, in a worker: runs x with args (kwds must be empty), publishing the
 * command's process group in *group (shared memory, may be NULL) while it
 * runs. Returns a new reference to the result, or NULL with err filled
 * ("TimedOut" when it ran past its timeout, its whole group killed). */
json_t *exec_run(const ExecSpec *x, const json_t *args, const json_t *kwds, int64_t *group,
                 PooldError *err);

#endif
