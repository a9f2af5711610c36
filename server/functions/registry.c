/* registry.c: see registry.h. A uthash table keyed by name, and an array
 * by id for the workers, which a task names its function to by id. */
#include "functions/registry.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

typedef struct RegistryEntry {
    RegistryFn fn;
    void (*impl_free)(void *); /* frees fn.impl, which the entry owns */
    UT_hash_handle hh;
} RegistryEntry;

struct Registry {
    RegistryEntry *by_name;
    RegistryEntry **by_id;  /* HASH_COUNT(by_name) of them */
    PooldWorkerInit *inits;
    size_t ninits;
    void **handles;
    size_t nhandles;
};


Registry *
registry_new(void)
{
    return calloc(1, sizeof(Registry));
}

static void
registry_entry_free(RegistryEntry *e)
{
    if (e->impl_free)
        e->impl_free((void *)e->fn.impl);
    free((char *)e->fn.name);
    free((char *)e->fn.doc);
    free(e);
}

void
registry_free(Registry *r)
{
    RegistryEntry *e, *tmp;

    if (!r)
        return;
    HASH_ITER(hh, r->by_name, e, tmp) {
        /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): the analyzer misreads uthash */
        HASH_DEL(r->by_name, e);
        registry_entry_free(e);
    }
    free(r->by_id);
    free(r->inits);
    for (size_t i = 0; i < r->nhandles; i++)
        dlclose(r->handles[i]);
    free(r->handles);
    free(r);
}

/* A new entry for name, run by fn or from impl (taken: freed on failure
 * too). NULL when out of memory. */
static RegistryEntry *
registry_entry_new(const char *name, const char *doc, const char *source, PooldFn fn,
                   void *impl, void (*impl_free)(void *))
{
    RegistryEntry *e = calloc(1, sizeof(*e));

    if (!e) {
        if (impl && impl_free)
            impl_free(impl);
        return NULL;
    }
    /* The entry's from here on: registry_entry_free frees it. */
    e->fn.impl = impl;
    e->impl_free = impl_free;
    e->fn.name = strdup(name);
    e->fn.doc = strdup(doc ? doc : "");
    e->fn.source = source;
    e->fn.fn = fn;
    if (!e->fn.name || !e->fn.doc) {
        registry_entry_free(e);
        return NULL;
    }
    return e;
}

/* Puts e in the table under a new id, or in the place (and id) of old. */
static int
registry_put(Registry *r, RegistryEntry *e, RegistryEntry *old)
{
    RegistryEntry **by_id;

    if (old) {
        e->fn.id = old->fn.id;
        HASH_DEL(r->by_name, old);
        registry_entry_free(old);
    } else {
        e->fn.id = HASH_COUNT(r->by_name);
        if (!(by_id = realloc(r->by_id, (e->fn.id + 1) * sizeof(*by_id)))) {
            registry_entry_free(e);
            return SVC_ENOMEM;
        }
        r->by_id = by_id;
    }
    r->by_id[e->fn.id] = e;
    HASH_ADD_KEYPTR(hh, r->by_name, e->fn.name, strlen(e->fn.name), e);
    return SVC_OK;
}

int
registry_add_owned(Registry *r, const RegistryDecl *d, int *hid)
{
    RegistryEntry *e, *old = NULL;
    int named = d->name && *d->name;

    if (named)
        HASH_FIND_STR(r->by_name, d->name, old);
    if (!named || !d->impl || (old && !(d->may_hide_builtin && strcmp(old->fn.source, "builtin") == 0))) {
        if (d->impl && d->impl_free)
            d->impl_free(d->impl);
        return SVC_EINVAL;
    }
    if (!(e = registry_entry_new(d->name, d->doc, d->source, NULL, d->impl, d->impl_free)))
        return SVC_ENOMEM;
    e->fn.kind = d->kind;
    if (hid)
        *hid = old != NULL;
    return registry_put(r, e, old);
}

int
registry_add(Registry *r, const char *name, const char *doc,
             const char *source, PooldFn fn)
{
    RegistryEntry *e;

    if (!name || !*name || !fn || registry_find(r, name))
        return SVC_EINVAL;
    if (!(e = registry_entry_new(name, doc, source, fn, NULL, NULL)))
        return SVC_ENOMEM;
    e->fn.kind = REGISTRY_NATIVE;
    return registry_put(r, e, NULL);
}

unsigned
registry_count(const Registry *r)
{
    return HASH_COUNT(r->by_name);
}

const RegistryFn *
registry_find(const Registry *r, const char *name)
{
    RegistryEntry *e = NULL;

    HASH_FIND_STR(r->by_name, name, e);
    return e ? &e->fn : NULL;
}

const RegistryFn *
registry_by_id(const Registry *r, unsigned id)
{
    return id < HASH_COUNT(r->by_name) ? &r->by_id[id]->fn : NULL;
}

static int
registry_cmp(const void *a, const void *b)
{
    return strcmp((*(RegistryEntry *const *)a)->fn.name,
                  (*(RegistryEntry *const *)b)->fn.name);
}

json_t *
registry_list(const Registry *r)
{
    unsigned n = HASH_COUNT(r->by_name), i = 0;
    RegistryEntry **v = calloc(n ? n : 1, sizeof(*v)), *e, *tmp;
    json_t *out = json_array();

    if (!v || !out) {
        free(v);
        json_decref(out);
        return NULL;
    }
    HASH_ITER(hh, r->by_name, e, tmp)
        v[i++] = e;
    qsort(v, n, sizeof(*v), registry_cmp);
    for (i = 0; i < n; i++)
        json_array_append_new(out, json_pack("{s:s, s:s, s:s}", "name", v[i]->fn.name,
                                             "doc", v[i]->fn.doc, "source", v[i]->fn.source));
    free(v);
    return out;
}

int
registry_add_init(Registry *r, PooldWorkerInit init)
{
    PooldWorkerInit *grown = realloc(r->inits, (r->ninits + 1) * sizeof(*grown));

    if (!grown)
        return SVC_ENOMEM;
    grown[r->ninits++] = init;
    r->inits = grown;
    return SVC_OK;
}

int
registry_run_inits(const Registry *r, unsigned worker_number)
{
    for (size_t i = 0; i < r->ninits; i++)
        if (r->inits[i](worker_number) != 0)
            return SVC_ERROR;
    return SVC_OK;
}

int
registry_keep_handle(Registry *r, void *handle)
{
    void **grown = realloc(r->handles, (r->nhandles + 1) * sizeof(*grown));

    if (!grown)
        return SVC_ENOMEM;
    grown[r->nhandles++] = handle;
    r->handles = grown;
    return SVC_OK;
}
