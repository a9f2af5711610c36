/*
 * worker_runtime.c: see worker_runtime.h. The worker's side of the
 * protocol: starting each runtime and waiting for its ready frame, a task
 * as one request and its answer (with "started" frames between), the
 * runtime's stderr turned into log lines, and the worker's end when a
 * runtime breaks: the note that says how, then _exit.
 */
#include "worker/worker_runtime.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/outcome.h"
#include "functions/runtime.h"

#define WR_LINE 1024 /* the longest stderr line logged whole */
#define WR_TAIL 300  /* the stderr kept for a start failure's reason */

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

/* The worker's runtimes: one process, one thread, so plain statics. */
static WorkerRuntime *wr_all;
static unsigned wr_n;
static unsigned wr_number;
static int wr_sock = -1;
static uint64_t wr_next_id;
static size_t wr_max_result;    /* --max-result: the most one result may take */
static WireClaim *wr_claim;     /* the claim of the task running, or NULL */

/* SIGTERM (the pool stopping the worker, at a timeout): the runtimes'
 * whole groups go first, then the worker dies of the signal. */
static void
wr_on_term(int sig)
{
    for (unsigned i = 0; i < wr_n; i++)
        if (wr_all[i].pid > 0 && !wr_all[i].reaped)
            kill(-wr_all[i].pid, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* The longest frame an answer of n items may take: --max-result a
 * result, as an exec function's, and room for the frame around them. */
static size_t
wr_frame_max(size_t n)
{
    size_t per = wr_max_result + 64;

    return n > (WIRE_MAX_PAYLOAD - 4096) / per ? WIRE_MAX_PAYLOAD : per * n + 4096;
}

/* Keeps the last WR_TAIL bytes of stderr, for a start failure. */
static void
wr_keep_tail(WorkerRuntime *r, const char *s, size_t n)
{
    if (n >= WR_TAIL) {
        s += n - WR_TAIL;
        n = WR_TAIL;
    }
    if (r->tail_len + n > WR_TAIL) {
        size_t drop = r->tail_len + n - WR_TAIL;
        memmove(r->tail, r->tail + drop, r->tail_len - drop);
        r->tail_len -= drop;
    }
    memcpy(r->tail + r->tail_len, s, n);
    r->tail_len += n;
    r->tail[r->tail_len] = '\0';
}

/* Logs the stderr line gathered, tagged with the worker and the runtime. */
static void
wr_log_line(WorkerRuntime *r)
{
    if (r->line_len && r->line[r->line_len - 1] == '\r')
        r->line_len--;
    r->line[r->line_len] = '\0';
    log_msg(LOG_INFO, "ForkPoolWorker-%u %s[%d]: %s", wr_number, r->spec->source, (int)r->pid, r->line);
    wr_keep_tail(r, r->line, r->line_len);
    wr_keep_tail(r, "\n", 1);
    r->line_len = 0;
}

/* Reads what the runtime wrote on stderr into log lines. At its end, the
 * last piece is logged and the descriptor closed. */
static void
wr_relay(WorkerRuntime *r)
{
    char buf[4096];
    ssize_t n;

    while ((n = read(r->err, buf, sizeof(buf))) < 0 && errno == EINTR)
        ;
    if (n < 0 && errno == EAGAIN)
        return;
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == '\n' || r->line_len == WR_LINE) {
            wr_log_line(r);
            if (buf[i] == '\n')
                continue;
        }
        r->line[r->line_len++] = buf[i];
    }
    if (n <= 0) {
        if (r->line_len)
            wr_log_line(r);
        close(r->err);
        r->err = -1;
    }
}

/* How r ended, once its stdout closed: its exit status or signal (killed
 * first if it lingers half a second with stdout closed). Its whole group
 * goes before it is reaped, while its pid still names it (a child it left
 * could hold stderr open for ever), and the task's claim forgets the group
 * before the number can be reused. */
