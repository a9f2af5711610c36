/*
 * runtime_declare.c: what the main process learns of a runtime at
 * start-up, before any worker exists. It runs the command once, described
 * (POOLD_DESCRIBE=1: the runtime loads its functions, says ready without
 * running its initializer, and exits), and registers the functions its
 * ready frame lists; a runtime that cannot load stops the start with its
 * reason, before poold serves anything.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "functions/runtime.h"

#define RUNTIME_DESCRIBE_MAX (16u << 20) /* the longest ready frame read */
#define RUNTIME_TAIL 512                  /* stderr kept for an error */

/* What a described runtime wrote, and how it ended. */
typedef struct RuntimeTalk {
    RuntimeLines out;
    char tail[RUNTIME_TAIL + 1];
    size_t tail_len;
    int status;   /* its wait status; -1 when it was killed at the deadline */
} RuntimeTalk;

/* Keeps the last RUNTIME_TAIL bytes of stderr. */
static void
runtime_keep_tail(RuntimeTalk *t, const char *buf, size_t n)
{
    if (n >= RUNTIME_TAIL) {
        memcpy(t->tail, buf + n - RUNTIME_TAIL, RUNTIME_TAIL);
        t->tail_len = RUNTIME_TAIL;
    } else {
        size_t keep = t->tail_len + n > RUNTIME_TAIL ? RUNTIME_TAIL - n : t->tail_len;
        memmove(t->tail, t->tail + t->tail_len - keep, keep);
        memcpy(t->tail + keep, buf, n);
        t->tail_len = keep + n;
    }
    t->tail[t->tail_len] = '\0';
}

/* Reads the described runtime's stdout and stderr to their ends, or to
 * the deadline (then its group is killed); reaps it. */
static void
runtime_listen(pid_t pid, int fds[3], double timeout, RuntimeTalk *t)
{
    double deadline = clock_mono() + (timeout > 0 ? timeout : 30);
    struct pollfd pf[2] = {{fds[1], POLLIN, 0}, {fds[2], POLLIN, 0}};
    char buf[4096];

    while (pf[0].fd >= 0 || pf[1].fd >= 0) {
        double left = deadline - clock_mono();
        if (left <= 0 || poll(pf, 2, (int)(left * 1000) + 1) < 0) {
            if (left > 0 && errno == EINTR)
                continue;
            kill(-pid, SIGKILL);
            break;
        }
        if (pf[0].revents) {
            ssize_t got = runtime_lines_fill(&t->out, pf[0].fd);
            if (got == 0 || (got < 0 && errno != EAGAIN))
                pf[0].fd = -1; /* its end (or one we cannot read past) */
        }
        if (pf[1].revents) {
            ssize_t n = read(pf[1].fd, buf, sizeof(buf));
            if (n > 0)
                runtime_keep_tail(t, buf, (size_t)n);
            else if (n == 0 || errno != EAGAIN)
                pf[1].fd = -1;
        }
    }
    t->status = -1;
    while (waitpid(pid, &t->status, 0) < 0 && errno == EINTR)
        ;
    if (pf[0].fd >= 0 || pf[1].fd >= 0)
        t->status = -1; /* killed at the deadline */
}

/* The last line of what the runtime wrote on stderr, for an error. */
static const char *
runtime_last_line(RuntimeTalk *t)
{
    char *end = t->tail + t->tail_len, *line;

    while (end > t->tail && (end[-1] == '\n' || end[-1] == '\r'))
        *--end = '\0';
    line = memrchr(t->tail, '\n', (size_t)(end - t->tail));
    return line ? line + 1 : t->tail;
}

/* The ready frame's object from what the runtime wrote, or NULL with err
 * filled: why it did not say ready. */
