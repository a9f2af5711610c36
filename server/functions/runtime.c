/*
 * runtime.c: see runtime.h. Three pieces a runtime's two users share: its
 * spec (built from --python or a functions file entry), starting its
 * process with pipes (runtime_spawn: the main process to describe it, each
 * worker to run it), and cutting its output into lines. Declaring it, the
 * start-up conversation, is runtime_declare.c's; a runtime's index
 * among the registry's is here.
 */
#include "functions/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "core/jtext.h"
#include "functions/spawn.h"

#define RUNTIME_LINES_FIRST (64 * 1024)

/* The folder holding poold's Python package (poold/runtime.py): beside
 * the binary in a build tree (build/poold: ../python), or where make
 * install puts it (bin/poold: ../lib/poold/python). "" when neither. */
static void
runtime_python_dir(char *dir, size_t len)
{
    static const char *const rel[] = {"/../python", "/../lib/poold/python"};
    char exe[PATH_MAX], probe[PATH_MAX + 64], found[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash;

    dir[0] = '\0';
    if (n <= 0)
        return;
    exe[n] = '\0';
    if (!(slash = strrchr(exe, '/')))
        return;
    *slash = '\0';
    for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
        snprintf(probe, sizeof(probe), "%s%s/poold/runtime.py", exe, rel[i]);
        if (access(probe, R_OK) != 0)
            continue;
        snprintf(probe, sizeof(probe), "%s%s", exe, rel[i]);
        if (realpath(probe, found) && strlen(found) < len)
            memcpy(dir, found, strlen(found) + 1);
        return;
    }
}

/* A NULL-terminated copy of n strings; NULL when out of memory. */
static char **
runtime_strv(const char *const *v, size_t n)
{
    char **out = calloc(n + 1, sizeof(char *));

    for (size_t i = 0; out && i < n; i++)
        if (!(out[i] = strdup(v[i]))) {
            for (size_t k = 0; k < i; k++)
                free(out[k]);
            free(out);
            return NULL;
        }
    return out;
}

static void
runtime_strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

void
runtime_spec_free(RuntimeSpec *spec)
{
    if (!spec)
        return;
    free(spec->label);
    free(spec->source);
    runtime_strv_free(spec->argv);
    runtime_strv_free(spec->env);
    free(spec->cwd);
    free(spec);
}

RuntimeSpec *
runtime_python(const char *file, const char *initializer, const json_t *initargs, char *err, size_t len)
{
    char dir[PATH_MAX], path[PATH_MAX], *args = NULL, *pythonpath = NULL;
    const char *old = getenv("PYTHONPATH");
    /* -P: the working directory is not put first on sys.path, where a
     * json.py of its own would stand in for the runtime's. */
    const char *argv[8] = {"python3", "-P", "-m", "poold.runtime"};
    const char *env[3] = {NULL};
    size_t n = 4, nenv = 1;
    RuntimeSpec *spec = calloc(1, sizeof(*spec));

    runtime_python_dir(dir, sizeof(dir));
    if (!dir[0]) {
        snprintf(err, len, "--python %s: poold's Python package (poold/runtime.py) is not beside the "
                 "binary (../python) nor installed (../lib/poold/python)", file);
        free(spec);
        return NULL;
    }
    if (initializer) {
        argv[n++] = "--initializer";
        argv[n++] = initializer;
    }
    /* initargs by the environment, not argv: ps shows every user argv. */
    if (initargs && (args = jtext_dumps(initargs, JSON_COMPACT | JSON_ENCODE_ANY))) {
        char *e = NULL;
        if (asprintf(&e, "POOLD_INITARGS=%s", args) < 0)
            e = NULL;
        free(args);
        env[nenv++] = args = e;
    }
    argv[n++] = realpath(file, path) ? path : file;
    if (asprintf(&pythonpath, "PYTHONPATH=%s%s%s", dir, old && *old ? ":" : "", old && *old ? old : "") < 0)
        pythonpath = NULL;
    env[0] = pythonpath;
    if (spec && pythonpath && (!initargs || args) && (spec->argv = runtime_strv(argv, n)) &&
        (spec->env = runtime_strv(env, nenv)) &&
        asprintf(&spec->label, "python %s", file) >= 0 && (spec->source = strdup("python")))
        goto done;
    snprintf(err, len, "--python %s: out of memory", file);
    runtime_spec_free(spec);
    spec = NULL;
done:
    free(args);
    free(pythonpath);
    return spec;
}

