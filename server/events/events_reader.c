/*
 * events_reader.c: the readers of the stream, and the waker thread.
 *
 * A reader copies frames out of the ring from its cursor, under the
 * ring's lock; one that did not fit the caller's buffer is kept in the
 * reader's own (its one frame of memory) and finished on the next read.
 * With nothing to read it sleeps; the waker wakes every sleeper once after
 * news, and each once a heartbeat for a comment line. A publisher only
 * signals the waker, and only when someone sleeps.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "events/events_impl.h"

#define S events_state
#define EVENTS_RETRY_MS 2000 /* how soon an EventSource reconnects */

/* Wakes a sleeping reader; lock held. */
static void
events_wake(EventsReader *r)
{
    if (!r->sleeping)
        return;
    r->sleeping = 0;
    S.sleeping--;
    r->wake(r->wake_ctx);
}

void *
events_waker(void *arg)
{
    double beat, tick;

    (void)arg;
    pthread_mutex_lock(&S.lock);
    beat = clock_mono() + S.opt.heartbeat;
    tick = clock_mono() + S.opt.tick_every;
    while (!S.stopping) {
        double now = clock_mono(), until = beat;
        if (S.news) {
            S.news = 0;
            for (EventsReader *r = S.readers; r; r = r->next)
                events_wake(r);
        }
        if (now >= beat) {
            for (EventsReader *r = S.readers; r; r = r->next) {
                r->heartbeat = 1;
                events_wake(r);
            }
            beat = now + S.opt.heartbeat;
        }
        if (S.opt.tick && S.opt.tick_every > 0) {
            if (now >= tick && S.nreaders > 0) {
                pthread_mutex_unlock(&S.lock);
                S.opt.tick(S.opt.tick_ctx); /* it publishes: the lock is not ours then */
                pthread_mutex_lock(&S.lock);
            }
            if (now >= tick)
                tick = now + S.opt.tick_every;
            until = tick < until ? tick : until;
        }
        if (!S.news)
            clock_cond_wait_until(&S.cond, &S.lock, until);
    }
    /* Stopping: every sleeper reads its end. */
    for (EventsReader *r = S.readers; r; r = r->next)
        events_wake(r);
    pthread_mutex_unlock(&S.lock);
    return NULL;
}

/* Puts text into the reader's own buffer, to be read before the ring. */
static void
events_pend(EventsReader *r, const char *text, size_t len)
{
    if (len > sizeof(r->pend))
        len = sizeof(r->pend);
    memcpy(r->pend, text, len);
    r->pend_off = 0;
    r->pend_len = len;
}

EventsReader *
events_open(const EventsFilter *f, int has_last, uint64_t last_id, EventsWakeFn wake, void *wake_ctx)
{
    EventsReader *r;
    char hello[64];
    int n;

    if (!__atomic_load_n(&S.live, __ATOMIC_ACQUIRE) || !(r = calloc(1, sizeof(*r))))
        return NULL;
    r->types = events_filter_bits(f->types);
    snprintf(r->job, sizeof(r->job), "%s", f->job ? f->job : "");
    r->wake = wake;
    r->wake_ctx = wake_ctx;
    /* The first bytes go at once: a client (and a proxy) sees the
     * stream open before any event. */
    n = snprintf(hello, sizeof(hello), "retry: %d\n: poold events\n\n", EVENTS_RETRY_MS);
    events_pend(r, hello, (size_t)n);
    pthread_mutex_lock(&S.lock);
    if (S.stopping) {
        pthread_mutex_unlock(&S.lock);
        free(r);
        return NULL;
    }
    r->cursor = has_last ? last_id + 1 : S.next;
    r->next = S.readers;
    if (S.readers)
        S.readers->prev = r;
    S.readers = r;
    S.nreaders++;
    pthread_mutex_unlock(&S.lock);
    return r;
}

/* Copies what is pending into buf; returns the bytes copied. */
static size_t
events_take_pend(EventsReader *r, char *buf, size_t max)
{
    size_t n = r->pend_len - r->pend_off;

    if (n > max)
        n = max;
    memcpy(buf, r->pend + r->pend_off, n);
    r->pend_off += n;
    if (r->pend_off == r->pend_len)
        r->pend_off = r->pend_len = 0;
    return n;
}

/* Copies the frame text into buf at *out when it fits; into an empty buf
 * it always goes, the rest kept in pend. 0 when there is no room. */
