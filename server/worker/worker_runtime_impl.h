/*
 * worker_runtime_impl.h: what the two halves of a worker's runtimes share,
 * inside worker/ only: worker_runtime.c (the processes: start, stderr,
 * idle, end) and worker_runtime_task.c (a task: its request and answer).
 */
#ifndef POOLD_WORKER_RUNTIME_IMPL_H
#define POOLD_WORKER_RUNTIME_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "functions/runtime.h"
#include "worker/wire.h"

#define WR_LINE 1024 /* the longest stderr line logged whole */
#define WR_TAIL 300  /* the stderr kept for a start failure's reason */
#define WR_GRACE_MS 500 /* a runtime's time to leave after EOF on stdin */

typedef struct WorkerRuntime {
    const RuntimeSpec *spec;
    pid_t pid;
    int reaped;                 /* pid is no longer its: never signal it */
    int in, out, err;           /* our ends of its stdin, stdout, stderr */
    RuntimeLines lines;         /* its stdout */
    char line[WR_LINE + 1];     /* the stderr line being gathered */
    size_t line_len;
    char tail[WR_TAIL + 1];     /* the last of its stderr */
    size_t tail_len;
} WorkerRuntime;

/* The worker's runtimes, by index (RuntimeSpec.index); one process, one
 * thread, so plain globals. */
extern WorkerRuntime *worker_runtime_all;
extern uint64_t worker_runtime_next_id;  /* the last request's id */
extern WireClaim *worker_runtime_claim;  /* the claim of the task running, or NULL */

/* The longest frame an answer of n items may take. */
size_t worker_runtime_frame_max(size_t n);

/* Reads what r wrote on stderr into log lines. */
void worker_runtime_relay(WorkerRuntime *r);

/* How r ended, once its stdout closed, in buf; r is reaped. */
void worker_runtime_ended(WorkerRuntime *r, char *buf, size_t len);

/* The worker cannot go on: says why and exits with status. */
void worker_runtime_die(int status, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));

/* r's next whole frame from stdout (valid until the next read); a runtime
 * that ends, or sends too long a frame, ends the worker with status. */
char *worker_runtime_frame(WorkerRuntime *r, size_t *n, int status);

#endif
