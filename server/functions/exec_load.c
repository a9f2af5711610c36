/*
 * exec_load.c: loading the --functions file, in the main process before
 * any worker exists: each entry checked and made an ExecSpec, which the
 * registry then owns. Running one is exec.c's.
 */
#include "functions/exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void
exec_spec_free(ExecSpec *x)
{
    if (!x)
        return;
    for (char **a = x->argv; a && *a; a++)
        free(*a);
    for (char **e = x->env; e && *e; e++)
        free(*e);
    free(x->argv);
    free(x->env);
    free(x->cwd);
    free(x->name);
    free(x);
}

/* The registry's destructor for what it holds (registry_add_owned). */
static void
exec_spec_drop(void *x)
{
    exec_spec_free(x);
}

/* 1 when file is an executable regular file; a relative one is looked
 * up from cwd (NULL: poold's own). */
static int
exec_runnable(const char *cwd, const char *file)
{
    char buf[4096];
    struct stat st;

    if (cwd && file[0] != '/') {
        if (snprintf(buf, sizeof(buf), "%s/%s", cwd, file) >= (int)sizeof(buf))
            return 0;
        file = buf;
    }
    return access(file, X_OK) == 0 && stat(file, &st) == 0 && S_ISREG(st.st_mode);
}

/* 1 when cmd runs as the child will run it: a path from cwd, a bare name
 * on the PATH the entry's env sets, else poold's. */
static int
exec_found(const char *cmd, const char *cwd, const char *path)
{
    char buf[4096];

    if (strchr(cmd, '/'))
        return exec_runnable(cwd, cmd);
    if (!path)
        path = getenv("PATH") ? getenv("PATH") : "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path, *end; *p; p = *end ? end + 1 : end) {
        end = strchrnul(p, ':');
        if (snprintf(buf, sizeof(buf), "%.*s/%s", (int)(end - p), end > p ? p : ".", cmd) <
                (int)sizeof(buf) && exec_runnable(cwd, buf))
            return 1;
    }
    return 0;
}

/* s for an error, which is one line of poold's log: up to len - 1 bytes
 * of it, a control character as '?'. The file's strings may hold any, and
 * so may jansson's error, which quotes the text near it: a "\n" in either
 * split the message in two. */
static const char *
exec_shown(const char *s, char *buf, size_t len)
{
    size_t i;

    for (i = 0; s[i] && i + 1 < len; i++)
        buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    buf[i] = '\0';
    return buf;
}

/* Says why an entry is refused; -1, for its caller to return. */
static int
exec_refuse(char *why, size_t len, const char *what)
{
    snprintf(why, len, "%s", what);
    return -1;
}

/* 0 when entry e names only the fields an exec function has; else -1
 * with why filled. */
static int
exec_check_keys(const json_t *e, char *why, size_t len)
{
    static const char *const keys[] = {"name", "exec", "doc", "timeout", "env", "cwd", NULL};
    const char *key;
    char shown[65];
    json_t *v;

    json_object_foreach((json_t *)e, key, v) {
        size_t k = 0;
        while (keys[k] && strcmp(keys[k], key) != 0)
            k++;
        if (!keys[k]) {
            snprintf(why, len, "unknown field '%s'", exec_shown(key, shown, sizeof(shown)));
            return -1;
        }
    }
    return 0;
}

/* 0 when entry e's fields hold what they must, and its command is found;
 * else -1 with why filled. */
static int
exec_check(const json_t *e, char *why, size_t len)
{
    json_t *argv = json_object_get(e, "exec"), *env = json_object_get(e, "env"), *v;
    json_t *timeout = json_object_get(e, "timeout"), *cwd = json_object_get(e, "cwd");
    const char *key;
    char shown[65];
    struct stat st;
    size_t i;

    if (exec_check_keys(e, why, len) < 0)
        return -1;
    if (!json_is_array(argv) || json_array_size(argv) == 0)
        return exec_refuse(why, len, "'exec' is required: a non-empty array of strings (the argv)");
    json_array_foreach(argv, i, v)
        if (!json_is_string(v) || json_string_length(v) == 0)
            return exec_refuse(why, len, "'exec' must hold non-empty strings only");
    if (timeout && (!json_is_number(timeout) || json_number_value(timeout) < 0 ||
                    json_number_value(timeout) > 1e6))
        return exec_refuse(why, len, "'timeout' must be a number of seconds in [0, 1000000]");
    if (cwd && (!json_is_string(cwd) || stat(json_string_value(cwd), &st) != 0 || !S_ISDIR(st.st_mode)))
        return exec_refuse(why, len, "'cwd' must name a directory");
    if (env && !json_is_object(env))
        return exec_refuse(why, len, "'env' must be an object of strings");
    json_object_foreach(env, key, v)
        if (!json_is_string(v) || !*key || strchr(key, '='))
            return exec_refuse(why, len, "'env' must be an object of strings, with names without '='");
    if (!exec_found(json_string_value(json_array_get(argv, 0)), json_string_value(cwd),
                    json_string_value(json_object_get(env, "PATH")))) {
        snprintf(why, len, "command not found: %s",
                 exec_shown(json_string_value(json_array_get(argv, 0)), shown, sizeof(shown)));
        return -1;
    }
    return 0;
}

