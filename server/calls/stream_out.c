/*
 * stream_out.c: a stream's outbox. Results come back as the workers wrote
 * them and become NDJSON lines (spliced, never re-encoded, when no item
 * failed); the lines wait in memory, or, while the client is still
 * uploading and cannot read, in an unlinked file, within --max-spill for
 * all streams together.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "calls/batch.h"
#include "calls/stream_impl.h"
#include "core/jtext.h"
#include "http/http_status.h"
#include "worker/wire.h"

/* Bytes of lines every stream together holds on disk (atomic): --max-spill
 * bounds the sum, so N uploads cannot fill N times its size of $TMPDIR. */
static size_t stream_spill_total;

int
stream_out_uploading(const Stream *s)
{
    return s->lines && !s->input_end;
}

size_t
stream_out_pending(const Stream *s)
{
    return s->out_len - s->out_off + (size_t)(s->spill_w - s->spill_r);
}

/* An unlinked file in $TMPDIR: it goes with the stream, whatever ends it. */
static int
stream_spill_open(void)
{
    const char *dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char path[4096];
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd;
    snprintf(path, sizeof(path), "%s/poold-stream-XXXXXX", dir);
    if ((fd = mkostemp(path, O_CLOEXEC)) >= 0)
        unlink(path);
    return fd;
}


/* Moves the memory part to the end of the spill file: while the client
 * uploads, nothing reads the outbox, and memory must stay flat. */
static void
stream_spill(Stream *s)
{
    size_t len = s->out_len - s->out_off;
    char msg[200];

    if (s->spill_fd < 0 && (s->spill_fd = stream_spill_open()) < 0) {
        snprintf(msg, sizeof(msg), "cannot hold the results while the body uploads: %s", strerror(errno));
        goto fail;
    }
    if (__atomic_add_fetch(&stream_spill_total, len, __ATOMIC_RELAXED) > s->max_spill) {
        __atomic_sub_fetch(&stream_spill_total, len, __ATOMIC_RELAXED);
        /* The lines held so far stay: the final line follows them. */
        snprintf(msg, sizeof(msg), "the results waiting for the body to end passed --max-spill (%zu bytes, "
                 "all streams together): send fewer lines per request", s->max_spill);
        stream_out_cut(s, "TooLarge", msg, OUTCOME_TOO_LARGE);
        return;
    }
    s->spill_held += len;
    for (size_t done = 0; done < len;) {
        ssize_t n = pwrite(s->spill_fd, s->out + s->out_off + done, len - done, s->spill_w);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(msg, sizeof(msg), "cannot hold the results while the body uploads: %s",
                     strerror(n < 0 ? errno : ENOSPC));
            goto fail;
        }
        done += (size_t)n;
        s->spill_w += n;
    }
    s->out_len = s->out_off = 0;
    return;
fail:
    s->out_len = s->out_off = 0;
    stream_out_cut(s, "OSError", msg, OUTCOME_INTERNAL);
}

/* Appends one line made of n parts (without its newline). Returns -1
 * when out of memory: the caller cuts the stream. */
static int
stream_outv(Stream *s, const struct iovec *parts, int n)
{
    size_t len = 1;

    for (int i = 0; i < n; i++)
        len += parts[i].iov_len;
    if (s->out_len + len > s->out_cap) {
        size_t cap = s->out_cap ? s->out_cap : 4096;
        while (cap < s->out_len + len)
            cap *= 2;
        char *grown = realloc(s->out, cap);
        if (!grown)
            return -1;
        s->out = grown;
        s->out_cap = cap;
    }
    for (int i = 0; i < n; i++) {
        memcpy(s->out + s->out_len, parts[i].iov_base, parts[i].iov_len);
        s->out_len += parts[i].iov_len;
    }
    s->out[s->out_len++] = '\n';
    if (stream_out_uploading(s) && !s->cut && s->out_len - s->out_off >= STREAM_OUT_CAP)
        stream_spill(s);
    return 0;
}

static int
stream_out(Stream *s, const char *text, size_t len)
{
    struct iovec part = {(void *)text, len};

    return stream_outv(s, &part, 1);
}

