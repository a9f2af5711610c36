/*
 * worker_runtime_task.c: a task on a warm runtime, the worker's side of
 * docs/worker-protocol.md for one request: the request written (whole,
 * while the runtime's stderr is relayed), "started" frames in turn, the
 * answer's values or outcomes taken; a map or starmap chunk goes as the
 * text poold wrote for it and comes back as the runtime's own text when
 * every item succeeded (no parse and encode of each item on the way).
 * The processes themselves are worker_runtime.c's.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/jscan.h"
#include "core/jtext.h"
#include "worker/worker_runtime.h"
#include "worker/worker_runtime_impl.h"

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
    text = jtext_dumps(req, JSON_COMPACT);
    json_decref(req);
    return text;
}

/* Writes text and its newline to r's stdin in one writev, relaying its
 * stderr while the pipe is full: a newline written apart woke the
 * runtime twice a request. A runtime gone ends the worker. */
static void
wr_send(WorkerRuntime *r, const char *text)
{
    struct iovec iov[2] = {{(void *)text, strlen(text)}, {"\n", 1}};
    struct iovec *v = iov;
    int nv = 2;
    char how[160];

    while (nv > 0) {
        ssize_t w = writev(r->in, v, nv);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            struct pollfd pf[2] = {{r->in, POLLOUT, 0}, {r->err, POLLIN, 0}};
            if (poll(pf, r->err >= 0 ? 2 : 1, -1) > 0 && r->err >= 0 && pf[1].revents)
                worker_runtime_relay(r);
            continue;
        }
        if (w <= 0) {
            worker_runtime_ended(r, how, sizeof(how));
            worker_runtime_die(WIRE_EXIT_RUNTIME, "%s (pid %d) %s while it was sent the task", r->spec->label,
                               (int)r->pid, how);
        }
        size_t done = (size_t)w;
        for (; nv > 0 && done >= v->iov_len; nv--, v++)
            done -= v->iov_len;
        if (nv > 0) {
            v->iov_base = (char *)v->iov_base + done;
            v->iov_len -= done;
        }
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
            worker_runtime_die(WIRE_EXIT_RUNTIME, "%s (pid %d) broke the protocol: result %zu is neither {\"r\": ...} "
                   "nor {\"e\": {...}}", r->spec->label, (int)r->pid, k);
        if (json_object_get(mine, "e") && (*fails)++ == 0)
            *first = k;
        if (json_array_append_new(out, mine) < 0)
            worker_runtime_die(WIRE_EXIT_NOMEM, "out of memory");
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
            worker_runtime_die(WIRE_EXIT_NOMEM, "out of memory");
}

/* Where the values of line begin when it is the Python runtime's answer
 * of bare values to request id, {"id":N,"values":[...]}, with one value
 * an item, all of a kind the scanner vouches for (core/jscan.h); else 0.
 * Such an answer is taken as its text: jansson would build and free a
 * value an item only to check it (a fifth of a map's whole cost). */
static size_t
wr_plain_values(const char *line, size_t n, uint64_t id, size_t nitems)
{
    char prefix[48];
    size_t head = (size_t)snprintf(prefix, sizeof(prefix), "{\"id\":%llu,\"values\":", (unsigned long long)id);
    JscanItems items;
    int whole;

    if (n <= head + 1 || memcmp(line, prefix, head) != 0 || line[n - 1] != '}' ||
        jscan_array(line + head, n - head - 1, nitems, &items) != JSCAN_OK)
        return 0;
    whole = items.n == nitems;
    free(items.starts);
    return whole ? head : 0;
}

/* Reads r's answer to request id: its "started" frames mark progress;
 * the answer is checked (its id, one value or outcome an item) and
 * returned (new reference) with its line (*line, *n: valid until the next
 * read). Anything else ends the worker. With plain, an answer of bare
 * values the scanner vouches for is not parsed: NULL, and *plain is where
 * its values begin in the line. */
static json_t *
wr_answer(WorkerRuntime *r, uint64_t id, size_t nitems, WireClaim *progress, char **line, size_t *n, size_t *plain)
{
    /* Each item's start, in order and once: a runtime that could say an
     * item started again would never run past its timeout. */
    json_int_t next_started = 1;

    for (;;) {
        *line = worker_runtime_frame(r, n, WIRE_EXIT_RUNTIME);
        if (plain && (*plain = wr_plain_values(*line, *n, id, nitems)))
            return NULL;
        json_t *frame = json_loadb(*line, *n, 0, NULL), *fid = json_object_get(frame, "id");
        json_t *started = json_object_get(frame, "started"), *results = json_object_get(frame, "results");
        json_t *values = json_object_get(frame, "values");
        if (!json_is_object(frame))
            worker_runtime_die(WIRE_EXIT_RUNTIME, "%s (pid %d) broke the protocol: a line on stdout that is not a "
                               "JSON object", r->spec->label, (int)r->pid);
        if (!json_is_integer(fid) || (uint64_t)json_integer_value(fid) != id)
            worker_runtime_die(WIRE_EXIT_RUNTIME, "%s (pid %d) broke the protocol: a frame for request %lld, not "
                               "%llu", r->spec->label, (int)r->pid,
                               json_is_integer(fid) ? (long long)json_integer_value(fid) : -1LL, (unsigned long long)id);
        if (started && (!json_is_integer(started) || json_integer_value(started) != next_started ||
                        (size_t)next_started >= nitems))
            worker_runtime_die(WIRE_EXIT_RUNTIME, "%s (pid %d) broke the protocol: {\"started\": ...} out of turn, "
                               "where item %lld was next", r->spec->label, (int)r->pid, (long long)next_started);
        if (started) {
            wire_claim_progress(progress, (size_t)next_started++, clock_ns());
            json_decref(frame);
            continue;
        }
        /* Every item's value, bare ({"values"}), or an outcome each. */
        if (!json_is_array(values ? values : results) || json_array_size(values ? values : results) != nitems)
            worker_runtime_die(WIRE_EXIT_RUNTIME, "%s (pid %d) broke the protocol: an answer without one result "
                               "for each of its %zu items", r->spec->label, (int)r->pid, nitems);
        return frame;
    }
}

