/*
 * misbehave.c: a plugin for the tests only, whose functions fail the way
 * real code does: they crash, abort, exit, hang, eat memory or CPU. The
 * fault tests load it with --plugin; poold itself never ships it.
 *
 * Its worker initializer misbehaves while a file exists, so a test can
 * start and stop it at will: it crashes while $MISBEHAVE_CRASH_AT_START
 * names an existing file, hangs while $MISBEHAVE_HANG_AT_START does, and
 * returns but has the worker die 5 ms later while $MISBEHAVE_DIE_SOON does.
 * Each run appends "worker-number pid" to the file $MISBEHAVE_INIT_LOG names.
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
    volatile char *p; /* so that the writes are made, not optimised away */

    (void)kwds;
    if (mib <= 0 || mib > 1 << 20)
        return poold_error(err, "ValueError", "alloc(mib): mib must be in [1, 1048576]");
    if (!(p = malloc((size_t)mib << 20)))
        return poold_error(err, "MemoryError", "cannot allocate %lld MiB", (long long)mib);
    for (size_t i = 0; i < (size_t)mib << 20; i += 4096)
        p[i] = 1;
    free((char *)p);
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

/* 1 when the environment variable names an existing file. */
static int
flag(const char *var)
{
    const char *f = getenv(var);

    return f && access(f, F_OK) == 0;
}

static int
misbehave_at_start(unsigned worker)
{
    const char *log = getenv("MISBEHAVE_INIT_LOG");
    FILE *f;

    if (log && (f = fopen(log, "a"))) { /* one line per initializer run */
        fprintf(f, "%u %d\n", worker, (int)getpid());
        fclose(f);
    }
    if (flag("MISBEHAVE_CRASH_AT_START"))
        crash(NULL, NULL, NULL);
    if (flag("MISBEHAVE_HANG_AT_START"))
        for (;;)
            pause();
    if (flag("MISBEHAVE_DIE_SOON")) {
        signal(SIGALRM, SIG_DFL);
        ualarm(5000, 0);
    }
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
           host->on_worker_start(host, misbehave_at_start);
}

POOLD_PLUGIN(setup)
