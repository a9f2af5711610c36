/*
 * plugin.h: loads a plugin (include/poold.h) into the registry.
 *
 * Runs in the main process at start-up, before the fork server exists, so
 * every worker inherits the plugin's code and functions.
 */
#ifndef POOLD_PLUGIN_H
#define POOLD_PLUGIN_H

#include <stddef.h>

#include "functions/registry.h"

/* Opens path, checks its ABI version and runs its entry point, whose
 * functions go into r. Returns SVC_OK, or SVC_ERROR with one line in err
 * naming the plugin and what is wrong. */
int plugin_load(Registry *r, const char *path, char *err, size_t errlen);

#endif
