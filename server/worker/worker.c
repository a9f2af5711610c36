/* worker.c: see worker.h. */
#include "worker/worker.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/jtext.h"
#include "core/outcome.h"
#include "functions/exec.h"
#include "worker/worker_runtime.h"
#include "core/log.h"

/* The claim of the task this worker runs: an exec function publishes its
 * process group there (wire.h). A worker runs one task at a time. */
static WireClaim *worker_claim;

/* A JSON string for text a function wrote, which may not be valid UTF-8
 * (a message cut mid-character by its buffer, or raw bytes). New reference;
 * never NULL unless out of memory. */
static json_t *
worker_text(const char *text)
{
    size_t len = strlen(text);
    json_t *s;

    /* A cut character is at most 3 bytes long: drop them and try again. */
    for (size_t cut = 0; cut <= 3 && cut <= len; cut++)
        if ((s = json_stringn(text, len - cut)))
            return s;
    return json_string("(the message is not valid UTF-8)");
}

/* The outcome of one call (wire.h): {"r": result}, or {"e": {"type",
 * "message"}} with the "outcome" a failure other than the function's
 * raising stands for. New reference, or NULL when out of memory. */
static json_t *
worker_call(const RegistryFn *fn, const json_t *args, const json_t *kwds, int *failed)
{
    PooldError err = {"", ""};
    json_t *r = fn->kind == REGISTRY_EXEC ? exec_run(fn->impl, args, kwds, worker_claim ? &worker_claim->group : NULL, &err)
                         : fn->fn(args, kwds, &err);
    int timed_out;

    *failed = r == NULL;
    if (r)
        return json_pack("{s:o}", "r", r);
    if (!err.type[0]) /* a function that failed without saying why */
        snprintf(err.type, sizeof(err.type), "RuntimeError");
    /* An exec function's own deadline reads as the call's would. */
    timed_out = fn->kind == REGISTRY_EXEC && strcmp(err.type, "TimedOut") == 0;
    return json_pack("{s:{s:o, s:o, s:o*}}", "e", "type", worker_text(err.type), "message",
                     worker_text(err.message), "outcome", timed_out ? json_integer(OUTCOME_TIMED_OUT) : NULL);
}

/* The function a task names: an apply body's "func", a frame's id
 * (wire.h). NULL when there is none. */
static const RegistryFn *
worker_fn(const Registry *reg, const json_t *task, int body)
{
    const json_t *id = json_array_get(task, 0);

    if (body)
        return registry_find(reg, json_string_value(json_object_get(task, "func")) ?: "");
    if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) > UINT_MAX)
        return NULL;
    return registry_by_id(reg, (unsigned)json_integer_value(id));
}

/* An apply: one call over args, its outcome appended to out and counted
 * in *fails. Returns 0, or -1 when out of memory. */
static int
worker_apply(const RegistryFn *fn, json_t *args, json_t *kwds, WireClaim *progress, json_t *out,
             uint32_t *fails)
{
    json_t *empty = kwds ? NULL : json_object();
    int failed, rc;

    wire_claim_progress(progress, 0, clock_ns());
    rc = json_array_append_new(out, worker_call(fn, args, kwds ? kwds : empty, &failed));
    json_decref(empty);
    *fails = (uint32_t)failed;
    return rc;
}

/* A map or starmap: one call per item, their outcomes appended to out,
 * the failures counted in *fails and the first's index put in *first.
 * Returns 0, or -1 when out of memory. */
static int
worker_map(const RegistryFn *fn, uint32_t mode, json_t *items, WireClaim *progress, json_t *out,
           uint32_t *fails, uint64_t *first)
{
    json_t *empty = json_object(), *args = NULL, *item;
    size_t i;
    int failed;

    json_array_foreach(items, i, item) {
        wire_claim_progress(progress, i, clock_ns());
        if (mode == WIRE_MODE_MAP) {
            json_decref(args);
            args = json_pack("[O]", item);
        }
        /* One outcome per item, always: a missing one would shift every
         * later result onto the wrong input. */
        if (json_array_append_new(out, worker_call(fn, mode == WIRE_MODE_MAP ? args : item, empty, &failed)) < 0)
            break;
        if (failed && (*fails)++ == 0)
            *first = i;
    }
    json_decref(args);
    json_decref(empty);
    return json_array_size(out) == json_array_size(items) ? 0 : -1;
}