static json_t *
runtime_ready(const RuntimeSpec *spec, RuntimeTalk *t, double timeout, char *err, size_t len)
{
    size_t n = 0;
    char *line = runtime_lines_next(&t->out, &n);
    json_t *frame = line ? json_loadb(line, n, 0, NULL) : NULL, *ready = json_object_get(frame, "ready");
    json_t *fatal = json_object_get(frame, "fatal");

    if (json_is_object(ready)) {
        json_incref(ready);
    } else if (json_is_object(fatal)) {
        snprintf(err, len, "%s: cannot load: %s: %s", spec->label,
                 json_string_value(json_object_get(fatal, "type")) ?: "Error",
                 json_string_value(json_object_get(fatal, "message")) ?: "");
    } else if (t->status == -1) {
        snprintf(err, len, "%s: not ready after %g s (--worker-start-timeout)", spec->label, timeout);
    } else if (line) {
        snprintf(err, len, "%s: its first frame is not {\"ready\": ...} (docs/worker-protocol.md)", spec->label);
    } else {
        snprintf(err, len, "%s: %s %d before it was ready%s%s", spec->label,
                 WIFSIGNALED(t->status) ? "killed by signal" : "exited with status",
                 WIFSIGNALED(t->status) ? WTERMSIG(t->status) : WEXITSTATUS(t->status),
                 t->tail_len ? ": " : "", runtime_last_line(t));
    }
    json_decref(frame);
    return json_is_object(ready) ? ready : NULL;
}

static void
runtime_fn_free(void *impl)
{
    RuntimeFn *f = impl;

    if (--f->spec->refs == 0)
        runtime_spec_free(f->spec);
    free(f->name);
    free(f);
}

/* Registers one function the runtime serves. */
static int
runtime_register(Registry *r, RuntimeSpec *spec, const json_t *fn, char *err, size_t len)
{
    const char *name = json_string_value(json_object_get(fn, "name"));
    RuntimeFn *f = calloc(1, sizeof(*f));
    int hid = 0, rc;

    if (!f || !name || !(f->name = strdup(name))) {
        free(f);
        snprintf(err, len, "%s: %s", spec->label, name ? "out of memory" : "a function without a name");
        return SVC_EINVAL;
    }
    f->spec = spec;
    spec->refs++;
    RegistryDecl d = {.name = name, .doc = json_string_value(json_object_get(fn, "doc")),
                      .source = spec->source, .kind = REGISTRY_RUNTIME, .impl = f,
                      .impl_free = runtime_fn_free, .may_hide_builtin = 1};
    if ((rc = registry_add_owned(r, &d, &hid)) != SVC_OK) {
        snprintf(err, len, "%s: %s: %s", spec->label, name,
                 rc == SVC_EINVAL ? "the name is taken by another declared function" : "out of memory");
        return SVC_EINVAL;
    }
    if (hid)
        log_msg(LOG_WARN, "%s: its function %s hides the built-in %s", spec->label, name, name);
    return SVC_OK;
}

int
runtime_declare(Registry *r, RuntimeSpec *spec, double timeout, char *err, size_t len)
{
    char *extra[] = {"POOLD_DESCRIBE=1", "POOLD_PROTOCOL=1", NULL};
    RuntimeTalk t = {.out = {.max = RUNTIME_DESCRIBE_MAX}};
    int fds[3], rc = SVC_EINVAL;
    json_t *ready = NULL, *fns, *fn;
    size_t i;
    pid_t pid;

    if ((spec->index = runtime_count(r)) >= RUNTIME_MAX) {
        snprintf(err, len, "%s: at most %d runtimes", spec->label, RUNTIME_MAX);
        goto cleanup;
    }
    if ((pid = runtime_spawn(spec, extra, fds)) < 0) {
        snprintf(err, len, "%s: cannot start: %s", spec->label, strerror(errno));
        goto cleanup;
    }
    close(fds[0]); /* no request will come: EOF */
    runtime_listen(pid, fds, timeout, &t);
    close(fds[1]);
    close(fds[2]);
    if (!(ready = runtime_ready(spec, &t, timeout, err, len)))
        goto cleanup;
    fns = json_object_get(ready, "functions");
    if (json_array_size(fns) == 0) {
        snprintf(err, len, "%s: serves no function (a public top-level one)", spec->label);
        goto cleanup;
    }
    spec->refs++; /* held while its functions are added */
    rc = SVC_OK;
    json_array_foreach(fns, i, fn)
        if ((rc = runtime_register(r, spec, fn, err, len)) != SVC_OK)
            break;
    if (--spec->refs > 0)
        spec = NULL; /* its functions' now */
cleanup:
    runtime_spec_free(spec);
    json_decref(ready);
    runtime_lines_free(&t.out);
    return rc;
}
