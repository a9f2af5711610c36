/* spawn.c: see spawn.h. */
#include "functions/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/* Drops every POOLD_* variable: poold's settings are not the command's. */
static void
spawn_clean_env(void)
{
    extern char **environ;

    for (size_t i = 0; environ && environ[i];) {
        char name[256];
        size_t n = strcspn(environ[i], "=");
        if (strncmp(environ[i], "POOLD_", 6) == 0 && n < sizeof(name)) {
            memcpy(name, environ[i], n);
            name[n] = '\0';
            unsetenv(name); /* environ shifts down: look at i again */
        } else {
            i++;
        }
    }
}

void
spawn_exec(const SpawnSpec *s, pid_t parent, const int fds[3])
{
    sigset_t none;
    int fd[3];

    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Above 2 first, so that no dup2 below overwrites a source (poold may
     * have started with a standard descriptor closed). */
    for (int k = 0; k < 3; k++)
        fd[k] = fcntl(fds[k], F_DUPFD, 3);
    for (int k = 0; k < 3; k++)
        if (fd[k] < 0 || dup2(fd[k], k) < 0)
            _exit(126);
    close_range(3, ~0u, 0);
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    spawn_clean_env();
    for (char *const *e = s->env; e && *e; e++)
        putenv(*e);
    for (char *const *e = s->extra; e && *e; e++)
        putenv(*e);
    if (s->cwd && chdir(s->cwd) != 0) {
        dprintf(2, "cannot enter %s: %s\n", s->cwd, strerror(errno));
        _exit(127);
    }
    /* The parent died before PR_SET_PDEATHSIG took. Its orphans go to the
     * fork server (a subreaper), not to init: so compare with the parent,
     * never with 1. */
    if (getppid() != parent)
        _exit(126);
    execvp(s->argv[0], s->argv);
    dprintf(2, "cannot run %s: %s\n", s->argv[0], strerror(errno));
    _exit(127);
}