/* The result payload of out's outcomes: bare values when none failed
 * (wire.h). NULL when out of memory. */
static char *
worker_encode(json_t *out, uint32_t fails, size_t *len)
{
    json_t *o;
    size_t i;
    char *text;

    if (fails == 0)
        json_array_foreach(out, i, o)
            json_array_set(out, i, json_object_get(o, "r"));
    if ((text = jtext_dumps(out, JSON_COMPACT)))
        *len = strlen(text);
    return text;
}

/* A map or starmap chunk of a runtime function, its items as text: the
 * frame call.c wrote, [id,[items],null], read without a parse. NULL when
 * the task is not one (the general path takes it); else the result
 * payload, as worker_execute returns it. */
static char *
worker_runtime_chunk(const Registry *reg, const char *payload, size_t plen, uint32_t mode,
                     WireClaim *progress, size_t *len, uint32_t *fails, uint64_t *first, int *taken)
{
    static const char tail[] = ",null]";
    const RegistryFn *fn;
    const char *items;
    char *end, *text;
    json_t *out;
    unsigned long id;

    *taken = 0;
    if ((mode != WIRE_MODE_MAP && mode != WIRE_MODE_STARMAP) || plen < 8 || payload[0] != '[' ||
        memcmp(payload + plen - (sizeof(tail) - 1), tail, sizeof(tail) - 1) != 0)
        return NULL;
    id = strtoul(payload + 1, &end, 10);
    if (*end != ',' || id > UINT_MAX || !(fn = registry_by_id(reg, (unsigned)id)) || fn->kind != REGISTRY_RUNTIME)
        return NULL;
    *taken = 1;
    items = end + 1;
    if (!(out = json_array()))
        return NULL;
    text = worker_runtime_run_text(fn, mode, items, (size_t)(payload + plen - (sizeof(tail) - 1) - items),
                                   worker_claim, progress, out, len, fails, first);
    if (!text)
        text = worker_encode(out, *fails, len);
    json_decref(out);
    return text;
}

char *
worker_execute(const Registry *reg, const char *payload, size_t plen,
               uint32_t mode, WireClaim *progress, size_t *len, uint32_t *fails,
               uint64_t *first)
{
    int body = mode == WIRE_MODE_APPLY_BODY, rc, taken;
    char *text;

    *fails = 0;
    *first = 0;
    /* Before any parse: a runtime's chunk goes as the text it is. */
    if ((text = worker_runtime_chunk(reg, payload, plen, mode, progress, len, fails, first, &taken)) || taken)
        return text;
    /* A body is parsed as the HTTP thread parsed it: the same values. */
    json_t *task = json_loadb(payload, plen, body ? POOLD_BODY_JSON_FLAGS : 0, NULL);
    json_t *out = json_array(), *none = NULL;
    json_t *items = body ? json_object_get(task, "args") : json_array_get(task, 1);
    json_t *kwds = body ? json_object_get(task, "kwds") : json_array_get(task, 2);
    const RegistryFn *fn = worker_fn(reg, task, body);

    if (body && task && !items) /* call_parse_apply's default: no arguments */
        items = none = json_array();
    /* The dispatcher only sends what call.c built or checked. */
    if (!task || !out || !fn || !json_is_array(items) || (body && kwds && !json_is_object(kwds)))
        goto cleanup;
    if (!json_is_object(kwds)) /* a frame's null: none */
        kwds = NULL;
    if (fn->kind == REGISTRY_RUNTIME) /* the whole task is one request */
        rc = worker_runtime_run(fn, body ? WIRE_MODE_APPLY : mode, items, kwds, worker_claim, progress, out,
                                fails, first);
    else if (mode == WIRE_MODE_APPLY || body)
        rc = worker_apply(fn, items, kwds, progress, out, fails);
    else
        rc = worker_map(fn, mode, items, progress, out, fails, first);
    if (rc == 0)
        text = worker_encode(out, *fails, len);
cleanup:
    json_decref(none);
    json_decref(task);
    json_decref(out);
    return text;
}

