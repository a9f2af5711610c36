/* call.c: see call.h. */
#include "calls/call.h"

#include <stdlib.h>
#include <string.h>

#include "core/jtext.h"
#include "worker/wire.h"

#define CALL_FUNC_MAX 128 /* longest function name a client may send */

static int
call_fail(CallError *err, int code, const char *field, const char *detail)
{
    err->code = code;
    snprintf(err->field, sizeof(err->field), "%s", field);
    snprintf(err->detail, sizeof(err->detail), "%s", detail);
    return code;
}

size_t
call_default_buffersize(int processes)
{
    size_t chunks = 8 * (size_t)(processes > 0 ? processes : 1);

    return chunks > 64 ? chunks : 64;
}

size_t
call_default_chunksize(size_t n, int processes)
{
    size_t per = 4 * (size_t)(processes > 0 ? processes : 1);
    size_t cs = (n + per - 1) / per;

    return cs ? cs : 1;
}

/* Fields each op accepts; anything else is refused as invalid, so that a
 * typo such as "chunk_size" is reported instead of silently ignored. */
static const char *const call_fields[][8] = {
    [CALL_APPLY] = {"func", "args", "kwds", "timeout", "retries", NULL},
    [CALL_MAP] = {"func", "iterable", "chunksize", "on_error", "timeout", "retries", NULL},
    [CALL_STARMAP] = {"func", "iterable", "chunksize", "on_error", "timeout", "retries", NULL},
};

/* Fields only an async job takes. */
static const char *const call_async_fields[] = {"priority", "callback", "error_callback", NULL};

/* An imap's: a stream goes on past a failed item, so no on_error. */
static const char *const call_stream_fields[] = {"func", "iterable", "chunksize", "buffersize",
                                                 "timeout", "retries", NULL};

static int
call_known(const char *const *fields, const char *key)
{
    for (size_t i = 0; fields[i]; i++)
        if (strcmp(fields[i], key) == 0)
            return 1;
    return 0;
}

static int
call_check_fields(const json_t *body, CallOp op, const CallLimits *lim, CallError *err)
{
    const char *key;
    json_t *val;

    json_object_foreach((json_t *)body, key, val) {
        int known = call_known(lim->stream ? call_stream_fields : call_fields[op], key) ||
                    (lim->async && call_known(call_async_fields, key));
        if (lim->lines && strcmp(key, "iterable") == 0)
            return call_fail(err, SVC_EINVAL, "iterable",
                             "an NDJSON body carries its items as lines after the call, not as 'iterable'");
        if (!known) {
            char detail[200];
            int n = (int)strlen(key);
            if (n > 64) /* cut at a character: the problem's JSON needs valid UTF-8 */
                for (n = 64; n > 0 && ((unsigned char)key[n] & 0xC0) == 0x80; n--)
                    ;
            snprintf(detail, sizeof(detail), "unknown field '%.*s'", n, key);
            return call_fail(err, SVC_EINVAL, "", detail);
        }
    }
    return SVC_OK;
}

static int
call_parse_func(const json_t *body, const Registry *reg, Call *c, CallError *err)
{
    const json_t *f = json_object_get(body, "func");
    char detail[256];

    if (!f)
        return call_fail(err, SVC_EINVAL, "func", "'func' is required");
    if (!json_is_string(f) || json_string_length(f) == 0)
        return call_fail(err, SVC_EINVAL, "func", "'func' must be a non-empty string");
    if (json_string_length(f) > CALL_FUNC_MAX || strlen(json_string_value(f)) != json_string_length(f))
        return call_fail(err, SVC_EINVAL, "func", "'func' is not a valid function name");
    if (!(c->fn = registry_find(reg, json_string_value(f)))) {
        snprintf(detail, sizeof(detail), "no function named '%s' (GET /v1/functions lists them)",
                 json_string_value(f));
        return call_fail(err, SVC_ENOFUNC, "func", detail);
    }
    return SVC_OK;
}

static int
call_parse_apply(const json_t *body, Call *c, CallError *err)
{
    json_t *args = json_object_get(body, "args"), *kwds = json_object_get(body, "kwds");

    if (args && !json_is_array(args))
        return call_fail(err, SVC_EINVAL, "args", "'args' must be an array");
    if (kwds && !json_is_object(kwds))
        return call_fail(err, SVC_EINVAL, "kwds", "'kwds' must be an object");
    c->args = args ? json_incref(args) : json_array();
    c->kwds = kwds ? json_incref(kwds) : json_object();
    return c->args && c->kwds ? SVC_OK : call_fail(err, SVC_ENOMEM, "", "out of memory");
}