/* Builds the spec of one entry, or NULL with why filled. */
static ExecSpec *
exec_spec(const json_t *e, const char *name, size_t max_result, char *why, size_t len)
{
    json_t *argv = json_object_get(e, "exec"), *env = json_object_get(e, "env"), *v;
    json_t *timeout = json_object_get(e, "timeout"), *cwd = json_object_get(e, "cwd");
    ExecSpec *x = NULL;
    const char *key;
    size_t i = 0;

    if (exec_check(e, why, len) < 0)
        return NULL;
    if (!(x = calloc(1, sizeof(*x))) || !(x->argv = calloc(json_array_size(argv) + 1, sizeof(char *))) ||
        !(x->env = calloc(json_object_size(env) + 1, sizeof(char *))))
        goto nomem;
    json_array_foreach(argv, i, v)
        if (!(x->argv[i] = strdup(json_string_value(v))))
            goto nomem;
    i = 0;
    json_object_foreach(env, key, v)
        if (asprintf(&x->env[i++], "%s=%s", key, json_string_value(v)) < 0) {
            x->env[i - 1] = NULL;
            goto nomem;
        }
    if ((cwd && !(x->cwd = strdup(json_string_value(cwd)))) || !(x->name = strdup(name)))
        goto nomem;
    x->timeout = timeout ? json_number_value(timeout) : 0;
    x->max_result = max_result;
    return x;
nomem:
    exec_spec_free(x);
    snprintf(why, len, "out of memory");
    return NULL;
}

int
exec_load(Registry *r, const char *path, size_t max_result, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr), *fns = json_object_get(root, "functions"), *e;
    char why[256], shown[JSON_ERROR_TEXT_LENGTH];
    size_t i;
    int rc = SVC_EINVAL;

    if (!root) {
        if (jerr.line > 0)
            snprintf(err, errlen, "--functions %s: %s (line %d)", path,
                     exec_shown(jerr.text, shown, sizeof(shown)), jerr.line);
        else
            snprintf(err, errlen, "--functions %s: %s", path, exec_shown(jerr.text, shown, sizeof(shown)));
        return SVC_EINVAL;
    }
    if (!json_is_array(fns)) {
        snprintf(err, errlen, "--functions %s: expected {\"functions\": [...]}", path);
        goto cleanup;
    }
    json_array_foreach(fns, i, e) {
        const char *name = json_string_value(json_object_get(e, "name"));
        json_t *doc = json_object_get(e, "doc");
        ExecSpec *x;
        if (json_is_object(e) && (json_object_get(e, "python") || json_object_get(e, "runtime")))
            continue; /* a runtime: runtime_load's */
        if (!json_is_object(e) || !name || !*name || (doc && !json_is_string(doc))) {
            snprintf(err, errlen, "--functions %s: entry %zu: needs a 'name' (and a string 'doc', if any)",
                     path, i + 1);
            goto cleanup;
        }
        if (!(x = exec_spec(e, name, max_result, why, sizeof(why)))) {
            snprintf(err, errlen, "--functions %s: entry %zu ('%s'): %s", path, i + 1,
                     exec_shown(name, shown, sizeof(shown)), why);
            goto cleanup;
        }
        RegistryDecl d = {.name = name, .doc = json_string_value(doc), .source = "exec",
                          .kind = REGISTRY_EXEC, .impl = x, .impl_free = exec_spec_drop};
        if (registry_add_owned(r, &d, NULL) != SVC_OK) {
            snprintf(err, errlen, "--functions %s: entry %zu ('%s'): the name is taken", path, i + 1,
                     exec_shown(name, shown, sizeof(shown)));
            goto cleanup;
        }
    }
    rc = SVC_OK;
cleanup:
    json_decref(root);
    return rc;
}