/* Under --worker-cpu-limit, each task gets cpu_limit seconds of CPU from
 * now: SIGXCPU ends the worker at the soft limit. Only the soft limit
 * moves, since a process cannot raise its hard limit again. */
static void
worker_cpu_budget(long cpu_limit)
{
    struct rusage ru;
    struct rlimit rl;

    if (cpu_limit <= 0 || getrusage(RUSAGE_SELF, &ru) != 0 || getrlimit(RLIMIT_CPU, &rl) != 0)
        return;
    /* Whole seconds used, rounded up: the task gets [limit, limit + 1) s. */
    long long used_us = (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
                        ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
    rl.rlim_cur = (rlim_t)((used_us + 999999) / 1000000 + cpu_limit);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
        rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_CPU, &rl);
}

/* Runs one task frame and answers it. Returns 0, or -1 when the worker
 * must exit (socket gone, bad frame). */
static int
worker_task(const WorkerEnv *env, unsigned number, int sock, const WireHeader *h,
            const char *payload)
{
    WireHeader r = {.kind = WIRE_RESULT, .slot = h->slot, .seq = h->seq};
    WireClaim *progress;
    size_t len = 0;
    char *out;
    int rc;

    if (h->kind != WIRE_TASK || h->slot >= env->nclaims)
        return -1;
    if (!wire_claim(&env->claims[h->slot], h->seq, WIRE_CLAIM_STARTED))
        return 0; /* the dispatcher took it back for an idle worker */
    __atomic_store_n(&env->claims[h->slot].started_ns, clock_ns(), __ATOMIC_RELAXED);
    if (h->aux & WIRE_TASK_ANNOUNCE) {
        WireHeader started = {.kind = WIRE_STARTED, .slot = h->slot, .seq = h->seq};
        if (wire_write(sock, &started, "") < 0)
            return -1;
    }
    log_msg(LOG_DEBUG, "task %llu started on ForkPoolWorker-%u pid %d",
            (unsigned long long)h->seq, number, (int)getpid());
    progress = h->aux & WIRE_TASK_TIMED ? &env->claims[h->slot] : NULL;
    worker_cpu_budget(env->cpu_limit);
    worker_runtime_cpu_budget(env->cpu_limit);
    worker_claim = &env->claims[h->slot];
    out = worker_execute(env->reg, payload, h->len, h->mode, progress, &len, &r.mode, &r.aux);
    worker_claim = NULL;
    if (!out) /* a malformed task: the dispatcher only sends what call.c built */
        return -1;
    r.len = (uint32_t)len;
    rc = len > WIRE_MAX_PAYLOAD ? -1 : wire_write(sock, &r, out);
    free(out);
    return rc;
}

/* Heap a worker keeps between tasks rather than give back (mallopt). */
#define WORKER_HEAP_KEEP (32 << 20)

/* jansson's allocator in a worker. Out of memory (--worker-memory-limit,
 * say) mid-parse or mid-dump leaves no sane way on: the worker exits with
 * a status that says why, and its task ends worker_lost saying so. */
static void *
worker_json_malloc(size_t n)
{
    void *p = malloc(n);

    if (!p && n)
        _exit(WIRE_EXIT_NOMEM);
    return p;
}

void
worker_kill_groups(void *arg)
{
    const WorkerEnv *env = arg;

    for (size_t s = 0; s < env->nclaims; s++) {
        int64_t g = __atomic_load_n(&env->claims[s].group, __ATOMIC_ACQUIRE);
        if (g > 0)
            kill(-(pid_t)g, SIGKILL);
    }
}

