/*
 * runtime.h: warm runtimes (docs/worker-protocol.md). A runtime is a
 * command that each worker starts once and hands task after task to, over
 * its stdin and stdout. This is its declaration, and what the main process
 * learns of it at start-up: runtime_declare runs the command once with
 * POOLD_DESCRIBE=1 and registers the functions its ready frame lists. The
 * conversation in a worker is worker/worker_runtime.c's.
 */
#ifndef POOLD_RUNTIME_H
#define POOLD_RUNTIME_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "functions/registry.h"

#define RUNTIME_MAX 32 /* runtimes in all: each worker starts one of each */

typedef struct RuntimeSpec {
    char *label;    /* "python seed.py": in logs and errors */
    char *source;   /* as GET /v1/functions shows its functions: "python"... */
    char **argv;    /* NULL-terminated */
    char **env;     /* "NAME=value" set over poold's environment; NULL-terminated */
    char *cwd;      /* NULL: poold's */
    unsigned index; /* 0, 1, ...: its place among the registry's runtimes */
    int refs;       /* the RuntimeFns that point at it (main thread only) */
} RuntimeSpec;

/* A function a runtime serves: the registry's impl of a REGISTRY_RUNTIME. */
typedef struct RuntimeFn {
    RuntimeSpec *spec;
    char *name;
} RuntimeFn;

/* The spec of `--python FILE`: python3 -m poold.runtime FILE, with the
 * package poold ships on PYTHONPATH, and the initializer and its args
 * (initializer may be NULL, initargs NULL or an array). NULL with err
 * filled when the package cannot be found or memory ran out. */
RuntimeSpec *runtime_python(const char *file, const char *initializer, const json_t *initargs,
                            char *err, size_t len);

/* The spec of a functions file's runtime entry: argv (an array of
 * strings, checked by the caller), env (an object of strings, or NULL),
 * cwd and source (may be NULL: "runtime"). NULL when out of memory. */
RuntimeSpec *runtime_command(const json_t *argv, const json_t *env, const char *cwd,
                             const char *source);

void runtime_spec_free(RuntimeSpec *spec);

/*
 * Runs spec once, described (POOLD_DESCRIBE=1), within timeout seconds,
 * and registers each function its ready frame lists; a function may hide
 * a built-in of the same name (logged). Takes spec (freed on failure, or
 * with its last function). Returns SVC_OK, or SVC_EINVAL with one line in
 * err: the runtime could not start, said it was fatal, served nothing, or
 * named a function taken by another declared one.
 */
int runtime_declare(Registry *r, RuntimeSpec *spec, double timeout, char *err, size_t len);

/* runtime_load.c: declares each runtime of the --functions file at path
 * (its {"python": ...} and {"runtime": [...]} entries; exec_load takes
 * the others). Returns SVC_OK, or SVC_EINVAL with one line in err. */
int runtime_load(Registry *r, const char *path, double timeout, char *err, size_t errlen);

/* How many runtimes r has: their indexes are 0 to this less one. */
unsigned runtime_count(const Registry *r);

/* The spec of runtime i of r (borrowed), or NULL. */
const RuntimeSpec *runtime_at(const Registry *r, unsigned i);

/*
 * Starts spec's command: its own process group, dying with the caller,
 * with stdin, stdout and stderr on pipes whose other ends come back in
 * fds (0: to write its stdin, 1: to read its stdout, 2: to read its
 * stderr; close-on-exec, non-blocking), poold's environment less POOLD_*
 * plus spec's env and extra ("NAME=value", NULL-terminated; may be NULL).
 * Returns its pid, or -1 with errno.
 */
pid_t runtime_spawn(const RuntimeSpec *spec, char *const *extra, int fds[3]);

/* A runtime's output, cut into lines: what runtime_lines_fill read, and
 * the lines runtime_lines_next takes from it. */
typedef struct RuntimeLines {
    char *buf;
    size_t len, cap;
    size_t used;    /* bytes of buf the last line taken ended at */
    size_t max;     /* the longest line kept (--max-result); 0: no bound */
    int over;       /* a line passed max: the stream is broken */
} RuntimeLines;

/* Reads what fd has into l. Returns the bytes read, 0 at EOF, -1 with
 * errno (EAGAIN: nothing now). */
ssize_t runtime_lines_fill(RuntimeLines *l, int fd);

/* The next whole line (its '\n' replaced by '\0'), its length in *n; NULL
 * when none is whole yet. A line is valid until the next fill. */
char *runtime_lines_next(RuntimeLines *l, size_t *n);

void runtime_lines_free(RuntimeLines *l);

#endif