static int
events_put(EventsReader *r, const char *text, size_t len, char *buf, size_t max, size_t *out)
{
    if (len <= max - *out) {
        memcpy(buf + *out, text, len);
        *out += len;
        return 1;
    }
    if (*out > 0)
        return 0;
    events_pend(r, text, len);
    *out = events_take_pend(r, buf, max);
    return 1;
}

/* When the cursor is before the ring (or not this run's), the frame that
 * says so is put, and the cursor moved to what there is; lock held. 0
 * when there was no room for it. */
static int
events_gap(EventsReader *r, char *buf, size_t max, size_t *out)
{
    uint64_t oldest = events_oldest();
    char text[400];
    int n;

    if (r->cursor >= oldest && r->cursor <= S.next)
        return 1;
    if (r->cursor > S.next || r->cursor < S.first)
        n = snprintf(text, sizeof(text),
                     "event: stream.gap\ndata: {\"type\":\"stream.gap\",\"missed\":null,\"from\":%" PRIu64
                     ",\"reason\":\"that id is not of this run of poold (it restarted): what came before this "
                     "run's oldest event kept is unknown\"}\n\n",
                     r->cursor);
    else
        n = snprintf(text, sizeof(text),
                     "event: stream.gap\ndata: {\"type\":\"stream.gap\",\"missed\":%" PRIu64 ",\"from\":%" PRIu64
                     ",\"to\":%" PRIu64 ",\"reason\":\"the reader fell behind the ring of recent events\"}\n\n",
                     oldest - r->cursor, r->cursor, oldest - 1);
    if (!events_put(r, text, (size_t)n, buf, max, out))
        return 0;
    r->cursor = r->cursor > S.next ? S.next : oldest;
    events_count(EV_STREAM_GAP);
    return 1;
}

/* Copies the frames from the cursor the reader wants into buf, whole, up
 * to max; the first that does not fit an empty buf goes to pend. Lock held. */
static size_t
events_take_ring(EventsReader *r, char *buf, size_t max)
{
    size_t out = 0;

    if (!events_gap(r, buf, max, &out))
        return out;
    while (r->cursor < S.next && r->pend_len == 0) {
        const EventsSlot *s = &S.ring[r->cursor % S.cap];
        if (s->id != r->cursor || !(r->types & 1u << s->type) || (r->job[0] && strcmp(r->job, s->job) != 0)) {
            r->cursor++;
            continue;
        }
        if (!events_put(r, s->text, s->len, buf, max, &out))
            break;
        r->cursor++;
    }
    return out;
}

ssize_t
events_read(EventsReader *r, char *buf, size_t max, int stopping)
{
    size_t out = 0;
    ssize_t rc;

    pthread_mutex_lock(&S.lock);
    if (r->gone) {
        pthread_mutex_unlock(&S.lock);
        return EVENTS_END;
    }
    if (r->pend_len > 0)
        out = events_take_pend(r, buf, max);
    if (r->pend_len == 0 && out < max)
        out += events_take_ring(r, buf + out, max - out);
    if (out == 0 && r->heartbeat && max >= 3) {
        memcpy(buf, ":\n\n", 3); /* a comment: proxies see the stream live */
        out = 3;
    }
    r->heartbeat = 0;
    rc = out ? (ssize_t)out : stopping || S.stopping ? EVENTS_END : EVENTS_WAIT;
    if (rc == EVENTS_WAIT && !r->sleeping) {
        r->sleeping = 1;
        S.sleeping++;
    }
    pthread_mutex_unlock(&S.lock);
    return rc;
}

void
events_gone(EventsReader *r)
{
    pthread_mutex_lock(&S.lock);
    r->gone = 1;
    if (r->sleeping) {
        r->sleeping = 0;
        S.sleeping--;
        r->wake(r->wake_ctx);
    }
    pthread_mutex_unlock(&S.lock);
}

void
events_detach(EventsReader *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&S.lock);
    if (!r->detached) {
        r->detached = 1;
        if (r->prev)
            r->prev->next = r->next;
        else
            S.readers = r->next;
        if (r->next)
            r->next->prev = r->prev;
        S.nreaders--;
        if (r->sleeping)
            S.sleeping--;
        r->sleeping = 0; /* events_gone wakes no one now */
    }
    pthread_mutex_unlock(&S.lock);
}

void
events_close(EventsReader *r)
{
    events_detach(r);
    free(r);
}

size_t
events_readers(void)
{
    size_t n;

    pthread_mutex_lock(&S.lock);
    n = S.nreaders;
    pthread_mutex_unlock(&S.lock);
    return n;
}
