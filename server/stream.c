/* stream.c: see stream.h. */
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "batch.h"
#include "call.h"
#include "wire.h"

#define STREAM_OUT_CAP (256 * 1024) /* outbox bytes held in memory */
#define STREAM_SUBMIT_MAX 64        /* chunks handed to the pool at once */

/* Bytes of lines every stream together holds on disk (atomic): --max-spill
 * bounds the sum, so N uploads cannot fill N times its size of $TMPDIR. */
static size_t stream_spill_total;

typedef struct StreamChunk {
    Stream *s;
    size_t first, n;          /* its items */
    int done;                 /* under s->lock */
    PoolResult res;           /* once done; its data is the chunk's */
    struct StreamChunk *next; /* in s->sent (imap) or s->back (unordered) */
} StreamChunk;

struct Stream {
    int refs;                 /* atomic: the connection's, one per chunk */
    pthread_mutex_t lock;     /* guards what is marked "lock" */
    Call *call;
    Pool *pool;
    uint64_t owner;
    int ordered, lines;
    size_t window;            /* items in flight at most: buffersize chunks */

    /* The connection's alone. */
    json_t *pending;          /* lines: items not yet in a chunk */
    size_t next;              /* index of the next item to send */
    size_t inflight;          /* items in chunks whose lines are not out yet
                               * (held ones included) */
    PoolTask *held[STREAM_SUBMIT_MAX]; /* built, not yet taken by the pool */
    StreamChunk *held_ch[STREAM_SUBMIT_MAX];
    size_t nheld, held_items;
    size_t items_out;         /* item lines written */
    int cut_status;           /* the final line's status, once cut */
    int no_more;              /* a chunk could not be built: send none after it */
    int submitted;            /* a chunk went to the pool: the stream has begun */
    char cut_type[32], cut_msg[200];
    int input_end;
    int cut;                  /* the final line is written: nothing follows */
    json_t *last;             /* a final line to write once the items read
                               * so far are out (stream_reject) */
    int ended;                /* stream_read said STREAM_END */
    char *out;                /* the outbox's memory part: the newest lines */
    size_t out_len, out_off, out_cap;
    int spill_fd;             /* older lines, while the client uploads */
    off_t spill_w, spill_r;
    size_t spill_held;        /* this stream's part of stream_spill_total */
    size_t max_spill;

    /* lock */
    StreamChunk *sent, *sent_tail; /* imap: every chunk in flight, in order */
    StreamChunk *back, *back_tail; /* imap_unordered: chunks back, in order of arrival */
    int cancelled;
    int room_wait;            /* a pool_when_room is pending */
    StreamWakeFn wake;
    void *wake_ctx;
};

Stream *
stream_ref(Stream *s)
{
    __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
    return s;
}

void
stream_unref(Stream *s)
{
    StreamChunk *ch, *next;

    if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    /* Every chunk's callback has run: each one is on a list. */
    for (ch = s->sent; ch; ch = next) {
        next = ch->next;
        free(ch->res.data);
        free(ch);
    }
    for (ch = s->back; ch; ch = next) {
        next = ch->next;
        free(ch->res.data);
        free(ch);
    }
    json_decref(s->pending);
    json_decref(s->last);
    call_free(s->call);
    pthread_mutex_destroy(&s->lock);
    free(s->out);
    if (s->spill_fd >= 0)
        close(s->spill_fd);
    __atomic_sub_fetch(&stream_spill_total, s->spill_held, __ATOMIC_RELAXED);
    free(s);
}