static void
wr_ended(WorkerRuntime *r, char *buf, size_t len)
{
    siginfo_t si = {0};
    int got = -1;

    for (int k = 0; k < 50; k++) {
        si.si_pid = 0;
        if ((got = waitid(P_PID, (id_t)r->pid, &si, WEXITED | WNOHANG | WNOWAIT)) < 0 || si.si_pid)
            break;
        usleep(10000);
    }
    kill(-r->pid, SIGKILL);
    if (got == 0 && !si.si_pid)
        snprintf(buf, len, "closed its stdout");
    else if (got < 0)
        snprintf(buf, len, "is gone");
    else if (si.si_code != CLD_EXITED)
        snprintf(buf, len, "was killed by signal %d (SIG%s)%s", si.si_status, sigabbrev_np(si.si_status) ?: "?",
                 si.si_status == SIGXCPU ? ": it used up its CPU time (--worker-cpu-limit)" : "");
    else
        snprintf(buf, len, "exited with status %d", si.si_status);
    if (wr_claim)
        __atomic_store_n(&wr_claim->group, 0, __ATOMIC_RELEASE);
    while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    r->reaped = 1;
    /* Its last words, as long as they come at once. */
    for (struct pollfd pf = {r->err, POLLIN, 0}; r->err >= 0 && poll(&pf, 1, 200) > 0; pf.fd = r->err)
        wr_relay(r);
}

/* The worker cannot go on: says why (the log, and a WIRE_NOTE the pool
 * reads as the reason), ends the runtimes and exits with status. */