/* Appends a line made of a JSON value (stolen). */
int
stream_out_json(Stream *s, json_t *line)
{
    char *text = line ? jtext_dumps(line, JSON_COMPACT) : NULL;
    int rc = text ? stream_out(s, text, strlen(text)) : -1;

    free(text);
    json_decref(line);
    return rc;
}

json_t *
stream_out_final_line(const char *type, const char *msg, Outcome outcome)
{
    return json_pack("{s:{s:s, s:s, s:i}, s:b}", "error", "type", type, "message", msg, "status",
                     http_status(outcome), "final", 1);
}

/* The last line of a stream that could not go on: it says why. Once. */
void
stream_out_cut(Stream *s, const char *type, const char *msg, Outcome outcome)
{
    char line[128];
    int n;

    if (s->cut)
        return;
    s->cut = 1;
    s->cut_outcome = outcome;
    snprintf(s->cut_type, sizeof(s->cut_type), "%s", type);
    snprintf(s->cut_msg, sizeof(s->cut_msg), "%s", msg);
    /* Nothing after this line is read: what still runs is waste. */
    stream_drop_held(s);
    pool_cancel(s->pool, s->owner, 1);
    if (stream_out_json(s, stream_out_final_line(type, msg, outcome)) < 0) {
        n = snprintf(line, sizeof(line), "{\"error\":{\"type\":\"MemoryError\",\"message\":\"out of memory\","
                     "\"status\":%d},\"final\":true}", http_status(OUTCOME_NOMEM));
        stream_out(s, line, (size_t)n);
    }
}

/* --- results to lines --- */

static int
stream_error_line(Stream *s, size_t index, const char *type, const char *msg, const char *traceback,
                  Outcome outcome)
{
    json_t *line = json_pack("{s:I, s:{s:s, s:s, s:i}}", "index", (json_int_t)index, "error", "type", type,
                             "message", msg, "status", http_status(outcome));

    if (line && traceback && *traceback)
        json_object_set_new(json_object_get(line, "error"), "traceback", json_string(traceback));
    s->items_out++;
    return stream_out_json(s, line);
}

/* Writes {"index":i,"result":v} for each value of a compact JSON array
 * as the worker wrote it, cut at its top-level commas: no parse. */
static int
stream_plain_lines(Stream *s, const StreamChunk *ch)
{
    const char *p = ch->res.data + 1, *end = ch->res.data + ch->res.len - 1, *v = p;
    char head[48];
    int depth = 0, in_str = 0;
    size_t k = 0;

    if (ch->res.len < 2 || p == end + 1)
        return 0; /* "[]": a chunk has items, but a worker's answer is data */
    for (; p <= end; p++) {
        if (in_str) {
            if (*p == '\\')
                p++;
            else if (*p == '"')
                in_str = 0;
        } else if (*p == '"') {
            in_str = 1;
        } else if (*p == '[' || *p == '{') {
            depth++;
        } else if ((*p == ']' || *p == '}') && p < end) {
            depth--;
        } else if ((*p == ',' && depth == 0) || p == end) {
            int hl = snprintf(head, sizeof(head), "{\"index\":%zu,\"result\":", ch->first + k++);
            struct iovec parts[] = {{head, (size_t)hl}, {(void *)v, (size_t)(p - v)}, {"}", 1}};
            if (stream_outv(s, parts, 3) < 0)
                return -1;
            s->items_out++;
            if (s->cut) /* that line passed --max-spill: the final one is out */
                return 0;
            v = p + 1;
        }
    }
    return 0;
}

/* A chunk with failed items: its entries are outcomes. */
static int
stream_outcome_lines(Stream *s, const StreamChunk *ch)
{
    json_t *outs = json_loadb(ch->res.data, ch->res.len, 0, NULL), *o, *e;
    size_t k;
    int rc = outs ? 0 : -1;

    json_array_foreach(outs, k, o) {
        if (rc < 0 || s->cut)
            break;
        if ((e = json_object_get(o, "e"))) {
            rc = stream_error_line(s, ch->first + k, json_string_value(json_object_get(e, "type")) ?: "Error",
                                   json_string_value(json_object_get(e, "message")) ?: "",
                                   json_string_value(json_object_get(e, "traceback")), batch_item_outcome(e));
        } else {
            rc = stream_out_json(s, json_pack("{s:I, s:O}", "index", (json_int_t)(ch->first + k), "result",
                                              json_object_get(o, "r")));
            s->items_out++;
        }
    }
    json_decref(outs);
    return rc;
}

