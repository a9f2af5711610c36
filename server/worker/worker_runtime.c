/*
 * worker_runtime.c: see worker_runtime.h. The worker's side of the
 * protocol: starting each runtime and waiting for its ready frame, a task
 * as one request and its answer (with "started" frames between), the
 * runtime's stderr turned into log lines, and the worker's end when a
 * runtime breaks: the note that says how, then _exit.
 */
#include "worker/worker_runtime.h"

#include <errno.h>
#include <poll.h>
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
#include "worker/worker_runtime_impl.h"

/* The worker's runtimes: one process, one thread, so plain statics. */
WorkerRuntime *worker_runtime_all;
static unsigned wr_n;
static unsigned wr_number;
static int wr_sock = -1;
uint64_t worker_runtime_next_id;
static size_t wr_max_result;    /* --max-result: the most one result may take */
WireClaim *worker_runtime_claim;     /* the claim of the task running, or NULL */

/* SIGTERM (the pool stopping the worker, at a timeout): the runtimes'
 * whole groups go first, then the worker dies of the signal. */
static void
wr_on_term(int sig)
{
    for (unsigned i = 0; i < wr_n; i++)
        if (worker_runtime_all[i].pid > 0 && !worker_runtime_all[i].reaped)
            kill(-worker_runtime_all[i].pid, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* The longest frame an answer of n items may take: --max-result a
 * result, as an exec function's, and room for the frame around them. */
size_t
worker_runtime_frame_max(size_t n)
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
void
worker_runtime_relay(WorkerRuntime *r)
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
void
worker_runtime_ended(WorkerRuntime *r, char *buf, size_t len)
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
    if (worker_runtime_claim)
        __atomic_store_n(&worker_runtime_claim->group, 0, __ATOMIC_RELEASE);
    while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    r->reaped = 1;
    /* Its last words, as long as they come at once. */
    for (struct pollfd pf = {r->err, POLLIN, 0}; r->err >= 0 && poll(&pf, 1, 200) > 0; pf.fd = r->err)
        worker_runtime_relay(r);
}

/* The worker cannot go on: says why (the log, and a WIRE_NOTE the pool
 * reads as the reason), ends the runtimes and exits with status. */
void
worker_runtime_die(int status, const char *fmt, ...)
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
char *
worker_runtime_frame(WorkerRuntime *r, size_t *n, int status)
{
    char *line, how[160];

    for (;;) {
        if ((line = runtime_lines_next(&r->lines, n)))
            return line;
        if (r->lines.over)
            worker_runtime_die(status, "%s (pid %d) broke the protocol: a frame longer than --max-result", r->spec->label,
                   (int)r->pid);
        struct pollfd pf[2] = {{r->out, POLLIN, 0}, {r->err, POLLIN, 0}};
        if (poll(pf, r->err >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
            worker_runtime_die(status, "poll: %s", strerror(errno));
        if (r->err >= 0 && pf[1].revents)
            worker_runtime_relay(r);
        ssize_t got = pf[0].revents ? runtime_lines_fill(&r->lines, r->out) : -1;
        if (got < 0 && pf[0].revents && errno != EAGAIN)
            worker_runtime_die(status, "%s (pid %d): reading its stdout: %s", r->spec->label, (int)r->pid, strerror(errno));
        if (got == 0) {
            worker_runtime_ended(r, how, sizeof(how));
            if (status == WIRE_EXIT_START && r->tail_len)
                worker_runtime_die(status, "%s %s before it was ready: %s", r->spec->label, how, r->tail);
            worker_runtime_die(status, "%s (pid %d) %s%s", r->spec->label, (int)r->pid, how,
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
        worker_runtime_die(WIRE_EXIT_START, "%s: cannot start: %s", r->spec->label, strerror(errno));
    r->in = fds[0], r->out = fds[1], r->err = fds[2];
    line = worker_runtime_frame(r, &n, WIRE_EXIT_START);
    frame = json_loadb(line, n, 0, NULL);
    fatal = json_object_get(frame, "fatal");
    if (json_is_object(fatal)) {
        char how[160];
        worker_runtime_ended(r, how, sizeof(how)); /* its stderr's last words logged first */
        worker_runtime_die(WIRE_EXIT_START, "%s cannot start: %s: %s", r->spec->label,
               json_string_value(json_object_get(fatal, "type")) ?: "Error",
               json_string_value(json_object_get(fatal, "message")) ?: "");
    }
    if (!json_is_object(json_object_get(frame, "ready")))
        worker_runtime_die(WIRE_EXIT_START, "%s: its first frame is not {\"ready\": ...}", r->spec->label);
    if (json_integer_value(json_object_get(json_object_get(frame, "ready"), "protocol")) != 1)
        worker_runtime_die(WIRE_EXIT_START, "%s: it speaks another protocol than poold's (1)", r->spec->label);
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
    if (!(worker_runtime_all = calloc(wr_n, sizeof(*worker_runtime_all))))
        worker_runtime_die(WIRE_EXIT_START, "out of memory");
    signal(SIGTERM, wr_on_term);
    for (unsigned i = 0; i < wr_n; i++) {
        worker_runtime_all[i] = (WorkerRuntime){.spec = runtime_at(reg, i), .in = -1, .out = -1, .err = -1};
        worker_runtime_all[i].lines.max = worker_runtime_frame_max(1);
        wr_start_one(&worker_runtime_all[i]);
    }
    return 0;
}

int
worker_runtime_fds(struct pollfd *pf, int room)
{
    int n = 0;

    for (unsigned i = 0; i < wr_n && n + 2 <= room; i++) {
        pf[n++] = (struct pollfd){worker_runtime_all[i].out, POLLIN, 0};
        pf[n++] = (struct pollfd){worker_runtime_all[i].err, POLLIN, 0};
    }
    return n;
}

void
worker_runtime_idle(const struct pollfd *pf, int n)
{
    char how[160];

    for (int k = 0; k + 1 < n; k += 2) {
        WorkerRuntime *r = &worker_runtime_all[k / 2];
        if (pf[k + 1].revents && r->err >= 0)
            worker_runtime_relay(r);
        if (!pf[k].revents)
            continue;
        if (runtime_lines_fill(&r->lines, r->out) != 0)
            worker_runtime_die(WIRE_EXIT_RUNTIME, "%s (pid %d) broke the protocol: it wrote on stdout while no task ran",
                   r->spec->label, (int)r->pid);
        worker_runtime_ended(r, how, sizeof(how));
        worker_runtime_die(WIRE_EXIT_RUNTIME, "%s %s while idle", r->spec->label, how);
    }
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
        long used = wr_cpu_used(worker_runtime_all[i].pid);
        struct rlimit rl;
        if (used < 0 || prlimit(worker_runtime_all[i].pid, RLIMIT_CPU, NULL, &rl) != 0)
            continue;
        rl.rlim_cur = (rlim_t)(used + cpu_limit);
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
            rl.rlim_cur = rl.rlim_max;
        prlimit(worker_runtime_all[i].pid, RLIMIT_CPU, &rl, NULL);
    }
}

/* A runtime that saw EOF on stdin gets WR_GRACE_MS to leave by itself
 * (its atexit handlers, its last log lines, relayed meanwhile); then its
 * whole group is killed, while its pid is still held unreaped so that the
 * group cannot be another's, and it is reaped. */
static void
wr_reap(WorkerRuntime *r)
{
    siginfo_t si;

    for (int waited = 0; waited < WR_GRACE_MS; waited += 10) {
        si.si_pid = 0;
        if (waitid(P_PID, (id_t)r->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == r->pid)
            break;
        struct pollfd pf = {r->err, POLLIN, 0};
        if (r->err >= 0 && poll(&pf, 1, 10) > 0)
            worker_runtime_relay(r);
        else if (r->err < 0)
            usleep(10 * 1000);
    }
    kill(-r->pid, SIGKILL);
    while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    struct pollfd last = {r->err, POLLIN, 0};
    if (r->err >= 0 && poll(&last, 1, 0) > 0) /* what it wrote last */
        worker_runtime_relay(r);
}

void
worker_runtime_stop(void)
{
    unsigned n = wr_n;

    wr_n = 0; /* the SIGTERM handler looks no more */
    for (unsigned i = 0; i < n; i++) {
        WorkerRuntime *r = &worker_runtime_all[i];
        if (r->in >= 0)
            close(r->in); /* EOF: a runtime's cue to leave */
        if (r->pid > 0 && !r->reaped)
            wr_reap(r);
        if (r->out >= 0)
            close(r->out);
        if (r->err >= 0)
            close(r->err);
        runtime_lines_free(&r->lines);
    }
    free(worker_runtime_all);
    worker_runtime_all = NULL;
    wr_n = 0;
}