static int
call_parse_buffersize(const json_t *body, const CallLimits *lim, Call *c, CallError *err)
{
    json_t *b = json_object_get(body, "buffersize");
    char detail[128];

    c->buffersize = call_default_buffersize(lim->processes);
    if (b && !json_is_null(b)) {
        if (!json_is_integer(b) || json_integer_value(b) < 1 || json_integer_value(b) > CALL_MAX_BUFFERSIZE) {
            snprintf(detail, sizeof(detail), "'buffersize' must be an integer in [1, %d]", CALL_MAX_BUFFERSIZE);
            return call_fail(err, SVC_EINVAL, "buffersize", detail);
        }
        c->buffersize = (size_t)json_integer_value(b);
    }
    return SVC_OK;
}

static int
call_parse_map(const json_t *body, CallOp op, const CallLimits *lim, Call *c, CallError *err)
{
    json_t *it = json_object_get(body, "iterable"), *cs = json_object_get(body, "chunksize");
    json_t *oe = json_object_get(body, "on_error"), *item;
    size_t i, n;

    if (c->items_text) { /* sliced from the text: the body holds [] */
        n = c->items.n;
    } else {
        if (lim->lines) /* the items follow as lines: an empty array stands in */
            it = json_array();
        else if (it)
            json_incref(it);
        if (!it)
            return call_fail(err, SVC_EINVAL, "iterable", "'iterable' is required");
        c->iterable = it;
        if (!json_is_array(it))
            return call_fail(err, SVC_EINVAL, "iterable", "'iterable' must be an array");
        n = json_array_size(it);
    }
    if ((long)n > lim->max_items) {
        char detail[128];
        snprintf(detail, sizeof(detail), "'iterable' has %zu items, more than --max-items (%ld)", n,
                 lim->max_items);
        return call_fail(err, SVC_EINVAL, "iterable", detail);
    }
    for (i = 0; op == CALL_STARMAP && i < n; i++) {
        item = c->items_text ? NULL : json_array_get(it, i);
        if (c->items_text ? c->items_text[c->items.starts[i]] != '[' : !json_is_array(item)) {
            char detail[128];
            snprintf(detail, sizeof(detail), "starmap: item %zu must be an array of arguments", i);
            return call_fail(err, SVC_EINVAL, "iterable", detail);
        }
    }
    if (cs && !json_is_null(cs)) {
        if (!json_is_integer(cs) || json_integer_value(cs) < 1)
            return call_fail(err, SVC_EINVAL, "chunksize", "'chunksize' must be an integer >= 1");
        if (lim->stream && json_integer_value(cs) > CALL_MAX_STREAM_CHUNKSIZE)
            return call_fail(err, SVC_EINVAL, "chunksize", "a stream's 'chunksize' is at most 10000");
        c->chunksize = (size_t)json_integer_value(cs);
    } else {
        /* Python's imap defaults to 1: results come back one by one. */
        c->chunksize = lim->stream ? 1 : call_default_chunksize(n, lim->processes);
    }
    if (oe && !json_is_null(oe)) {
        const char *v = json_string_value(oe);
        if (!v || (strcmp(v, "raise") != 0 && strcmp(v, "collect") != 0))
            return call_fail(err, SVC_EINVAL, "on_error", "'on_error' must be \"raise\" or \"collect\"");
        c->collect = strcmp(v, "collect") == 0;
    }
    return lim->stream ? call_parse_buffersize(body, lim, c, err) : SVC_OK;
}

/* callback and error_callback: strings here; whether they are URLs a
 * webhook may go to is the webhook module's to say. */
static int
call_parse_callbacks(const json_t *body, Call *c, CallError *err)
{
    static const char *const names[] = {"callback", "error_callback"};
    char **dst[] = {&c->callback, &c->error_callback};
    char detail[96];

    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(body, names[i]);
        if (!v || json_is_null(v))
            continue;
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 2048) {
            snprintf(detail, sizeof(detail), "'%s' must be a URL of at most 2048 characters", names[i]);
            return call_fail(err, SVC_EINVAL, names[i], detail);
        }
        if (!(*dst[i] = strdup(json_string_value(v))))
            return call_fail(err, SVC_ENOMEM, "", "out of memory");
    }
    return SVC_OK;
}

static int
call_parse_priority(const json_t *body, Call *c, CallError *err)
{
    json_t *p = json_object_get(body, "priority");

    if (!p || json_is_null(p))
        return SVC_OK;
    if (!json_is_integer(p) || json_integer_value(p) < -1000000 || json_integer_value(p) > 1000000)
        return call_fail(err, SVC_EINVAL, "priority", "'priority' must be an integer in [-1000000, 1000000]");
    c->priority = (int)json_integer_value(p);
    return SVC_OK;
}

