/*
 * forkserver.h: the single-threaded process that forks every worker.
 *
 * Forking a process that has threads leaves the child with the locks those
 * threads held (malloc's, libcurl's, MHD's). So the main process forks this
 * server first, before any thread exists, and asks it for each worker, the
 * first ones and every replacement: Python's "forkserver" start method.
 *
 * The fork server sends back each worker's socket (SCM_RIGHTS) and, since
 * workers are its children and not the main process's, reports their exit
 * statuses. Only the pool talks to it.
 */
#ifndef POOLD_FORKSERVER_H
#define POOLD_FORKSERVER_H

#include <sys/types.h>

/* Runs in a new worker: its number (ForkPoolWorker-N), its end of the
 * socketpair, and the pointer given to forkserver_start. Must not return. */
typedef void (*ForkserverWorkerFn)(unsigned number, int sock, void *arg);

typedef struct Forkserver {
    pid_t pid;
    int fd; /* the main process's end of the control socket */
} Forkserver;

enum { FS_SPAWNED = 1, FS_SPAWN_FAILED = 2, FS_EXITED = 3 };

typedef struct ForkserverEvent {
    int type;        /* FS_* */
    unsigned number; /* FS_SPAWNED, FS_SPAWN_FAILED: the worker number */
    pid_t pid;       /* FS_SPAWNED, FS_EXITED */
    int status;      /* FS_EXITED: wait status; FS_SPAWN_FAILED: errno */
    int fd;          /* FS_SPAWNED: the worker's socket, now the caller's */
    int pidfd;       /* FS_SPAWNED: a pidfd for the worker (the caller's),
                      * or -1 where the kernel has none */
} ForkserverEvent;

/* Runs in the fork server, from a signal handler, when the main process
 * dies however it dies (a second stop signal, SIGKILL): what no worker can
 * clean up once they die with it. Must be async-signal-safe. */
typedef void (*ForkserverCleanupFn)(void *arg);

/* Forks the server. Call before any thread exists. Returns 0 or -1 (errno). */
int forkserver_start(Forkserver *fs, ForkserverWorkerFn fn, ForkserverCleanupFn cleanup, void *arg);

/* Asks for worker `number`, on CPU cpu alone (-1: on any); the answer
 * comes later as an event. Returns 0 or -1 (errno). */
int forkserver_spawn(Forkserver *fs, unsigned number, int cpu);

/* Reads one event. Returns 1 with *ev filled, 0 when none is waiting
 * (the socket is nonblocking), -1 when the fork server is gone. */
int forkserver_read(Forkserver *fs, ForkserverEvent *ev);

/* Closes the control socket, which makes the server kill its workers and
 * exit, and reaps it. */
void forkserver_stop(Forkserver *fs);

#endif
