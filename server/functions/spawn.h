/*
 * spawn.h: the child side of starting a declared command (an exec
 * function's, a runtime's): what it inherits and what it does not.
 */
#ifndef POOLD_SPAWN_H
#define POOLD_SPAWN_H

#include <sys/types.h>

typedef struct SpawnSpec {
    char *const *argv;  /* NULL-terminated; argv[0] looked up in PATH */
    char *const *env;   /* "NAME=value" set over poold's environment; may be NULL */
    char *const *extra; /* more of them, set last; may be NULL */
    const char *cwd;    /* NULL: poold's */
} SpawnSpec;

/*
 * In a child just forked by parent: fds (stdin, stdout, stderr) become its
 * standard descriptors and nothing else is inherited (no other descriptor,
 * no ignored or blocked signal, no POOLD_* setting but s->extra's); its own
 * process group, and it dies with parent. Then execs s->argv. Never
 * returns: 126 or 127 when it cannot run, as a shell would.
 */
void spawn_exec(const SpawnSpec *s, pid_t parent, const int fds[3]) __attribute__((noreturn));

#endif