/* Before the first task: the limits, the plugins' initializers, then the
 * WIRE_READY frame that makes the dispatcher send tasks. Returns 0, or -1
 * when the worker cannot start. */
static int
worker_start(const WorkerEnv *env, unsigned number, int sock)
{
    WireHeader ready = {.kind = WIRE_READY};
    struct rlimit rl = {0, 0};

    /* A crash in a function leaves no core file behind in poold's cwd. */
    setrlimit(RLIMIT_CORE, &rl);
    json_set_alloc_funcs(worker_json_malloc, free);
    /* A task's values are freed at its end and the next task's take the
     * same room: glibc would give the top of the heap back to the kernel
     * past 128 KiB free, and each task fault it in again, page by page
     * (half a map's time in the worker on a VM). */
    mallopt(M_TRIM_THRESHOLD, WORKER_HEAP_KEEP);
    mallopt(M_MMAP_THRESHOLD, WORKER_HEAP_KEEP);
    if (env->memory_limit) {
        rl.rlim_cur = rl.rlim_max = (rlim_t)env->memory_limit;
        if (setrlimit(RLIMIT_AS, &rl) != 0) {
            log_errno(LOG_ERROR, errno, "ForkPoolWorker-%u: cannot set --worker-memory-limit", number);
            return -1;
        }
    }
    if (registry_run_inits(env->reg, number) != SVC_OK) {
        log_msg(LOG_ERROR, "ForkPoolWorker-%u: a plugin's worker initializer failed", number);
        return -1;
    }
    /* Under the limits above, which the runtimes inherit. */
    if (worker_runtime_start(env->reg, number, sock, env->max_result) < 0)
        return -1;
    return wire_write(sock, &ready, "");
}

/* Waits for the socket to be readable, looking after the runtimes'
 * output meanwhile (worker_runtime_idle). Returns 0 when the socket is
 * readable (or there is no runtime: then read blocks), -1 to wait on. */
static int
worker_idle(int sock)
{
    struct pollfd pf[1 + WORKER_RUNTIME_FDS];
    int n;

    pf[0] = (struct pollfd){sock, POLLIN, 0};
    if ((n = worker_runtime_fds(pf + 1, (int)ARRAY_LEN(pf) - 1)) == 0)
        return 0;
    if (poll(pf, (nfds_t)n + 1, -1) < 0)
        return errno == EINTR ? -1 : 0;
    worker_runtime_idle(pf + 1, n);
    return pf[0].revents ? 0 : -1;
}

/* LeakSanitizer's check, in a SANITIZE=1 build: weak, so absent (NULL)
 * from a plain one. */
extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

void
worker_main(unsigned number, int sock, void *arg)
{
    const WorkerEnv *env = arg;
    WireBuf in = {0};
    WireHeader h;
    const char *payload;
    char name[16];
    int rc;

    snprintf(name, sizeof(name), "poold-w%u", number);
    prctl(PR_SET_NAME, name);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    if (worker_start(env, number, sock) < 0)
        _exit(WIRE_EXIT_START);
    for (;;) {
        rc = wire_next(&in, &h, &payload);
        if (rc > 0 && worker_task(env, number, sock, &h, payload) == 0)
            continue;
        if (rc != 0)
            break;
        if (wire_buf_reserve(&in, 64 * 1024) < 0)
            _exit(WIRE_EXIT_NOMEM); /* a frame larger than the memory left */
        if (worker_idle(sock) < 0)
            continue;
        ssize_t n = read(sock, in.data + in.len, in.cap - in.len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* the main process closed our socket: time to go */
        in.len += (size_t)n;
    }
    wire_buf_free(&in);
    worker_runtime_stop();
    /* _exit skips the leak check LeakSanitizer makes at exit. A worker
     * that ends well (retired by --max-tasks-per-child: poold kills the
     * others at its stop) makes it itself, or a leak per task would pass
     * every test; its report goes to poold's log, which the tests read. */
    if (__lsan_do_recoverable_leak_check)
        __lsan_do_recoverable_leak_check();
    _exit(0);
}
