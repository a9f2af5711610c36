/*
 * worker_runtime.h: a worker's warm runtimes (docs/worker-protocol.md).
 * Each runtime the registry has is started with the worker and is ready
 * before the worker says it is; a task of one of its functions is one
 * request and one answer; what it writes on stderr becomes the worker's
 * log lines. A runtime that dies or breaks the protocol takes its worker
 * with it, after a WIRE_NOTE that says how, so that the pool replaces
 * both and the task ends as any lost task does (retried, or a 502).
 * Everything here runs in the worker process, on its one thread.
 */
#ifndef POOLD_WORKER_RUNTIME_H
#define POOLD_WORKER_RUNTIME_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "functions/registry.h"
#include "functions/runtime.h"
#include "worker/wire.h"

/* Starts reg's runtimes for worker `number`, whose socket to the pool is
 * sock, and waits for each to be ready. Returns 0, or -1 after a
 * WIRE_NOTE saying which could not start and why (the worker then exits
 * WIRE_EXIT_START). With no runtime, returns 0 at once. */
int worker_runtime_start(const Registry *reg, unsigned number, int sock, size_t max_result);

/* The most descriptors worker_runtime_fds gives: 2 a runtime. */
#define WORKER_RUNTIME_FDS (2 * RUNTIME_MAX)

/* Puts the descriptors an idle worker watches besides its socket in pf
 * (room for 2 a runtime). Returns how many. */
int worker_runtime_fds(struct pollfd *pf, int room);

/* Handles what poll reported on those descriptors: stderr lines go to the
 * log; anything on stdout, or its end, while no task runs is a broken
 * runtime (the worker exits, WIRE_EXIT_RUNTIME). */
void worker_runtime_idle(const struct pollfd *pf, int n);

/*
 * Runs a task of fn (REGISTRY_RUNTIME) on its runtime: items are the args
 * (mode WIRE_MODE_APPLY, with kwds) or the items (WIRE_MODE_MAP or
 * STARMAP). Appends one outcome per item to out (wire.h), counts the
 * failures in *fails and puts the first's index in *first; progress (may
 * be NULL) gets each item's start, and the claim's group the runtime's
 * process group while it runs. Returns 0, or -1 when out of memory. A
 * runtime that dies or breaks the protocol never returns: the worker
 * exits.
 */
int worker_runtime_run(const RegistryFn *fn, uint32_t mode, const json_t *items, const json_t *kwds,
                       WireClaim *claim, WireClaim *progress, json_t *out, uint32_t *fails,
                       uint64_t *first);

/*
 * A map or starmap chunk of fn (REGISTRY_RUNTIME) whose items are
 * poold's own JSON text (items, len: the array): sent as that text. When
 * every item succeeded and the runtime wrote its values bare, returns
 * them as it wrote them (malloc'd, *plain_len long: the result payload
 * of wire.h, no item parsed and encoded again); else NULL, with the
 * outcomes in out as worker_runtime_run leaves them. Never returns when
 * the runtime breaks.
 */
char *worker_runtime_run_text(const RegistryFn *fn, uint32_t mode, const char *items, size_t len,
                              WireClaim *claim, WireClaim *progress, json_t *out, size_t *plain_len,
                              uint32_t *fails, uint64_t *first);

/* Gives runtime CPU limits of cpu_limit seconds from now, as the worker's
 * own (--worker-cpu-limit). */
void worker_runtime_cpu_budget(long cpu_limit);

/* Ends the runtimes (their stdin closed, their groups killed, reaped): the
 * worker is leaving. */
void worker_runtime_stop(void);

#endif
