/*
 * registry.h: the functions poold can run, by name.
 *
 * Built once in the main process before the fork server starts, then only
 * read: workers inherit it through fork, handlers look names up in it.
 * Reads need no lock because nothing writes after start-up.
 */
#ifndef POOLD_REGISTRY_H
#define POOLD_REGISTRY_H

#include <jansson.h>

#include "core/common.h"
#include "poold.h"

/* How a function runs, in the worker. */
typedef enum {
    REGISTRY_NATIVE,  /* fn, in the worker's own process: builtin, plugin */
    REGISTRY_EXEC,    /* impl is an ExecSpec (exec.h): a command per call */
    REGISTRY_RUNTIME, /* impl is a RuntimeFn (runtime.h): a warm runtime */
} RegistryKind;

typedef struct RegistryFn {
    const char *name;
    const char *doc;
    const char *source; /* "builtin", "plugin", "exec", "python"...: as
                         * GET /v1/functions shows it */
    RegistryKind kind;
    PooldFn fn;         /* REGISTRY_NATIVE */
    const void *impl;   /* the others: what the worker runs it from, as
                         * kind says; owned by the registry, which knows
                         * only how to free it */
    unsigned id;        /* 0, 1, ... in the order added: a slot in arrays
                         * kept per function (metrics.h) */
} RegistryFn;

/* A function declared by the operator, run from impl. */
typedef struct RegistryDecl {
    const char *name, *doc, *source; /* copied */
    RegistryKind kind;
    void *impl;                      /* taken, even on failure */
    void (*impl_free)(void *);
    int may_hide_builtin;            /* may take a built-in's name (and id) */
} RegistryDecl;

Registry *registry_new(void);
void registry_free(Registry *r);

/* Copies name and doc. Returns SVC_OK, SVC_EINVAL for a name taken twice
 * or an empty one, or SVC_ENOMEM. */
int registry_add(Registry *r, const char *name, const char *doc,
                 const char *source, PooldFn fn);

/* Adds d's function; d->impl is the registry's from the call on, freed
 * with d->impl_free (with the registry, or at once on failure). A name
 * taken by a built-in, when d->may_hide_builtin, is taken over: the
 * built-in is gone, its id is the new function's, and *hid is set to 1
 * (hid may be NULL). Returns SVC_OK, SVC_EINVAL for a name taken (or
 * empty), or SVC_ENOMEM. */
int registry_add_owned(Registry *r, const RegistryDecl *d, int *hid);

/* How many functions there are: their ids are 0 to this less one. */
unsigned registry_count(const Registry *r);

/* Borrowed pointer, valid for the registry's life; NULL when unknown. */
const RegistryFn *registry_find(const Registry *r, const char *name);

/* The function of that id (RegistryFn.id), as registry_find; NULL when
 * there is none. */
const RegistryFn *registry_by_id(const Registry *r, unsigned id);

/* New reference: [{name, doc, source}, ...] sorted by name. */
json_t *registry_list(const Registry *r);

/* Adds a per-worker initializer (run in registration order). Returns
 * SVC_OK or SVC_ENOMEM. */
int registry_add_init(Registry *r, PooldWorkerInit init);

/* In a new worker: runs every initializer. Returns SVC_OK, or SVC_ERROR
 * at the first that fails. */
int registry_run_inits(const Registry *r, unsigned worker_number);

/* Keeps a dlopen handle, closed with the registry: the code of the
 * functions it registered lives there. Returns SVC_OK or SVC_ENOMEM. */
int registry_keep_handle(Registry *r, void *handle);

/* Adds the built-in C functions (builtins.c). */
int builtins_register(Registry *r);

#endif