RuntimeSpec *
runtime_command(const json_t *argv, const json_t *env, const char *cwd, const char *source)
{
    RuntimeSpec *spec = calloc(1, sizeof(*spec));
    const char *key;
    json_t *v;
    size_t i = 0;

    if (!spec || !(spec->argv = calloc(json_array_size(argv) + 1, sizeof(char *))) ||
        !(spec->env = calloc(json_object_size(env) + 1, sizeof(char *))))
        goto nomem;
    json_array_foreach(argv, i, v)
        if (!(spec->argv[i] = strdup(json_string_value(v))))
            goto nomem;
    i = 0;
    json_object_foreach((json_t *)env, key, v)
        if (asprintf(&spec->env[i++], "%s=%s", key, json_string_value(v)) < 0) {
            spec->env[i - 1] = NULL;
            goto nomem;
        }
    if ((cwd && !(spec->cwd = strdup(cwd))) || !(spec->source = strdup(source ? source : "runtime")) ||
        /* Its last argument names it best: node runtime.js fns.js is
         * "node fns.js". */
        asprintf(&spec->label, "%s %s", spec->source, spec->argv[json_array_size(argv) - 1]) < 0)
        goto nomem;
    return spec;
nomem:
    runtime_spec_free(spec);
    return NULL;
}

pid_t
runtime_spawn(const RuntimeSpec *spec, char *const *extra, int fds[3])
{
    int p[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}}, saved;
    pid_t parent = getpid(), pid = -1;

    for (int k = 0; k < 3; k++)
        if (pipe2(p[k], O_CLOEXEC) < 0)
            goto cleanup;
    if ((pid = fork()) == 0) {
        SpawnSpec s = {.argv = spec->argv, .env = spec->env, .extra = extra, .cwd = spec->cwd};
        spawn_exec(&s, parent, (int[3]){p[0][0], p[1][1], p[2][1]});
    }
    if (pid > 0) {
        setpgid(pid, pid); /* as the child does: no race over who is first */
        fds[0] = p[0][1], fds[1] = p[1][0], fds[2] = p[2][0];
        p[0][1] = p[1][0] = p[2][0] = -1;
        for (int k = 0; k < 3; k++)
            fcntl(fds[k], F_SETFL, O_NONBLOCK);
    }
cleanup:
    saved = errno;
    for (int k = 0; k < 3; k++)
        for (int e = 0; e < 2; e++)
            if (p[k][e] >= 0)
                close(p[k][e]);
    errno = saved;
    return pid;
}

ssize_t
runtime_lines_fill(RuntimeLines *l, int fd)
{
    ssize_t n;

    if (l->used) { /* drop the lines taken */
        memmove(l->buf, l->buf + l->used, l->len - l->used);
        l->len -= l->used;
        l->used = 0;
    }
    if (l->cap - l->len < 4096) {
        size_t cap = l->cap ? l->cap * 2 : RUNTIME_LINES_FIRST;
        char *buf = realloc(l->buf, cap + 1);
        if (!buf) {
            errno = ENOMEM;
            return -1;
        }
        l->buf = buf;
        l->cap = cap;
    }
    do
        n = read(fd, l->buf + l->len, l->cap - l->len);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        l->len += (size_t)n;
    if (l->max && l->len > l->max && !memchr(l->buf, '\n', l->len))
        l->over = 1;
    return n;
}

char *
runtime_lines_next(RuntimeLines *l, size_t *n)
{
    char *start, *nl;

    if (!l->buf || l->over || !(nl = memchr(start = l->buf + l->used, '\n', l->len - l->used)))
        return NULL;
    *nl = '\0';
    *n = (size_t)(nl - start);
    l->used = (size_t)(nl - l->buf) + 1;
    if (l->max && *n > l->max) {
        l->over = 1;
        return NULL;
    }
    return start;
}

void
runtime_lines_free(RuntimeLines *l)
{
    free(l->buf);
    *l = (RuntimeLines){0};
}

unsigned
runtime_count(const Registry *r)
{
    unsigned n = 0;

    for (unsigned id = 0; id < registry_count(r); id++) {
        const RegistryFn *fn = registry_by_id(r, id);
        const RuntimeFn *f = fn->impl;
        if (fn->kind == REGISTRY_RUNTIME && f->spec->index >= n)
            n = f->spec->index + 1;
    }
    return n;
}

const RuntimeSpec *
runtime_at(const Registry *r, unsigned i)
{
    for (unsigned id = 0; id < registry_count(r); id++) {
        const RegistryFn *fn = registry_by_id(r, id);
        const RuntimeFn *f = fn->impl;
        if (fn->kind == REGISTRY_RUNTIME && f->spec->index == i)
            return f->spec;
    }
    return NULL;
}
