/* plugin.c: see plugin.h. */
#include "functions/plugin.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

/* What the host callbacks need while one plugin's entry point runs. */
typedef struct PluginLoad {
    Registry *reg;
    const char *path;
    char *err;
    size_t errlen;
    int failed;       /* a host call failed: the load fails, whatever the
                       * entry point returns */
} PluginLoad;

static int
plugin_add(PooldHost *host, const char *name, const char *doc, PooldFn fn)
{
    PluginLoad *l = host->ctx;
    int rc = registry_add(l->reg, name, doc, "plugin", fn);

    if (rc == SVC_OK)
        return 0;
    if (!l->failed && rc == SVC_EINVAL)
        snprintf(l->err, l->errlen, "--plugin %s: cannot register '%s': %s", l->path, name ? name : "(null)",
                 name && *name && fn ? "the name is taken" : "a name and a function are required");
    else if (!l->failed)
        snprintf(l->err, l->errlen, "--plugin %s: out of memory", l->path);
    l->failed = 1;
    return -1;
}

static int
plugin_on_worker_start(PooldHost *host, PooldWorkerInit init)
{
    PluginLoad *l = host->ctx;

    if (init && registry_add_init(l->reg, init) == SVC_OK)
        return 0;
    if (!l->failed)
        snprintf(l->err, l->errlen, "--plugin %s: cannot add its worker initializer", l->path);
    l->failed = 1;
    return -1;
}

int
plugin_load(Registry *r, const char *path, char *err, size_t errlen)
{
    PluginLoad l = {.reg = r, .path = path, .err = err, .errlen = errlen};
    PooldHost host = {.abi_version = POOLD_ABI_VERSION, .ctx = &l, .add = plugin_add,
                      .on_worker_start = plugin_on_worker_start};
    char local[4096];
    void *h;
    const unsigned *abi;
    int (*init)(PooldHost *);

    /* A bare name is a file here, not a library for the loader to search. */
    snprintf(local, sizeof(local), "%s%s", strchr(path, '/') ? "" : "./", path);
    h = dlopen(local, RTLD_NOW | RTLD_LOCAL);
    err[0] = '\0';
    if (!h) {
        snprintf(err, errlen, "--plugin %s: %s", path, dlerror());
        return SVC_ERROR;
    }
    abi = dlsym(h, "poold_plugin_abi");
    *(void **)&init = dlsym(h, "poold_plugin_init");
    if (!abi || !init) {
        snprintf(err, errlen, "--plugin %s: not a poold plugin (no POOLD_PLUGIN entry point)", path);
    } else if (*abi != POOLD_ABI_VERSION) {
        snprintf(err, errlen, "--plugin %s: built for plugin ABI %u, this poold has ABI %u: rebuild it "
                 "against this poold.h", path, *abi, (unsigned)POOLD_ABI_VERSION);
    } else if (init(&host) != 0 || l.failed) {
        if (!l.failed)
            snprintf(err, errlen, "--plugin %s: its entry point failed", path);
    } else if (registry_keep_handle(r, h) == SVC_OK) {
        return SVC_OK;
    } else {
        snprintf(err, errlen, "--plugin %s: out of memory", path);
    }
    /* Its functions may already be in the registry: start-up stops, and
     * the registry is freed before anything could call them. */
    dlclose(h);
    return SVC_ERROR;
}
