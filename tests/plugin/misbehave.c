/*
 * misbehave.c: a plugin for the tests only, whose functions fail the way
 * real code does: they crash, abort, exit, hang, eat memory or CPU. The
 * fault tests load it with --plugin; poold itself never ships it.
 *
 * Its worker initializer crashes while the file named by
 * $MISBEHAVE_CRASH_AT_START exists, so a test can start and stop a crash
 * loop at will.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <poold.h>

/* A real SIGSEGV: the default action, not a sanitizer's handler. */
static json_t *
crash(const json_t *args, const json_t *kwds, PooldError *err)
{
    (void)args, (void)kwds, (void)err;
    signal(SIGSEGV, SIG_DFL);
    raise(SIGSEGV);
    return NULL;
}

static json_t *
do_abort(const json_t *args, const json_t *kwds, PooldError *err)
{
    (void)args, (void)kwds, (void)err;
    abort();
}

static json_t *
do_exit(const json_t *args, const json_t *kwds, PooldError *err)
{
    (void)args, (void)kwds, (void)err;
    exit(3);
}

/* Ignores SIGTERM and never returns: only SIGKILL ends it. */
__attribute__((noreturn)) static json_t *
hang(const json_t *args, const json_t *kwds, PooldError *err)
{
    (void)args, (void)kwds, (void)err;
    signal(SIGTERM, SIG_IGN);
    for (;;)
        pause();
}

/* alloc(mib): allocates and touches mib MiB, then frees them. */
static json_t *
alloc(const json_t *args, const json_t *kwds, PooldError *err)
{
    json_int_t mib = json_integer_value(json_array_get(args, 0));
    char *p;

    (void)kwds;
    if (mib <= 0 || mib > 1 << 20)
        return poold_error(err, "ValueError", "alloc(mib): mib must be in [1, 1048576]");
    if (!(p = malloc((size_t)mib << 20)))
        return poold_error(err, "MemoryError", "cannot allocate %lld MiB", (long long)mib);
    memset(p, 1, (size_t)mib << 20);
    free(p);
    return json_integer(mib);
}

/* spin(seconds): burns that much CPU time, then returns it. */
static json_t *
spin(const json_t *args, const json_t *kwds, PooldError *err)
{
    double s = json_number_value(json_array_get(args, 0));
    clock_t start = clock();
    volatile unsigned long n = 0;

    (void)kwds, (void)err;
    while ((double)(clock() - start) / CLOCKS_PER_SEC < s)
        for (int i = 0; i < 100000; i++)
            n++;
    return json_real(s);
}

/* pid(): the worker's process id, to tell workers apart. */
static json_t *
pid(const json_t *args, const json_t *kwds, PooldError *err)
{
    (void)args, (void)kwds, (void)err;
    return json_integer(getpid());
}

static int
crash_at_start(unsigned worker)
{
    const char *f = getenv("MISBEHAVE_CRASH_AT_START");

    (void)worker;
    if (f && access(f, F_OK) == 0)
        crash(NULL, NULL, NULL);
    return 0;
}

static int
setup(PooldHost *host)
{
    return host->add(host, "crash", "crash(): dies of SIGSEGV", crash) ||
           host->add(host, "abort", "abort(): dies of SIGABRT", do_abort) ||
           host->add(host, "exit", "exit(): the worker exits with status 3", do_exit) ||
           host->add(host, "hang", "hang(): ignores SIGTERM, never returns", hang) ||
           host->add(host, "alloc", "alloc(mib): allocates mib MiB", alloc) ||
           host->add(host, "spin", "spin(seconds): burns CPU", spin) ||
           host->add(host, "pid", "pid(): the worker's process id", pid) ||
           host->on_worker_start(host, crash_at_start);
}

POOLD_PLUGIN(setup)
