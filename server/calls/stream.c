/*
 * stream.c: see stream.h. This half keeps the window of chunks on the
 * pool and answers the connection; stream_out.c turns what comes back
 * into lines.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls/batch.h"
#include "calls/call.h"
#include "calls/stream_impl.h"
#include "worker/wire.h"

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
    stream_out_free(s);
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
    s->owner = pool_cancel_owner_new();
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
            stream_out_lines(s, ch);
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
    pool_task_meter(t, s->call->fn->id, n);
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
    size_t room = pool_submit_room(s->pool), n;
    int rc;

    while (!s->no_more && s->nheld < STREAM_SUBMIT_MAX && s->nheld < room && (n = stream_next_len(s)) > 0 &&
           s->inflight + n <= s->window &&
           (stream_out_uploading(s) || stream_out_pending(s) < STREAM_OUT_CAP)) {
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

    if (!s->submitted) /* nothing began: backpressure, as for any call */
        return SVC_EFULL;
    if (s->inflight > s->held_items)
        return SVC_OK;
    pthread_mutex_lock(&s->lock);
    if (!s->room_wait) {
        stream_ref(s); /* the pool's, until stream_room */
        if ((rc = pool_submit_when_room(s->pool, stream_room, s)) == SVC_OK)
            s->room_wait = 1;
        else
            __atomic_sub_fetch(&s->refs, 1, __ATOMIC_RELAXED); /* ours remains */
    }
    pthread_mutex_unlock(&s->lock);
    return rc; /* 1: there is room now, try again */
}

/* Sets the final line to write once the lines of the items read so far
 * are out, unless one is set already; none when out of memory. */
static void
stream_last(Stream *s, const char *type, const char *msg, Outcome outcome)
{
    if (!s->last && (s->last = stream_out_final_line(type, msg, outcome)))
        s->last_outcome = outcome;
}

/* A chunk could not be built (out of memory, or too large to send): its
 * items are lost, so nothing after it is sent; what is in flight ends
 * first, then a final line says why. */
static void
stream_build_failed(Stream *s, int rc)
{
    s->no_more = 1;
    if (rc == SVC_ETOOLARGE)
        stream_last(s, "TooLarge", "a chunk would exceed 1 GiB once encoded: lower chunksize", OUTCOME_TOO_LARGE);
    else
        stream_last(s, "MemoryError", "out of memory while sending the items", OUTCOME_NOMEM);
    if (!s->last)
        stream_out_cut(s, "MemoryError", "out of memory while sending the items", OUTCOME_NOMEM);
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
            if (s->no_more || s->inflight > 0 || stream_next_len(s) == 0 || pool_submit_room(s->pool) > 0)
                return SVC_OK;
            if ((rc = stream_wait_room(s)) != 1) /* nothing of ours will come back to wake us */
                return rc;
            continue;
        }
        __atomic_add_fetch(&s->refs, (int)s->nheld, __ATOMIC_RELAXED);
        if ((rc = pool_submit(s->pool, s->held, s->nheld)) != SVC_OK) {
            __atomic_sub_fetch(&s->refs, (int)s->nheld, __ATOMIC_RELAXED);
            if (rc != SVC_EFULL || (rc = stream_wait_room(s)) != 1)
                return rc;
            continue;
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
void
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
        stream_out_cut(s, "ShuttingDown", "poold is shutting down", OUTCOME_STOPPED);
        break;
    case SVC_EFULL:
    case SVC_E2BIG:
        stream_out_cut(s, "QueueFull", "the queue is full (--max-queue); retry later", OUTCOME_QUEUE_FULL);
        break;
    case SVC_EUNAVAIL:
        stream_out_cut(s, "Unavailable", "no worker could start (GET /readyz says why)", OUTCOME_UNAVAILABLE);
        break;
    case SVC_ETOOLARGE:
        stream_out_cut(s, "TooLarge", "a chunk would exceed 1 GiB once encoded: lower chunksize", OUTCOME_TOO_LARGE);
        break;
    default:
        stream_out_cut(s, "MemoryError", "out of memory while sending the items", OUTCOME_NOMEM);
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
        stream_out_cut(s, "MemoryError", "out of memory while reading the items", OUTCOME_NOMEM);
        return -1;
    }
    return stream_input_refused(s) ? -1 : stream_poll(s);
}

void
stream_reject(Stream *s, const char *type, const char *msg, Outcome why)
{
    /* The items before the bad line are good: their lines come first. */
    if (!s->cut)
        stream_last(s, type, msg, why);
    if (!s->last)
        stream_out_cut(s, type, msg, why);
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
        stream_out_cut(s, "ShuttingDown", "poold is shutting down", OUTCOME_STOPPED);
    if ((n = stream_out_copy(s, buf, max)) != 0)
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

Outcome
stream_refusal(Stream *s, char *type, size_t type_len, char *msg, size_t msg_len)
{
    if (s->items_out > 0 || !(s->cut || (s->last && s->next == 0 && json_array_size(s->pending) == 0)))
        return OUTCOME_OK;
    if (!s->cut) { /* the first item was not JSON (or could not be sent): nothing ran */
        json_t *e = json_object_get(s->last, "error");
        snprintf(type, type_len, "%s", json_string_value(json_object_get(e, "type")) ?: "InvalidItem");
        snprintf(msg, msg_len, "%s", json_string_value(json_object_get(e, "message")) ?: "");
        return s->last_outcome;
    }
    snprintf(type, type_len, "%s", s->cut_type);
    snprintf(msg, msg_len, "%s", s->cut_msg);
    return s->cut_outcome;
}
