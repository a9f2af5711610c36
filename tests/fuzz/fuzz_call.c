/*
 * fuzz_call.c: a request body, as every endpoint takes it, to a Call or a
 * problem (server/calls/call.c).
 *
 * The first three bytes choose the operation and the server's limits: a
 * sync call, an async job, an imap stream or an NDJSON stream's call line,
 * the pool size, --max-items and the timeouts. The rest is the body.
 * call_parse must answer every body with a Call that keeps its own rules
 * (counts, bounds, payloads the worker can read) or a worded problem; and
 * call_parse_text, the fast path that slices a map's items from the text,
 * must agree with it whenever it does not defer: same outcome, same
 * problem, same items, and chunk payloads that read back byte for byte as
 * the full parse's.
 */
#include <string.h>

#include <jansson.h>

#include "calls/call.h"
#include "fuzz.h"
#include "functions/registry.h"
#include "worker/wire.h"

static Registry *fuzz_reg;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    json_object_seed(1); /* the same run for the same input */
    if (!(fuzz_reg = registry_new()) || builtins_register(fuzz_reg) != SVC_OK)
        abort();
    return 0;
}

/* The limits the prefix picks; *op as well. */
static CallLimits
fuzz_limits(const uint8_t *p, CallOp *op)
{
    static const long max_items[] = {10000000, 0, 1, 2, 3, 7, 100, 1000};
    static const double timeout[] = {0, 1, 30, 0.25}, max_timeout[] = {0, 0.5, 60, 3600};
    CallLimits lim = {.processes = 1 + (p[1] & 7), .max_items = max_items[(p[1] >> 3) & 7],
                      .timeout = timeout[p[2] & 3], .max_timeout = max_timeout[(p[2] >> 2) & 3]};

    *op = (CallOp)(p[0] % 3);
    switch (p[0] / 3 % 4) {
    case 1: lim.async = 1; break;
    case 2: lim.stream = 1; break;
    case 3: lim.stream = lim.lines = 1; break; /* imap's NDJSON call line */
    }
    return lim;
}

/* A failed parse: no Call, and a problem worded for the client. */
static void
fuzz_check_error(int rc, const Call *c, const CallError *err)
{
    FUZZ_CHECK(rc == SVC_EINVAL || rc == SVC_ENOFUNC || rc == SVC_ENOMEM);
    FUZZ_CHECK(c == NULL);
    FUZZ_CHECK(err->code == rc);
    FUZZ_CHECK(memchr(err->field, '\0', sizeof(err->field)) != NULL);
    FUZZ_CHECK(memchr(err->detail, '\0', sizeof(err->detail)) != NULL);
    FUZZ_CHECK(err->detail[0] != '\0');
    /* The problem carries them as JSON strings: valid UTF-8. */
    json_t *detail = json_string(err->detail), *field = json_string(err->field);
    FUZZ_CHECK(detail && field);
    json_decref(detail);
    json_decref(field);
}

/* Chunk i's payload as the worker reads it, in canonical text (malloc'd),
 * after checking that it is the frame the worker expects. */