/* The lines of one chunk that came back, or the stream's end when the pool
 * could not run it. */
void
stream_out_lines(Stream *s, const StreamChunk *ch)
{
    char msg[WIRE_NOTE_MAX + 160], others[320];
    int rc = 0;

    switch (ch->res.status) {
    case POOL_OK:
        rc = ch->res.fails ? stream_outcome_lines(s, ch) : stream_plain_lines(s, ch);
        break;
    case POOL_LOST:
        batch_lost_message(&ch->res, msg, sizeof(msg));
        for (size_t k = 0; rc == 0 && !s->cut && k < ch->n; k++)
            rc = stream_error_line(s, ch->first + k, "WorkerLost", msg, NULL, OUTCOME_WORKER_LOST);
        break;
    case POOL_TIMEOUT:
        snprintf(msg, sizeof(msg), "the call ran past its timeout of %g s; %s (pid %d) was stopped",
                 ch->res.timeout, ch->res.worker, (int)ch->res.pid);
        snprintf(others, sizeof(others), "lost with its chunk when item %zu ran past its timeout of %g s",
                 ch->first + (size_t)ch->res.late_item, ch->res.timeout);
        for (size_t k = 0; rc == 0 && !s->cut && k < ch->n; k++)
            rc = stream_error_line(s, ch->first + k, "TimedOut", k == ch->res.late_item ? msg : others, NULL,
                                   OUTCOME_TIMED_OUT);
        break;
    case POOL_CANCELLED:
        break; /* only the stream itself cancels: it is over */
    case POOL_STOPPED:
        stream_out_cut(s, "ShuttingDown", "poold is shutting down", OUTCOME_STOPPED);
        break;
    case POOL_UNAVAILABLE:
        stream_out_cut(s, "Unavailable", "no worker could start to run it: workers keep dying at start-up "
                   "(GET /readyz says why)", OUTCOME_UNAVAILABLE);
        break;
    case POOL_NOMEM:
        rc = -1;
        break;
    }
    if (rc < 0)
        stream_out_cut(s, "MemoryError", "out of memory while writing the results", OUTCOME_NOMEM);
}

/* Copies what the outbox holds, oldest first: the spill file, then memory. */
ssize_t
stream_out_copy(Stream *s, char *buf, size_t max)
{
    size_t n;

    if (s->spill_w > s->spill_r) {
        n = (size_t)(s->spill_w - s->spill_r) < max ? (size_t)(s->spill_w - s->spill_r) : max;
        ssize_t got = pread(s->spill_fd, buf, n, s->spill_r);
        if (got <= 0)
            return STREAM_ERROR; /* the lines are lost: the client must know */
        s->spill_r += got;
        if (s->spill_r == s->spill_w) {
            s->spill_r = s->spill_w = 0;
            __atomic_sub_fetch(&stream_spill_total, s->spill_held, __ATOMIC_RELAXED);
            s->spill_held = 0;
            if (ftruncate(s->spill_fd, 0) < 0)
                return STREAM_ERROR;
        }
        return got;
    }
    n = s->out_len - s->out_off < max ? s->out_len - s->out_off : max;
    if (n == 0)
        return 0;
    memcpy(buf, s->out + s->out_off, n);
    s->out_off += n;
    if (s->out_off == s->out_len)
        s->out_off = s->out_len = 0;
    return (ssize_t)n;
}

void
stream_out_free(Stream *s)
{
    free(s->out);
    if (s->spill_fd >= 0)
        close(s->spill_fd);
    __atomic_sub_fetch(&stream_spill_total, s->spill_held, __ATOMIC_RELAXED);
}
