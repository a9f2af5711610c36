/*
 * fuzz_functions.c: the --functions file (server/functions/exec_load.c, exec_load), over
 * a registry that holds the built-in functions as the server's does.
 *
 * The file is read as the server reads it, from a path (a memfd's). It
 * must be taken whole or refused with one line that says why; and what
 * it took is exactly its entries: each name an exec function with the
 * argv, environment and timeout the file gave it.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>

#include "functions/exec.h"
#include "fuzz.h"
#include "functions/registry.h"

static int fuzz_fd = -1;
static char fuzz_path[64];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    json_object_seed(1);
    if ((fuzz_fd = memfd_create("functions", 0)) < 0)
        abort();
    snprintf(fuzz_path, sizeof(fuzz_path), "/proc/self/fd/%d", fuzz_fd);
    return 0;
}

/* Entry e of the file, taken: the registry holds it as the file says. */
static void
fuzz_check_entry(const Registry *r, const json_t *e)
{
    const RegistryFn *fn = registry_find(r, json_string_value(json_object_get(e, "name")));
    const json_t *argv = json_object_get(e, "exec"), *env = json_object_get(e, "env");
    const json_t *timeout = json_object_get(e, "timeout");
    const ExecSpec *x;
    size_t i, n = 0;

    FUZZ_CHECK(fn && fn->impl && strcmp(fn->source, "exec") == 0);
    x = fn->impl;
    for (i = 0; x->argv[i]; i++)
        FUZZ_CHECK(strcmp(x->argv[i], json_string_value(json_array_get(argv, i)) ?: "") == 0);
    FUZZ_CHECK(i == json_array_size(argv));
    for (char **v = x->env; *v; v++)
        n++;
    FUZZ_CHECK(n == json_object_size(env));
    FUZZ_CHECK(x->timeout == (timeout ? json_number_value(timeout) : 0));
    FUZZ_CHECK((x->cwd != NULL) == (json_object_get(e, "cwd") != NULL));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Registry *r = registry_new();
    unsigned builtin;
    char err[512];
    json_t *root, *e;
    size_t i;
    int rc;

    FUZZ_CHECK(r && builtins_register(r) == SVC_OK);
    builtin = registry_count(r);
    FUZZ_CHECK(ftruncate(fuzz_fd, 0) == 0 && pwrite(fuzz_fd, data, size, 0) == (ssize_t)size);
    err[0] = '\0';
    rc = exec_load(r, fuzz_path, 1 << 20, err, sizeof(err));
    FUZZ_CHECK(rc == SVC_OK || rc == SVC_EINVAL);
    if (rc != SVC_OK) {
        FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)) && !strchr(err, '\n'));
    } else {
        /* Taken: the file is JSON (as jansson reads it), its entries now
         * functions, and nothing else was added. */
        root = json_loadb((const char *)data, size, 0, NULL);
        FUZZ_CHECK(json_is_array(json_object_get(root, "functions")));
        json_array_foreach(json_object_get(root, "functions"), i, e)
            fuzz_check_entry(r, e);
        FUZZ_CHECK(registry_count(r) == builtin + json_array_size(json_object_get(root, "functions")));
        json_decref(root);
    }
    registry_free(r);
    return 0;
}
