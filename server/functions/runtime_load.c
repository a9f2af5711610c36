/*
 * runtime_load.c: the runtimes a --functions file declares, beside its
 * exec functions (exec_load.c reads those and passes these by):
 *   {"python": "FILE.py", "initializer": "NAME", "initargs": [...]}
 *   {"runtime": ["node", "runtime.js", "fns.js"], "source": "node",
 *    "env": {...}, "cwd": "DIR"}
 * Each is checked, then declared (runtime_declare): its functions come
 * from the runtime itself.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "functions/runtime.h"

/* 0 when e's fields are all among keys; else -1 with why filled. */
static int
runtime_load_keys(const json_t *e, const char *const *keys, char *why, size_t len)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)e, key, v) {
        size_t k = 0;
        while (keys[k] && strcmp(keys[k], key) != 0)
            k++;
        if (!keys[k]) {
            snprintf(why, len, "unknown field '%.64s'", key);
            return -1;
        }
    }
    return 0;
}

/* The spec of a {"python": ...} entry, or NULL with why filled. */
static RuntimeSpec *
runtime_load_python(const json_t *e, char *why, size_t len)
{
    static const char *const keys[] = {"python", "initializer", "initargs", NULL};
    json_t *file = json_object_get(e, "python"), *init = json_object_get(e, "initializer");
    json_t *args = json_object_get(e, "initargs");

    if (runtime_load_keys(e, keys, why, len) < 0)
        return NULL;
    if (!json_is_string(file) || !json_string_length(file) || access(json_string_value(file), R_OK) != 0) {
        snprintf(why, len, "'python' must name a readable file");
        return NULL;
    }
    if ((init && !json_is_string(init)) || (args && !json_is_array(args)) || (args && !init)) {
        snprintf(why, len, "'initializer' must be a function's name, and 'initargs' an array beside it");
        return NULL;
    }
    return runtime_python(json_string_value(file), json_string_value(init), args, why, len);
}

/* The spec of a {"runtime": [...]} entry, or NULL with why filled. */
static RuntimeSpec *
runtime_load_command(const json_t *e, char *why, size_t len)
{
    static const char *const keys[] = {"runtime", "source", "env", "cwd", NULL};
    json_t *argv = json_object_get(e, "runtime"), *env = json_object_get(e, "env"), *v;
    json_t *cwd = json_object_get(e, "cwd"), *source = json_object_get(e, "source");
    const char *key;
    struct stat st;
    size_t i;
    RuntimeSpec *spec;

    if (runtime_load_keys(e, keys, why, len) < 0)
        return NULL;
    if (!json_is_array(argv) || json_array_size(argv) == 0)
        goto bad;
    json_array_foreach(argv, i, v)
        if (!json_is_string(v) || json_string_length(v) == 0)
            goto bad;
    if ((source && (!json_is_string(source) || !json_string_length(source))) || (env && !json_is_object(env)) ||
        (cwd && (!json_is_string(cwd) || stat(json_string_value(cwd), &st) != 0 || !S_ISDIR(st.st_mode))))
        goto bad;
    json_object_foreach(env, key, v)
        if (!json_is_string(v) || !*key || strchr(key, '='))
            goto bad;
    if (!(spec = runtime_command(argv, env, json_string_value(cwd), json_string_value(source))))
        snprintf(why, len, "out of memory");
    return spec;
bad:
    snprintf(why, len, "'runtime' must be a non-empty array of strings (the argv), 'source' a word, "
             "'env' an object of strings, 'cwd' a directory");
    return NULL;
}

int
runtime_load(Registry *r, const char *path, double timeout, char *err, size_t errlen)
{
    json_t *root = json_load_file(path, 0, NULL), *e;
    char why[400];
    size_t i;
    int rc = SVC_OK;

    /* exec_load read the file first and said what is wrong with it. */
    json_array_foreach(json_object_get(root, "functions"), i, e) {
        RuntimeSpec *spec;
        if (!json_object_get(e, "python") && !json_object_get(e, "runtime"))
            continue;
        spec = json_object_get(e, "python") ? runtime_load_python(e, why, sizeof(why))
                                            : runtime_load_command(e, why, sizeof(why));
        if (!spec || runtime_declare(r, spec, timeout, why, sizeof(why)) != SVC_OK) {
            snprintf(err, errlen, "--functions %s: entry %zu: %s", path, i + 1, why);
            rc = SVC_EINVAL;
            break;
        }
    }
    json_decref(root);
    return rc;
}