Stream *
stream_new(Call *call, const StreamOptions *o)
{
    Stream *s = calloc(1, sizeof(*s));

    if (!s || !(s->pending = json_array())) {
        free(s);
        call_free(call);
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    s->refs = 1;
    s->call = call;
    s->pool = o->pool;
    s->owner = pool_owner_new();
    s->ordered = o->ordered;
    s->lines = o->lines;
    s->input_end = !o->lines; /* an iterable is all there from the start */
    s->window = call->buffersize * call->chunksize;
    s->max_spill = o->max_spill;
    s->spill_fd = -1;
    s->wake = o->wake;
    s->wake_ctx = o->wake_ctx;
    return s;
}

/* --- the outbox --- */

static int
stream_uploading(const Stream *s)
{
    return s->lines && !s->input_end;
}

static size_t
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

static void stream_cut(Stream *s, const char *type, const char *msg, int status);
static void stream_drop_held(Stream *s);

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
        stream_cut(s, "TooLarge", msg, 413);
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
    stream_cut(s, "OSError", msg, 500);
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
    if (stream_uploading(s) && !s->cut && s->out_len - s->out_off >= STREAM_OUT_CAP)
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
static int
stream_out_json(Stream *s, json_t *line)
{
    char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
    int rc = text ? stream_out(s, text, strlen(text)) : -1;

    free(text);
    json_decref(line);
    return rc;
}

/* The last line of a stream that could not go on: it says why. Once. */
static void
stream_cut(Stream *s, const char *type, const char *msg, int status)
{
    if (s->cut)
        return;
    s->cut = 1;
    s->cut_status = status;
    snprintf(s->cut_type, sizeof(s->cut_type), "%s", type);
    snprintf(s->cut_msg, sizeof(s->cut_msg), "%s", msg);
    /* Nothing after this line is read: what still runs is waste. */
    stream_drop_held(s);
    pool_cancel(s->pool, s->owner, 1);
    if (stream_out_json(s, json_pack("{s:{s:s, s:s, s:i}, s:b}", "error", "type", type, "message", msg,
                                     "status", status, "final", 1)) < 0)
        stream_out(s, "{\"error\":{\"type\":\"MemoryError\",\"status\":500},\"final\":true}", 56);
}

/* --- results to lines --- */

static int
stream_error_line(Stream *s, size_t index, const char *type, const char *msg, int status)
{
    s->items_out++;
    return stream_out_json(s, json_pack("{s:I, s:{s:s, s:s, s:i}}", "index", (json_int_t)index, "error",
                                        "type", type, "message", msg, "status", status));
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
            json_t *st = json_object_get(e, "status");
            rc = stream_error_line(s, ch->first + k, json_string_value(json_object_get(e, "type")) ?: "Error",
                                   json_string_value(json_object_get(e, "message")) ?: "",
                                   st ? (int)json_integer_value(st) : 422);
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
static void
stream_lines(Stream *s, const StreamChunk *ch)
{
    char msg[320], others[320];
    int rc = 0;

    switch (ch->res.status) {
    case POOL_OK:
        rc = ch->res.fails ? stream_outcome_lines(s, ch) : stream_plain_lines(s, ch);
        break;
    case POOL_LOST:
        batch_lost_message(&ch->res, msg, sizeof(msg));
        for (size_t k = 0; rc == 0 && !s->cut && k < ch->n; k++)
            rc = stream_error_line(s, ch->first + k, "WorkerLost", msg, 502);
        break;
    case POOL_TIMEOUT:
        snprintf(msg, sizeof(msg), "the call ran past its timeout of %g s; %s (pid %d) was stopped",
                 ch->res.timeout, ch->res.worker, (int)ch->res.pid);
        snprintf(others, sizeof(others), "lost with its chunk when item %zu ran past its timeout of %g s",
                 ch->first + (size_t)ch->res.late_item, ch->res.timeout);
        for (size_t k = 0; rc == 0 && !s->cut && k < ch->n; k++)
            rc = stream_error_line(s, ch->first + k, "TimedOut", k == ch->res.late_item ? msg : others, 504);
        break;
    case POOL_CANCELLED:
        break; /* only the stream itself cancels: it is over */
    case POOL_STOPPED:
        stream_cut(s, "ShuttingDown", "poold is shutting down", 503);
        break;
    case POOL_UNAVAILABLE:
        stream_cut(s, "Unavailable", "no worker could start to run it: workers keep dying at start-up "
                   "(GET /readyz says why)", 503);
        break;
    case POOL_NOMEM:
        rc = -1;
        break;
    }
    if (rc < 0)
        stream_cut(s, "MemoryError", "out of memory while writing the results", 500);
}

/* Takes the chunks whose lines may be written now: imap's from the head
 * of the sent list while they are back, imap_unordered's all that are. */
static void
stream_drain(Stream *s)
{
    StreamChunk *ready = NULL, **tail = &ready, *ch;

    pthread_mutex_lock(&s->lock);
    if (s->ordered) {
        while (s->sent && s->sent->done) {
            *tail = s->sent;
            tail = &s->sent->next;
            s->sent = s->sent->next;
        }
        if (!s->sent)
            s->sent_tail = NULL;
        *tail = NULL;
    } else {
        ready = s->back;
        s->back = s->back_tail = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    while ((ch = ready)) {
        ready = ch->next;
        if (!s->cut)
            stream_lines(s, ch);
        s->inflight -= ch->n;
        free(ch->res.data);
        free(ch);
    }
}

/* --- sending chunks --- */

/* A PoolDoneFn, on the dispatcher thread. */
static void
stream_chunk_done(void *ctx, size_t index, PoolResult *res)
{
    StreamChunk *ch = ctx;
    Stream *s = ch->s;

    (void)index;
    pthread_mutex_lock(&s->lock);
    ch->res = *res;
    res->data = NULL;
    ch->done = 1;
    if (!s->ordered) {
        if (s->back_tail)
            s->back_tail->next = ch;
        else
            s->back = ch;
        s->back_tail = ch;
    }
    /* imap can write nothing new until its first chunk is back. */
    if (s->wake && (!s->ordered || s->sent == ch))
        s->wake(s->wake_ctx);
    pthread_mutex_unlock(&s->lock);
    stream_unref(s);
}

/* Items the next chunk would carry, 0 when none may go yet. */
static size_t
stream_next_len(const Stream *s)
{
    size_t cs = s->call->chunksize, have;

    if (s->lines) {
        have = json_array_size(s->pending);
        return have >= cs ? cs : s->input_end ? have : 0;
    }
    have = call_items(s->call) - s->next;
    return have < cs ? have : cs;
}

/* The items of the next chunk (new reference): n from the pending lines
 * or from the iterable. */
static json_t *
stream_take_items(Stream *s, size_t n)
{
    json_t *items, *rest;

    if (!s->lines) {
        if (!(items = json_array()))
            return NULL;
        for (size_t k = 0; k < n; k++)
            if (json_array_append(items, json_array_get(s->call->iterable, s->next + k)) < 0) {
                json_decref(items);
                return NULL;
            }
        return items;
    }
    if (json_array_size(s->pending) == n) { /* the usual case: all of them */
        if (!(rest = json_array()))
            return NULL;
        items = s->pending;
        s->pending = rest;
        return items;
    }
    if (!(items = json_array()) || !(rest = json_array())) {
        json_decref(items);
        return NULL;
    }
    for (size_t k = 0; k < json_array_size(s->pending); k++)
        json_array_append(k < n ? items : rest, json_array_get(s->pending, k));
    json_decref(s->pending);
    s->pending = rest;
    return items;
}

/* Makes the next chunk and its task. NULL with *rc set when out of memory
 * or too large to send. */
static PoolTask *
stream_task(Stream *s, size_t n, StreamChunk **chunk, int *rc)
{
    StreamChunk *ch = calloc(1, sizeof(*ch));
    json_t *items = ch ? stream_take_items(s, n) : NULL;
    size_t len = 0;
    uint32_t mode = 0;
    char *payload = items ? call_payload(s->call->fn, s->call->op, items, NULL, &len, &mode) : NULL;
    PoolTask *t = NULL;

    json_decref(items);
    *rc = payload && len > WIRE_MAX_PAYLOAD ? SVC_ETOOLARGE : SVC_ENOMEM;
    if (payload && len <= WIRE_MAX_PAYLOAD)
        t = pool_task_new(payload, len, mode, s->call->priority, stream_chunk_done, NULL, ch, 0, s->owner);
    else
        free(payload);
    if (!t) {
        free(ch);
        return NULL;
    }
    *chunk = ch;
    pool_task_limits(t, s->call->timeout, s->call->retries);
    ch->s = s;
    ch->first = s->next;
    ch->n = n;
    s->next += n;
    s->inflight += n;
    if (s->ordered) { /* listed now, in order: its callback may come at once */
        pthread_mutex_lock(&s->lock);
        if (s->sent_tail)
            s->sent_tail->next = ch;
        else
            s->sent = ch;
        s->sent_tail = ch;
        pthread_mutex_unlock(&s->lock);
    }
    return t;
}

/* Builds chunks into s->held while the window, the queue and (once the
 * client reads) the outbox have room: a slow reader slows the work, not
 * our memory. Returns SVC_OK, or why the next chunk could not be built. */
static int
stream_build(Stream *s)
{
    size_t room = pool_room(s->pool), n;
    int rc;

    while (!s->no_more && s->nheld < STREAM_SUBMIT_MAX && s->nheld < room && (n = stream_next_len(s)) > 0 &&
           s->inflight + n <= s->window &&
           (stream_uploading(s) || stream_out_pending(s) < STREAM_OUT_CAP)) {
        if (!(s->held[s->nheld] = stream_task(s, n, &s->held_ch[s->nheld], &rc)))
            return rc;
        s->nheld++;
        s->held_items += n;
    }
    return SVC_OK;
}

/* A PoolRoomFn: the queue has room again; the connection runs again. */
static void
stream_room(void *ctx)
{
    Stream *s = ctx;

    pthread_mutex_lock(&s->lock);
    s->room_wait = 0;
    if (s->wake)
        s->wake(s->wake_ctx);
    pthread_mutex_unlock(&s->lock);
    stream_unref(s);
}

/*
 * The queue is full. Before the first chunk, that is the call's refusal.
 * After it, with chunks of ours in flight, their return runs stream_fill
 * again; with none, the pool tells us when it has room. Other calls may
 * take that room first: then we wait again, never cut.
 */
static int
stream_wait_room(Stream *s)
{
    int rc = SVC_OK;

    if (!s->submitted) /* nothing began: backpressure, as for any call (503) */
        return SVC_EFULL;
    if (s->inflight > s->held_items)
        return SVC_OK;
    pthread_mutex_lock(&s->lock);
    if (!s->room_wait) {
        stream_ref(s); /* the pool's, until stream_room */
        if ((rc = pool_when_room(s->pool, stream_room, s)) == SVC_OK)
            s->room_wait = 1;
        else
            __atomic_sub_fetch(&s->refs, 1, __ATOMIC_RELAXED); /* ours remains */
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* A chunk could not be built (out of memory, or too large to send): its
 * items are lost, so nothing after it is sent; what is in flight ends
 * first, then a final line says why. */
static void
stream_build_failed(Stream *s, int rc)
{
    s->no_more = 1;
    if (!s->last)
        s->last = rc == SVC_ETOOLARGE
                      ? json_pack("{s:{s:s, s:s, s:i}, s:b}", "error", "type", "TooLarge", "message",
                                  "a chunk would exceed 1 GiB once encoded: lower chunksize", "status", 413,
                                  "final", 1)
                      : json_pack("{s:{s:s, s:s, s:i}, s:b}", "error", "type", "MemoryError", "message",
                                  "out of memory while sending the items", "status", 500, "final", 1);
    if (!s->last)
        stream_cut(s, "MemoryError", "out of memory while sending the items", 500);
}

/*
 * Sends chunks while there is room. Returns SVC_OK, or the refusal that
 * should cut the stream (the pool stopped or cannot start workers). The
 * chunks built but refused by a full queue stay held for the next try.
 */
static int
stream_fill(Stream *s)
{
    int rc = SVC_OK, built;

    while (!s->cut && !__atomic_load_n(&s->cancelled, __ATOMIC_ACQUIRE)) {
        if ((built = stream_build(s)) != SVC_OK)
            stream_build_failed(s, built);
        if (s->nheld == 0) {
            if (!s->no_more && s->inflight == 0 && stream_next_len(s) > 0 && pool_room(s->pool) == 0)
                return stream_wait_room(s); /* nothing of ours will come back to wake us */
            return SVC_OK;
        }
        __atomic_add_fetch(&s->refs, (int)s->nheld, __ATOMIC_RELAXED);
        if ((rc = pool_submit(s->pool, s->held, s->nheld)) != SVC_OK) {
            __atomic_sub_fetch(&s->refs, (int)s->nheld, __ATOMIC_RELAXED);
            return rc == SVC_EFULL ? stream_wait_room(s) : rc;
        }
        s->nheld = s->held_items = 0;
        s->submitted = 1;
        if (s->no_more)
            return SVC_OK;
    }
    return SVC_OK;
}

/* Chunks built but never taken by the pool: they will not run, and their
 * place in the lists ends the stream (lock not held). */
static void
stream_drop_held(Stream *s)
{
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->nheld; i++) {
        StreamChunk *ch = s->held_ch[i];
        ch->done = 1;
        ch->res.status = POOL_CANCELLED;
        if (!s->ordered) {
            if (s->back_tail)
                s->back_tail->next = ch;
            else
                s->back = ch;
            s->back_tail = ch;
        }
        pool_task_free(s->held[i]);
    }
    s->nheld = s->held_items = 0;
    pthread_mutex_unlock(&s->lock);
}

/* Cuts the stream for pool_submit's refusal rc. */
static void
stream_refused(Stream *s, int rc)
{
    switch (rc) {
    case SVC_OK:
        break;
    case SVC_ESTOPPED:
        stream_cut(s, "ShuttingDown", "poold is shutting down", 503);
        break;
    case SVC_EFULL:
    case SVC_E2BIG:
        stream_cut(s, "QueueFull", "the queue is full (--max-queue); retry later", 503);
        break;
    case SVC_EUNAVAIL:
        stream_cut(s, "Unavailable", "no worker could start (GET /readyz says why)", 503);
        break;
    case SVC_ETOOLARGE:
        stream_cut(s, "TooLarge", "a chunk would exceed 1 GiB once encoded: lower chunksize", 413);
        break;
    default:
        stream_cut(s, "MemoryError", "out of memory while sending the items", 500);
    }
}

/* --- the connection's side --- */

int
stream_start(Stream *s)
{
    return stream_fill(s);
}

int
stream_poll(Stream *s)
{
    stream_drain(s);
    stream_refused(s, stream_fill(s));
    if (stream_input_refused(s))
        return -1;
    return json_array_size(s->pending) >= s->call->chunksize;
}

int
stream_feed(Stream *s, json_t *item)
{
    if (stream_input_refused(s)) {
        json_decref(item);
        return -1;
    }
    if (json_array_append_new(s->pending, item) < 0) {
        stream_cut(s, "MemoryError", "out of memory while reading the items", 500);
        return -1;
    }
    return stream_input_refused(s) ? -1 : stream_poll(s);
}

void
stream_reject(Stream *s, const char *msg)
{
    /* The items before the bad line are good: their lines come first. */
    if (!s->cut && !s->last)
        s->last = json_pack("{s:{s:s, s:s, s:i}, s:b}", "error", "type", "InvalidItem", "message", msg,
                            "status", 400, "final", 1);
    if (!s->last)
        stream_cut(s, "InvalidItem", msg, 400);
    s->input_end = 1;
}

void
stream_end_input(Stream *s)
{
    s->input_end = 1;
}

int
stream_input_refused(Stream *s)
{
    return s->cut || s->last || __atomic_load_n(&s->cancelled, __ATOMIC_ACQUIRE);
}

/* Copies what the outbox holds, oldest first: the spill file, then memory. */
static ssize_t
stream_copy(Stream *s, char *buf, size_t max)
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

ssize_t
stream_read(Stream *s, char *buf, size_t max, int stopping)
{
    ssize_t n;

    if (__atomic_load_n(&s->cancelled, __ATOMIC_ACQUIRE))
        return STREAM_ERROR;
    stream_drain(s);
    stream_refused(s, stream_fill(s));
    if (stream_out_pending(s) == 0 && !s->cut && s->inflight == 0 &&
        (s->no_more || (stream_next_len(s) == 0 && s->input_end))) {
        if (!s->last) {
            s->ended = 1;
            return STREAM_END;
        }
        s->cut = 1;
        stream_out_json(s, s->last);
        s->last = NULL;
    }
    if (stream_out_pending(s) == 0 && stopping)
        stream_cut(s, "ShuttingDown", "poold is shutting down", 503);
    if ((n = stream_copy(s, buf, max)) != 0)
        return n;
    if (s->cut) {
        s->ended = 1;
        return STREAM_END;
    }
    return STREAM_WAIT; /* a chunk is in flight: its callback wakes us */
}

void
stream_cancel(Stream *s)
{
    int first;

    pthread_mutex_lock(&s->lock);
    first = !s->cancelled;
    __atomic_store_n(&s->cancelled, 1, __ATOMIC_RELEASE);
    if (first && s->wake)
        s->wake(s->wake_ctx);
    pthread_mutex_unlock(&s->lock);
    if (first)
        pool_cancel(s->pool, s->owner, 1);
}

void
stream_close(Stream *s)
{
    int unfinished;

    pthread_mutex_lock(&s->lock);
    s->wake = NULL;
    unfinished = !s->ended;
    pthread_mutex_unlock(&s->lock);
    stream_drop_held(s);
    /* Even after stream_cancel: a fill that raced it may have sent more. */
    if (unfinished)
        pool_cancel(s->pool, s->owner, 1);
    stream_unref(s);
}

int
stream_refusal(Stream *s, char *type, size_t type_len, char *msg, size_t msg_len)
{
    if (s->items_out > 0 || !(s->cut || (s->last && s->next == 0 && json_array_size(s->pending) == 0)))
        return 0;
    if (!s->cut) { /* the first item was not JSON (or could not be sent): nothing ran */
        json_t *e = json_object_get(s->last, "error");
        snprintf(type, type_len, "%s", json_string_value(json_object_get(e, "type")) ?: "InvalidItem");
        snprintf(msg, msg_len, "%s", json_string_value(json_object_get(e, "message")) ?: "");
        return json_integer_value(json_object_get(e, "status")) ? (int)json_integer_value(json_object_get(e, "status"))
                                                               : 400;
    }
    snprintf(type, type_len, "%s", s->cut_type);
    snprintf(msg, msg_len, "%s", s->cut_msg);
    return s->cut_status;
}