static void __attribute__((noreturn, format(printf, 2, 3)))
wr_die(int status, const char *fmt, ...)
{
    WireHeader h = {.kind = WIRE_NOTE};
    char note[WIRE_NOTE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(note, sizeof(note), fmt, ap);
    va_end(ap);
    /* It ends in JSON (a problem, /readyz): a runtime's bytes that are not
     * UTF-8 would take the whole reason with them. */
    json_t *valid = json_string(note);
    if (!valid)
        for (char *c = note; *c; c++)
            if ((unsigned char)*c >= 0x80)
                *c = '?';
    json_decref(valid);
    log_msg(LOG_ERROR, "ForkPoolWorker-%u: %s", wr_number, note);
    h.len = (uint32_t)strlen(note);
    wire_write(wr_sock, &h, note);
    worker_runtime_stop();
    _exit(status);
}

/* r's next whole frame from stdout (valid until the next read), relaying
 * stderr meanwhile. A runtime that ends or sends too long a frame ends
 * the worker with `status`. */
static char *
wr_frame(WorkerRuntime *r, size_t *n, int status)
{
    char *line, how[160];

    for (;;) {
        if ((line = runtime_lines_next(&r->lines, n)))
            return line;
        if (r->lines.over)
            wr_die(status, "%s (pid %d) broke the protocol: a frame longer than --max-result", r->spec->label,
                   (int)r->pid);
        struct pollfd pf[2] = {{r->out, POLLIN, 0}, {r->err, POLLIN, 0}};
        if (poll(pf, r->err >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
            wr_die(status, "poll: %s", strerror(errno));
        if (r->err >= 0 && pf[1].revents)
            wr_relay(r);
        ssize_t got = pf[0].revents ? runtime_lines_fill(&r->lines, r->out) : -1;
        if (got < 0 && pf[0].revents && errno != EAGAIN)
            wr_die(status, "%s (pid %d): reading its stdout: %s", r->spec->label, (int)r->pid, strerror(errno));
        if (got == 0) {
            wr_ended(r, how, sizeof(how));
            if (status == WIRE_EXIT_START && r->tail_len)
                wr_die(status, "%s %s before it was ready: %s", r->spec->label, how, r->tail);
            wr_die(status, "%s (pid %d) %s%s", r->spec->label, (int)r->pid, how,
                   status == WIRE_EXIT_START ? " before it was ready" : "");
        }
    }
}

/* Starts runtime r and reads its ready frame. */
static void
wr_start_one(WorkerRuntime *r)
{
    char name[64], *extra[] = {name, "POOLD_PROTOCOL=1", NULL}, *line;
    json_t *frame, *fatal;
    size_t n;
    int fds[3];

    snprintf(name, sizeof(name), "POOLD_WORKER_NAME=ForkPoolWorker-%u", wr_number);
    if ((r->pid = runtime_spawn(r->spec, extra, fds)) < 0)
        wr_die(WIRE_EXIT_START, "%s: cannot start: %s", r->spec->label, strerror(errno));
    r->in = fds[0], r->out = fds[1], r->err = fds[2];
    line = wr_frame(r, &n, WIRE_EXIT_START);
    frame = json_loadb(line, n, 0, NULL);
    fatal = json_object_get(frame, "fatal");
    if (json_is_object(fatal)) {
        char how[160];
        wr_ended(r, how, sizeof(how)); /* its stderr's last words logged first */
        wr_die(WIRE_EXIT_START, "%s cannot start: %s: %s", r->spec->label,
               json_string_value(json_object_get(fatal, "type")) ?: "Error",
               json_string_value(json_object_get(fatal, "message")) ?: "");
    }
    if (!json_is_object(json_object_get(frame, "ready")))
        wr_die(WIRE_EXIT_START, "%s: its first frame is not {\"ready\": ...}", r->spec->label);
    if (json_integer_value(json_object_get(json_object_get(frame, "ready"), "protocol")) != 1)
        wr_die(WIRE_EXIT_START, "%s: it speaks another protocol than poold's (1)", r->spec->label);
    json_decref(frame);
}

int
worker_runtime_start(const Registry *reg, unsigned number, int sock, size_t max_result)
{
    wr_number = number;
    wr_sock = sock;
    wr_max_result = max_result;
    if ((wr_n = runtime_count(reg)) == 0)
        return 0;
    if (!(wr_all = calloc(wr_n, sizeof(*wr_all))))
        wr_die(WIRE_EXIT_START, "out of memory");
    signal(SIGTERM, wr_on_term);
    for (unsigned i = 0; i < wr_n; i++) {
        wr_all[i] = (WorkerRuntime){.spec = runtime_at(reg, i), .in = -1, .out = -1, .err = -1};
        wr_all[i].lines.max = wr_frame_max(1);
        wr_start_one(&wr_all[i]);
    }
    return 0;
}

int
worker_runtime_fds(struct pollfd *pf, int room)
{
    int n = 0;

    for (unsigned i = 0; i < wr_n && n + 2 <= room; i++) {
        pf[n++] = (struct pollfd){wr_all[i].out, POLLIN, 0};
        pf[n++] = (struct pollfd){wr_all[i].err, POLLIN, 0};
    }
    return n;
}

void
worker_runtime_idle(const struct pollfd *pf, int n)
{
    char how[160];

    for (int k = 0; k + 1 < n; k += 2) {
        WorkerRuntime *r = &wr_all[k / 2];
        if (pf[k + 1].revents && r->err >= 0)
            wr_relay(r);
        if (!pf[k].revents)
            continue;
        if (runtime_lines_fill(&r->lines, r->out) != 0)
            wr_die(WIRE_EXIT_RUNTIME, "%s (pid %d) broke the protocol: it wrote on stdout while no task ran",
                   r->spec->label, (int)r->pid);
        wr_ended(r, how, sizeof(how));
        wr_die(WIRE_EXIT_RUNTIME, "%s %s while idle", r->spec->label, how);
    }
}

/* The request of a task (docs/worker-protocol.md), as JSON text; NULL
 * when out of memory. */
static char *
wr_request(const RuntimeFn *f, uint64_t id, uint32_t mode, const json_t *items, const json_t *kwds,
           int progress)
{
    json_t *req = json_pack("{s:I, s:s}", "id", (json_int_t)id, "func", f->name);
    char *text = NULL;

    if (!req)
        return NULL;
    if (mode == WIRE_MODE_MAP || mode == WIRE_MODE_STARMAP) {
        json_object_set(req, mode == WIRE_MODE_MAP ? "map" : "starmap", (json_t *)items);
    } else {
        json_object_set(req, "args", (json_t *)items);
        json_object_set_new(req, "kwds", kwds ? json_incref((json_t *)kwds) : json_object());
    }
    if (progress)
        json_object_set_new(req, "progress", json_true());
    text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    return text;
}

/* Writes text and its newline to r's stdin, relaying its stderr while the
 * pipe is full. A runtime gone ends the worker. */
static void
wr_send(WorkerRuntime *r, const char *text)
{
    size_t len = strlen(text), off = 0;
    char how[160];

    while (off <= len) {
        ssize_t w = off < len ? write(r->in, text + off, len - off) : write(r->in, "\n", 1);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            struct pollfd pf[2] = {{r->in, POLLOUT, 0}, {r->err, POLLIN, 0}};
            if (poll(pf, r->err >= 0 ? 2 : 1, -1) > 0 && r->err >= 0 && pf[1].revents)
                wr_relay(r);
            continue;
        }
        wr_ended(r, how, sizeof(how));
        wr_die(WIRE_EXIT_RUNTIME, "%s (pid %d) %s while it was sent the task", r->spec->label, (int)r->pid,
               how);
    }
}

/* One outcome of an answer, as the worker's (wire.h): {"r": v}, or {"e":
 * {"type", "message", "traceback"}}. New reference; NULL when it is
 * neither. */
static json_t *
wr_outcome(json_t *o)
{
    json_t *e = json_object_get(o, "e"), *tb;

    if (json_object_get(o, "r") && !e)
        return json_pack("{s:O}", "r", json_object_get(o, "r"));
    if (!json_is_object(e))
        return NULL;
    tb = json_object_get(e, "traceback");
    return json_pack("{s:{s:s, s:s, s:s}}", "e", "type", json_string_value(json_object_get(e, "type")) ?: "Error",
                     "message", json_string_value(json_object_get(e, "message")) ?: "", "traceback",
                     json_is_string(tb) ? json_string_value(tb) : "");
}

/* Takes the outcomes of an answer's results into out. */
static void
wr_outcomes(WorkerRuntime *r, json_t *results, json_t *out, uint32_t *fails, uint64_t *first)
{
    json_t *o, *mine;
    size_t k;

    json_array_foreach(results, k, o) {
        if (!(mine = wr_outcome(o)))
            wr_die(WIRE_EXIT_RUNTIME, "%s (pid %d) broke the protocol: result %zu is neither {\"r\": ...} "
                   "nor {\"e\": {...}}", r->spec->label, (int)r->pid, k);
        if (json_object_get(mine, "e") && (*fails)++ == 0)
            *first = k;
        if (json_array_append_new(out, mine) < 0)
            wr_die(WIRE_EXIT_NOMEM, "out of memory");
    }
}

/* Takes the values of an answer where every item succeeded into out. */
static void
wr_values(json_t *values, json_t *out)
{
    json_t *v;
    size_t k;

    json_array_foreach(values, k, v)
        if (json_array_append_new(out, json_pack("{s:O}", "r", v)) < 0)
            wr_die(WIRE_EXIT_NOMEM, "out of memory");
}

/* Reads r's answer to request id: its "started" frames mark progress, its
 * results go to out. Anything else ends the worker. */
static void
wr_answer(WorkerRuntime *r, uint64_t id, size_t nitems, WireClaim *progress, json_t *out, uint32_t *fails,
          uint64_t *first)
{
    /* Each item's start, in order and once: a runtime that could say an
     * item started again would never run past its timeout. */
    json_int_t next_started = 1;

    for (;;) {
        size_t n;
        char *line = wr_frame(r, &n, WIRE_EXIT_RUNTIME);
        json_t *frame = json_loadb(line, n, 0, NULL), *fid = json_object_get(frame, "id");
        json_t *started = json_object_get(frame, "started"), *results = json_object_get(frame, "results");
        if (!json_is_object(frame))
            wr_die(WIRE_EXIT_RUNTIME, "%s (pid %d) broke the protocol: a line on stdout that is not a JSON object",
                   r->spec->label, (int)r->pid);
        if (!json_is_integer(fid))
            wr_die(WIRE_EXIT_RUNTIME, "%s (pid %d) broke the protocol: a frame without an id, in answer to "
                   "request %llu", r->spec->label, (int)r->pid, (unsigned long long)id);
        if ((uint64_t)json_integer_value(fid) != id)
            wr_die(WIRE_EXIT_RUNTIME, "%s (pid %d) broke the protocol: a frame for request %lld, not %llu",
                   r->spec->label, (int)r->pid, (long long)json_integer_value(fid), (unsigned long long)id);
        if (started && (!json_is_integer(started) || json_integer_value(started) != next_started ||
                        (size_t)next_started >= nitems))
            wr_die(WIRE_EXIT_RUNTIME, "%s (pid %d) broke the protocol: {\"started\": %s} where item %lld "
                   "was next", r->spec->label, (int)r->pid, json_is_integer(started) ? "an item out of turn" : "?",
                   (long long)next_started);
        if (started) {
            wire_claim_progress(progress, (size_t)next_started++, clock_ns());
            json_decref(frame);
            continue;
        }
        /* Every item's value, bare ({"values"}), or an outcome each. */
        json_t *values = json_object_get(frame, "values");
        if (!json_is_array(values ? values : results) || json_array_size(values ? values : results) != nitems)
            wr_die(WIRE_EXIT_RUNTIME, "%s (pid %d) broke the protocol: an answer without one result for each "
                   "of its %zu items", r->spec->label, (int)r->pid, nitems);
        if (values)
            wr_values(values, out);
        else
            wr_outcomes(r, results, out, fails, first);
        json_decref(frame);
        return;
    }
}

int
worker_runtime_run(const RegistryFn *fn, uint32_t mode, const json_t *items, const json_t *kwds,
                   WireClaim *claim, WireClaim *progress, json_t *out, uint32_t *fails, uint64_t *first)
{
    const RuntimeFn *f = fn->impl;
    WorkerRuntime *r = &wr_all[f->spec->index];
    uint64_t id = ++wr_next_id;
    size_t nitems = mode == WIRE_MODE_MAP || mode == WIRE_MODE_STARMAP ? json_array_size(items) : 1;
    char *text = wr_request(f, id, mode, items, kwds, progress != NULL);

    if (!text)
        return -1;
    /* Whoever kills the worker at a deadline takes the group too. */
    if ((wr_claim = claim))
        __atomic_store_n(&claim->group, (int64_t)r->pid, __ATOMIC_RELEASE);
    wire_claim_progress(progress, 0, clock_ns());
    wr_send(r, text);
    free(text);
    r->lines.max = wr_frame_max(nitems);
    wr_answer(r, id, nitems, progress, out, fails, first);
    r->lines.max = wr_frame_max(1);
    if (claim)
        __atomic_store_n(&claim->group, 0, __ATOMIC_RELEASE);
    wr_claim = NULL;
    return 0;
}

/* The CPU seconds pid has used (rounded up), from /proc/PID/stat's
 * fields 14 and 15; -1 when they cannot be read. */
static long
wr_cpu_used(pid_t pid)
{
    char path[64], stat[1024], *p, *save = NULL, *tok, *end;
    unsigned long ticks = 0, n;
    long hz = sysconf(_SC_CLK_TCK);
    int seen = 0;
    size_t got;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (hz <= 0 || !(f = fopen(path, "r")))
        return -1;
    got = fread(stat, 1, sizeof(stat) - 1, f);
    fclose(f);
    stat[got] = '\0';
    /* The fields after the command's closing paren start at field 3. */
    if (!(p = strrchr(stat, ')')))
        return -1;
    tok = strtok_r(p + 1, " ", &save);
    for (int field = 3; tok && field <= 15; field++, tok = strtok_r(NULL, " ", &save)) {
        if (field < 14)
            continue;
        n = strtoul(tok, &end, 10);
        if (*end)
            return -1;
        ticks += n;
        seen++;
    }
    return seen == 2 ? (long)((ticks + (unsigned long)hz - 1) / (unsigned long)hz) : -1;
}

void
worker_runtime_cpu_budget(long cpu_limit)
{
    for (unsigned i = 0; cpu_limit > 0 && i < wr_n; i++) {
        long used = wr_cpu_used(wr_all[i].pid);
        struct rlimit rl;
        if (used < 0 || prlimit(wr_all[i].pid, RLIMIT_CPU, NULL, &rl) != 0)
            continue;
        rl.rlim_cur = (rlim_t)(used + cpu_limit);
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
            rl.rlim_cur = rl.rlim_max;
        prlimit(wr_all[i].pid, RLIMIT_CPU, &rl, NULL);
    }
}

void
worker_runtime_stop(void)
{
    unsigned n = wr_n;

    wr_n = 0; /* the SIGTERM handler looks no more */
    for (unsigned i = 0; i < n; i++) {
        WorkerRuntime *r = &wr_all[i];
        if (r->in >= 0)
            close(r->in); /* EOF: a runtime's cue to leave */
        if (r->pid > 0 && !r->reaped) {
            kill(-r->pid, SIGKILL);
            while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
                ;
        }
        if (r->out >= 0)
            close(r->out);
        if (r->err >= 0)
            close(r->err);
        runtime_lines_free(&r->lines);
    }
    free(wr_all);
    wr_all = NULL;
    wr_n = 0;
}