static char *
fuzz_payload(const Call *c, size_t i)
{
    size_t len = 0;
    uint32_t mode = 0;
    char *text = call_chunk_payload(c, i, &len, &mode), *canon;
    json_t *task;

    FUZZ_CHECK(text != NULL);
    FUZZ_CHECK(mode == (c->op == CALL_APPLY ? WIRE_MODE_APPLY : c->op == CALL_MAP ? WIRE_MODE_MAP
                                                                                   : WIRE_MODE_STARMAP));
    task = json_loadb(text, len, 0, NULL); /* as worker_execute reads it */
    FUZZ_CHECK(json_is_array(task) && json_array_size(task) == 3);
    FUZZ_CHECK(json_is_integer(json_array_get(task, 0)));
    FUZZ_CHECK(json_integer_value(json_array_get(task, 0)) == (json_int_t)c->fn->id);
    FUZZ_CHECK(registry_by_id(fuzz_reg, c->fn->id) == c->fn);
    FUZZ_CHECK(json_is_array(json_array_get(task, 1)));
    if (c->op == CALL_APPLY) {
        FUZZ_CHECK(json_is_object(json_array_get(task, 2)));
    } else {
        FUZZ_CHECK(json_array_size(json_array_get(task, 1)) == call_chunk_len(c, i));
        FUZZ_CHECK(json_is_null(json_array_get(task, 2)));
        for (size_t k = 0; c->op == CALL_STARMAP && k < call_chunk_len(c, i); k++)
            FUZZ_CHECK(json_is_array(json_array_get(json_array_get(task, 1), k)));
    }
    canon = json_dumps(task, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    FUZZ_CHECK(canon != NULL);
    json_decref(task);
    free(text);
    return canon;
}

/* The chunks worth looking at: all of a few, the ends of many. */
static int
fuzz_chunk_seen(size_t i, size_t n)
{
    return n <= 64 || i < 32 || i >= n - 32;
}

/* A parsed Call keeps the rules of call.h. */
static void
fuzz_check_call(const Call *c, CallOp op, const CallLimits *lim)
{
    size_t n = call_items(c), chunks = call_chunks(c);

    FUZZ_CHECK(c->fn != NULL && c->op == op);
    FUZZ_CHECK(c->retries >= 0 && c->retries <= CALL_MAX_RETRIES);
    FUZZ_CHECK(c->timeout >= 0);
    FUZZ_CHECK(lim->async || (c->priority == 0 && !c->callback && !c->error_callback));
    if (op == CALL_APPLY) {
        FUZZ_CHECK(n == 1 && chunks == 1 && json_is_array(c->args) && json_is_object(c->kwds));
    } else {
        FUZZ_CHECK((long)n <= lim->max_items);
        FUZZ_CHECK(c->chunksize >= 1);
        FUZZ_CHECK(!lim->stream || c->chunksize <= CALL_MAX_STREAM_CHUNKSIZE);
        FUZZ_CHECK(lim->stream ? c->buffersize >= 1 && c->buffersize <= CALL_MAX_BUFFERSIZE : c->buffersize == 0);
        FUZZ_CHECK(!lim->lines || n == 0);
        FUZZ_CHECK(chunks == (n + c->chunksize - 1) / c->chunksize);
        if (chunks)
            FUZZ_CHECK(call_chunk_first(c, chunks - 1) + call_chunk_len(c, chunks - 1) == n);
    }
    for (size_t i = 0; i < chunks; i++) {
        if (!fuzz_chunk_seen(i, chunks))
            continue;
        FUZZ_CHECK(call_chunk_len(c, i) >= 1);
        free(fuzz_payload(c, i));
    }
}

static int
fuzz_str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The fast path took the body: it must be the full parse's outcome. */
static void
fuzz_check_agree(int rc_full, const Call *full, const CallError *ef, int rc_text, const Call *text,
                 const CallError *et)
{
    FUZZ_CHECK(rc_text == rc_full);
    if (rc_text != SVC_OK) {
        FUZZ_CHECK(strcmp(et->field, ef->field) == 0);
        FUZZ_CHECK(strcmp(et->detail, ef->detail) == 0);
        return;
    }
    FUZZ_CHECK(call_items(text) == call_items(full));
    FUZZ_CHECK(call_chunks(text) == call_chunks(full));
    FUZZ_CHECK(text->chunksize == full->chunksize && text->collect == full->collect);
    FUZZ_CHECK(text->timeout == full->timeout && text->retries == full->retries);
    FUZZ_CHECK(text->priority == full->priority && text->buffersize == full->buffersize);
    FUZZ_CHECK(fuzz_str_eq(text->callback, full->callback));
    FUZZ_CHECK(fuzz_str_eq(text->error_callback, full->error_callback));
    for (size_t i = 0, n = call_chunks(full); i < n; i++) {
        if (!fuzz_chunk_seen(i, n))
            continue;
        char *a = fuzz_payload(text, i), *b = fuzz_payload(full, i);
        if (strcmp(a, b) != 0)
            fprintf(stderr, "chunk %zu: sliced %s, parsed %s\n", i, a, b);
        FUZZ_CHECK(strcmp(a, b) == 0);
        free(a);
        free(b);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    CallOp op;
    CallLimits lim;
    const char *text = (const char *)data + 3;
    size_t len = size - 3;
    json_t *body;
    Call *full = NULL, *fast = NULL;
    CallError ef, et;
    int rc_full = SVC_EAGAIN, rc_text;

    if (size < 3)
        return 0;
    lim = fuzz_limits(data, &op);
    /* As the server reads a body (http_json_parse). */
    if ((body = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL))) {
        memset(&ef, 0, sizeof(ef));
        rc_full = call_parse(body, op, fuzz_reg, &lim, &full, &ef);
        if (rc_full == SVC_OK)
            fuzz_check_call(full, op, &lim);
        else
            fuzz_check_error(rc_full, full, &ef);
    }
    memset(&et, 0, sizeof(et));
    rc_text = call_parse_text(text, len, op, fuzz_reg, &lim, &fast, &et);
    if (rc_text != SVC_EAGAIN) {
        /* The scanner vouched for the text: jansson takes it too. */
        FUZZ_CHECK(body != NULL);
        FUZZ_CHECK(op != CALL_APPLY && !lim.stream && !lim.lines);
        if (rc_text == SVC_OK)
            fuzz_check_call(fast, op, &lim);
        else
            fuzz_check_error(rc_text, fast, &et);
        fuzz_check_agree(rc_full, full, &ef, rc_text, fast, &et);
    } else {
        FUZZ_CHECK(fast == NULL);
    }
    call_free(fast);
    call_free(full);
    json_decref(body);
    return 0;
}