/* Sends the request text of a task with nitems items to fn's runtime and
 * reads its answer (see wr_answer), the claim naming the runtime's group
 * meanwhile. */
static json_t *
wr_exchange(const RuntimeFn *f, const char *text, uint64_t id, size_t nitems, WireClaim *claim,
            WireClaim *progress, char **line, size_t *n, size_t *plain)
{
    WorkerRuntime *r = &worker_runtime_all[f->spec->index];
    json_t *frame;

    /* Whoever kills the worker at a deadline takes the group too. */
    if ((worker_runtime_claim = claim))
        __atomic_store_n(&claim->group, (int64_t)r->pid, __ATOMIC_RELEASE);
    wire_claim_progress(progress, 0, clock_ns());
    wr_send(r, text);
    r->lines.max = worker_runtime_frame_max(nitems);
    frame = wr_answer(r, id, nitems, progress, line, n, plain);
    r->lines.max = worker_runtime_frame_max(1);
    if (claim)
        __atomic_store_n(&claim->group, 0, __ATOMIC_RELEASE);
    worker_runtime_claim = NULL;
    return frame;
}

/* An answer's values or outcomes into out (wire.h's outcomes). */
static void
wr_take(const RuntimeFn *f, json_t *frame, json_t *out, uint32_t *fails, uint64_t *first)
{
    json_t *values = json_object_get(frame, "values");

    if (values)
        wr_values(values, out);
    else
        wr_outcomes(&worker_runtime_all[f->spec->index], json_object_get(frame, "results"), out, fails, first);
}

int
worker_runtime_run(const RegistryFn *fn, uint32_t mode, const json_t *items, const json_t *kwds,
                   WireClaim *claim, WireClaim *progress, json_t *out, uint32_t *fails, uint64_t *first)
{
    const RuntimeFn *f = fn->impl;
    uint64_t id = ++worker_runtime_next_id;
    size_t nitems = mode == WIRE_MODE_MAP || mode == WIRE_MODE_STARMAP ? json_array_size(items) : 1, n;
    char *text = wr_request(f, id, mode, items, kwds, progress != NULL), *line;
    json_t *frame;

    if (!text)
        return -1;
    frame = wr_exchange(f, text, id, nitems, claim, progress, &line, &n, NULL);
    free(text);
    wr_take(f, frame, out, fails, first);
    json_decref(frame);
    return 0;
}

/* How many items the array text holds: poold wrote it, so it is valid
 * JSON; its commas at the top level are counted. */
static size_t
wr_count(const char *t, size_t len)
{
    size_t commas = 0, values = 0;
    int depth = 0, str = 0;

    for (size_t i = 0; i < len; i++) {
        char c = t[i];
        if (str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                str = 0;
            continue;
        }
        if (c == '"')
            str = 1;
        if (c == '[' || c == '{')
            depth++;
        else if (c == ']' || c == '}')
            depth--;
        else if (c == ',' && depth == 1)
            commas++;
        if (depth >= 1 && c != ' ' && c != '\n' && c != '\t' && c != '\r' && !(depth == 1 && c == '['))
            values = 1;
    }
    return values ? commas + 1 : 0;
}

char *
worker_runtime_run_text(const RegistryFn *fn, uint32_t mode, const char *items, size_t len, WireClaim *claim,
                        WireClaim *progress, json_t *out, size_t *plain_len, uint32_t *fails, uint64_t *first)
{
    const RuntimeFn *f = fn->impl;
    uint64_t id = ++worker_runtime_next_id;
    size_t nitems = wr_count(items, len), n, head;
    json_t *name = json_string(f->name), *frame;
    char *quoted = name ? jtext_dumps(name, JSON_ENCODE_ANY) : NULL, *text = NULL, *line, *plain = NULL;

    json_decref(name);
    if (!quoted || asprintf(&text, "{\"id\":%llu,\"func\":%s,\"%s\":%.*s%s}", (unsigned long long)id, quoted,
                            mode == WIRE_MODE_MAP ? "map" : "starmap", (int)len, items,
                            progress ? ",\"progress\":true" : "") < 0)
        text = NULL;
    free(quoted);
    if (!text)
        worker_runtime_die(WIRE_EXIT_NOMEM, "out of memory");
    frame = wr_exchange(f, text, id, nitems, claim, progress, &line, &n, &head);
    free(text);
    /* The values as the runtime wrote them (see wr_plain_values). */
    if (!frame) {
        if (!(plain = strndup(line + head, n - head - 1)))
            worker_runtime_die(WIRE_EXIT_NOMEM, "out of memory");
        *plain_len = n - head - 1;
        return plain;
    }
    wr_take(f, frame, out, fails, first);
    json_decref(frame);
    return NULL;
}