/* timeout (seconds per item, > 0, at most --max-task-timeout) and retries
 * (0 to CALL_MAX_RETRIES), on every call. */
static int
call_parse_limits(const json_t *body, const CallLimits *lim, Call *c, CallError *err)
{
    json_t *t = json_object_get(body, "timeout"), *r = json_object_get(body, "retries");
    char detail[160];

    c->timeout = lim->timeout;
    if (t && !json_is_null(t)) {
        if (!json_is_number(t) || !(json_number_value(t) > 0) || json_number_value(t) > 1e9)
            return call_fail(err, SVC_EINVAL, "timeout", "'timeout' must be a number of seconds > 0");
        if (lim->max_timeout > 0 && json_number_value(t) > lim->max_timeout) {
            snprintf(detail, sizeof(detail), "'timeout' may be at most %g seconds (--max-task-timeout)",
                     lim->max_timeout);
            return call_fail(err, SVC_EINVAL, "timeout", detail);
        }
        c->timeout = json_number_value(t);
    }
    if (r && !json_is_null(r)) {
        if (!json_is_integer(r) || json_integer_value(r) < 0 || json_integer_value(r) > CALL_MAX_RETRIES) {
            snprintf(detail, sizeof(detail), "'retries' must be an integer in [0, %d]", CALL_MAX_RETRIES);
            return call_fail(err, SVC_EINVAL, "retries", detail);
        }
        c->retries = (int)json_integer_value(r);
    }
    return SVC_OK;
}

/* call_parse, with the items as text when text is not NULL (taken, with
 * items, even on failure). */
static int
call_parse_with(const json_t *body, CallOp op, const Registry *reg, const CallLimits *lim, char *text,
                JscanItems *items, Call **out, CallError *err)
{
    Call *c = NULL;
    int rc;

    *out = NULL;
    if (!(c = calloc(1, sizeof(*c)))) {
        free(text);
        free(items->starts);
        return call_fail(err, SVC_ENOMEM, "", "out of memory");
    }
    c->items_text = text;
    if (text)
        c->items = *items;
    rc = SVC_EINVAL;
    if (!json_is_object(body)) {
        call_fail(err, SVC_EINVAL, "", "the body must be a JSON object");
        goto cleanup;
    }
    if ((rc = call_check_fields(body, op, lim, err)) != SVC_OK)
        goto cleanup;
    c->op = op;
    if ((rc = call_parse_func(body, reg, c, err)) != SVC_OK)
        goto cleanup;
    rc = op == CALL_APPLY ? call_parse_apply(body, c, err)
                          : call_parse_map(body, op, lim, c, err);
    if (rc == SVC_OK)
        rc = call_parse_limits(body, lim, c, err);
    if (rc == SVC_OK && lim->async)
        rc = call_parse_priority(body, c, err);
    if (rc == SVC_OK && lim->async)
        rc = call_parse_callbacks(body, c, err);
cleanup:
    if (rc != SVC_OK) {
        call_free(c);
    } else {
        c->nitems = op == CALL_APPLY ? 1 : c->items_text ? c->items.n : json_array_size(c->iterable);
        *out = c;
    }
    return rc;
}

int
call_parse(const json_t *body, CallOp op, const Registry *reg, const CallLimits *lim,
           Call **out, CallError *err)
{
    JscanItems none = {0};

    return call_parse_with(body, op, reg, lim, NULL, &none, out, err);
}

int
call_parse_text(const char *text, size_t len, CallOp op, const Registry *reg, const CallLimits *lim,
                Call **out, CallError *err)
{
    size_t start, end;
    JscanItems items;
    json_t *body = NULL;
    char *rest = NULL, *copy = NULL;
    int rc = SVC_EAGAIN;

    *out = NULL;
    if (op == CALL_APPLY || lim->stream || lim->lines || jscan_member(text, len, "iterable", &start, &end) != JSCAN_OK)
        return SVC_EAGAIN;
    if (jscan_array(text + start, end - start, (size_t)lim->max_items, &items) != JSCAN_OK)
        return SVC_EAGAIN; /* out of memory too: the full parse will say so */
    /* The rest of the body, the items replaced by [], parsed as usual. */
    if ((rest = malloc(len - (end - start) + 2))) {
        memcpy(rest, text, start);
        memcpy(rest + start, "[]", 2);
        memcpy(rest + start + 2, text + end, len - end);
        body = json_loadb(rest, len - (end - start) + 2, POOLD_BODY_JSON_FLAGS, NULL);
    }
    if (body && (copy = malloc(end - start + 1))) {
        memcpy(copy, text + start, end - start);
        copy[end - start] = '\0';
        rc = call_parse_with(body, op, reg, lim, copy, &items, out, err);
    } else {
        free(items.starts);
    }
    json_decref(body);
    free(rest);
    return rc;
}

void
call_free(Call *c)
{
    if (!c)
        return;
    json_decref(c->args);
    json_decref(c->kwds);
    json_decref(c->iterable);
    free(c->body_text);
    free(c->items_text);
    free(c->items.starts);
    free(c->callback);
    free(c->error_callback);
    free(c);
}

void
call_keep_body(Call *c, const char *text, size_t len)
{
    if (c->op != CALL_APPLY || c->body_text || !text || !(c->body_text = malloc(len + 1)))
        return;
    memcpy(c->body_text, text, len);
    c->body_text[len] = '\0';
    c->body_len = len;
}

char *
call_take_body(Call *c, size_t *len, uint32_t *mode)
{
    char *text = c->body_text;

    if (text) {
        c->body_text = NULL;
        *len = c->body_len;
        *mode = WIRE_MODE_APPLY_BODY;
    }
    return text;
}

size_t
call_items(const Call *c)
{
    return c->nitems;
}

void
call_drop_values(Call *c)
{
    json_decref(c->args);
    json_decref(c->kwds);
    json_decref(c->iterable);
    c->args = c->kwds = c->iterable = NULL;
    free(c->body_text);
    c->body_text = NULL;
    free(c->items_text);
    free(c->items.starts);
    c->items_text = NULL;
    c->items.starts = NULL;
}

size_t
call_chunks(const Call *c)
{
    return c->op == CALL_APPLY ? 1 : (call_items(c) + c->chunksize - 1) / c->chunksize;
}

size_t
call_chunk_first(const Call *c, size_t i)
{
    return c->op == CALL_APPLY ? 0 : i * c->chunksize;
}

size_t
call_chunk_len(const Call *c, size_t i)
{
    size_t first = call_chunk_first(c, i), n = call_items(c);

    if (c->op == CALL_APPLY)
        return 1;
    return n - first < c->chunksize ? n - first : c->chunksize;
}

char *
call_payload(const RegistryFn *fn, CallOp op, json_t *items, json_t *kwds, size_t *len, uint32_t *mode)
{
    json_t *frame = json_pack("[IOO]", (json_int_t)fn->id, items, op == CALL_APPLY ? kwds : json_null());
    char *text = frame ? jtext_dumps(frame, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

    json_decref(frame);
    *mode = op == CALL_APPLY ? WIRE_MODE_APPLY : op == CALL_MAP ? WIRE_MODE_MAP : WIRE_MODE_STARMAP;
    if (text)
        *len = strlen(text);
    return text;
}

/* A chunk of items that are text: the frame call_payload would write,
 * with the items copied as they came. */
static char *
call_chunk_slice(const Call *c, size_t first, size_t n, size_t *len, uint32_t *mode)
{
    size_t from = c->items.starts[first], to = jscan_item_end(c->items_text, &c->items, first + n - 1);
    char head[16];
    size_t hl = (size_t)snprintf(head, sizeof(head), "[%u,[", c->fn->id);
    char *text = malloc(hl + (to - from) + sizeof("],null]"));

    if (!text)
        return NULL;
    memcpy(text, head, hl);
    memcpy(text + hl, c->items_text + from, to - from);
    memcpy(text + hl + (to - from), "],null]", sizeof("],null]"));
    *len = hl + (to - from) + sizeof("],null]") - 1;
    *mode = c->op == CALL_MAP ? WIRE_MODE_MAP : WIRE_MODE_STARMAP;
    return text;
}

char *
call_chunk_payload(const Call *c, size_t i, size_t *len, uint32_t *mode)
{
    json_t *items = NULL;
    char *text = NULL;

    if (c->items_text)
        return call_chunk_slice(c, call_chunk_first(c, i), call_chunk_len(c, i), len, mode);
    if (c->op == CALL_APPLY) {
        items = json_incref(c->args);
    } else {
        size_t first = call_chunk_first(c, i), n = call_chunk_len(c, i);
        if (!(items = json_array()))
            goto cleanup;
        for (size_t k = 0; k < n; k++)
            if (json_array_append(items, json_array_get(c->iterable, first + k)) < 0)
                goto cleanup;
    }
    text = call_payload(c->fn, c->op, items, c->kwds, len, mode);
cleanup:
    json_decref(items);
    return text;
}
