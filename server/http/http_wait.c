/*
 * http_wait.c: deferred answers. A handler that cannot answer at once
 * defers: its connection is suspended (no thread waits for it) until the
 * producer wakes it, from any thread.
 *
 * The waiter's lock orders wake against suspend: a wake that comes first
 * is remembered, never lost, and a connection that is not suspended is
 * never resumed (libmicrohttpd 0.9.75 loses such a resume, and resuming a
 * connection twice is undefined). Nor is a suspended one suspended again:
 * 0.9.75 would put it in its suspended list a second time, linked to
 * itself, and the worker that next walks that list in
 * resume_suspended_connections spins there for ever, holding the lock
 * every MHD_resume_connection then waits for.
 *
 * MHD does not notice a client that disconnects while its connection is
 * suspended. So a watcher thread puts the sockets of calls that have
 * waited HTTP_WATCH_AFTER in a small epoll set of its own, for EPOLLRDHUP,
 * and tells the handler (its HttpGoneFn) so that work nobody will read is
 * cancelled. Most calls end sooner and never cost an epoll_ctl: watching
 * every one cost a tenth of apply's throughput. The set holds waiter ids,
 * never pointers: an event may be read after its waiter is gone, and a
 * stale id finds nothing. A stream written past libmicrohttpd
 * (http_raw.c) sleeps there too while its socket has no room, and is
 * woken when it has.
 *
 * Lock order: MHD's response lock (a stream's content reader runs under
 * it), then a stream's lock, then the waiter's, then http->lock, then
 * MHD's connection-cleanup lock (taken by MHD_resume_connection; a call's
 * waiter, never paused again, is resumed after its lock is dropped).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "http/http_impl.h"
#include "core/log.h"

#define HTTP_WATCH_AFTER 0.05 /* seconds a call waits before it is watched */

/* In a watched socket's event, beside its waiter's id: it waits for room
 * to write (http_wait_room), not for a hang-up. */
#define HTTP_WAIT_ROOM (1ull << 63)

HttpWaiter *
http_wait_defer(HttpReq *r, HttpResumeFn fn, void *ctx, void (*ctx_free)(void *))
{
    HttpWaiter *w = calloc(1, sizeof(*w));

    if (!w) {
        if (ctx_free)
            ctx_free(ctx);
        return NULL;
    }
    pthread_mutex_init(&w->lock, NULL);
    w->refs = 2; /* the request's and the producer's */
    w->fd = -1;
    w->conn = r->conn;
    w->http = r->http;
    w->fn = fn;
    w->ctx = ctx;
    w->ctx_free = ctx_free;
    r->waiter = w;
    return w;
}

void
http_wait_on_gone(HttpWaiter *w, HttpGoneFn gone)
{
    w->gone_fn = gone;
}

static void
http_wait_ref(HttpWaiter *w)
{
    __atomic_add_fetch(&w->refs, 1, __ATOMIC_RELAXED);
}

void
http_wait_unref(HttpWaiter *w)
{
    if (!w || __atomic_sub_fetch(&w->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    if (w->ctx_free)
        w->ctx_free(w->ctx);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

/* Takes w out of the suspended table and the watch set (w->lock held).
 * Returns 1 when it was in: the caller then owns the table's reference. */
static int
http_wait_unlist(Http *h, HttpWaiter *w)
{
    HttpWaiter *found = NULL;

    pthread_mutex_lock(&h->lock);
    HASH_FIND(hh, h->suspended, &w->id, sizeof(w->id), found);
    if (found)
        HASH_DEL(h->suspended, w);
    if (w->fd >= 0) /* only calls that waited long were watched */
        epoll_ctl(h->watch_ep, EPOLL_CTL_DEL, w->fd, NULL);
    w->fd = -1;
    pthread_mutex_unlock(&h->lock);
    return found != NULL;
}

void
http_wait_wake(HttpWaiter *w)
{
    int listed = 0, resume = 0;

    pthread_mutex_lock(&w->lock);
    w->woken = 1;
    if (w->suspended && !w->gone) {
        w->suspended = 0;
        listed = http_wait_unlist(w->http, w);
        w->woken = !w->stream; /* a stream's resume is its wake */
        /* A stream's connection may be paused again (http_wait_pause) as soon
         * as suspended reads 0, so its resume must be asked for first. A
         * call's is suspended once only (http_wait_suspend): it is resumed once
         * the lock is dropped, since the MHD thread it wakes takes the
         * lock first thing (http_wait_resumed) and would sleep on it again. */
        if (w->stream)
            MHD_resume_connection(w->conn);
        else
            resume = 1;
    }
    pthread_mutex_unlock(&w->lock);
    if (resume)
        MHD_resume_connection(w->conn);
    if (listed)
        http_wait_unref(w); /* the request still holds one: never the last */
}

/* Queues a suspension for the watcher (h->lock held). Wakes it only when
 * the ring was empty: under load it is never empty, and the watcher's
 * tick takes the lot. */
static void
http_wait_pend(Http *h, uint64_t id, int fd)
{
    if (h->pend_len == h->pend_cap) {
        size_t cap = h->pend_cap ? h->pend_cap * 2 : 64;
        HttpPending *grown = malloc(cap * sizeof(*grown));
        if (!grown)
            return; /* this call is not watched: it still gets its answer */
        for (size_t i = 0; i < h->pend_len; i++)
            grown[i] = h->pend[(h->pend_head + i) % h->pend_cap];
        free(h->pend);
        h->pend = grown;
        h->pend_cap = cap;
        h->pend_head = 0;
    }
    h->pend[(h->pend_head + h->pend_len++) % h->pend_cap] =
        (HttpPending){.id = id, .at = clock_mono(), .fd = fd};
    if (h->pend_len == 1) {
        uint64_t one = 1;
        if (write(h->watch_stop, &one, sizeof(one)) < 0)
            log_errno(LOG_WARN, errno, "eventfd write");
    }
}

/* A wait for room lasts --connection-timeout at most (h->lock held): a
 * client that neither reads its answer nor lets its body be dropped (it
 * sends nothing more) holds its connection no longer. None without a
 * timeout, as MHD's idle one. */
static void
http_wait_room_deadline(Http *h, uint64_t id)
{
    uint64_t one = 1;

    if (h->conn_timeout <= 0)
        return;
    if (h->rooms_len == h->rooms_cap) {
        size_t cap = h->rooms_cap ? h->rooms_cap * 2 : 8;
        HttpPending *grown = realloc(h->rooms, cap * sizeof(*grown));
        if (!grown)
            return; /* this wait has no deadline: the client's to end */
        h->rooms = grown;
        h->rooms_cap = cap;
    }
    h->rooms[h->rooms_len++] = (HttpPending){.id = id, .at = clock_mono() + h->conn_timeout};
    if (write(h->watch_stop, &one, sizeof(one)) < 0) /* the watcher's sleep may be longer */
        log_errno(LOG_WARN, errno, "eventfd write");
}

/* Puts w in the table and, when the handler cares, in the watcher's ring;
 * or, with a room_fd, that socket in the watch set at once, for room to
 * write. Under w->lock. Returns 0, or -1 when poold is stopping (or the
 * socket cannot be watched). */
static int
http_wait_list(Http *h, HttpWaiter *w, int room_fd)
{
    const union MHD_ConnectionInfo *ci;

    pthread_mutex_lock(&h->lock);
    if (h->stopping) {
        pthread_mutex_unlock(&h->lock);
        return -1;
    }
    w->id = ++h->next_id;
    if (room_fd >= 0) {
        struct epoll_event ev = {.events = EPOLLOUT | EPOLLONESHOT, .data.u64 = w->id | HTTP_WAIT_ROOM};
        if (epoll_ctl(h->watch_ep, EPOLL_CTL_ADD, room_fd, &ev) < 0) {
            pthread_mutex_unlock(&h->lock);
            return -1;
        }
        w->fd = room_fd; /* watched already: the ring passes it by */
        http_wait_room_deadline(h, w->id);
    }
    http_wait_ref(w);
    HASH_ADD(hh, h->suspended, id, sizeof(w->id), w);
    ci = w->gone_fn && room_fd < 0 ? MHD_get_connection_info(w->conn, MHD_CONNECTION_INFO_CONNECTION_FD) : NULL;
    if (ci && h->watch_ep >= 0)
        http_wait_pend(h, w->id, ci->connect_fd);
    pthread_mutex_unlock(&h->lock);
    return 0;
}

/*
 * Ends the waits for room past their deadline: each is woken late, and
 * gives up (http_wait_sleep); those woken since are forgotten. Returns
 * the milliseconds until the next deadline, or -1 when none is left.
 */
static int
http_wait_rooms_due(Http *h, double now)
{
    HttpWaiter *late[16];
    uint64_t ids[16];
    int nlate = 0, ms = -1;

    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < h->rooms_len;) {
        HttpPending *rd = &h->rooms[i];
        HttpWaiter *w = NULL;
        HASH_FIND(hh, h->suspended, &rd->id, sizeof(rd->id), w);
        if (w && rd->at > now) {
            int due = (int)((rd->at - now) * 1000) + 1;
            ms = ms < 0 || due < ms ? due : ms;
            i++;
            continue;
        }
        if (w && nlate == (int)(sizeof(late) / sizeof(late[0]))) {
            ms = 0; /* more next time round */
            break;
        }
        if (w) {
            ids[nlate] = rd->id;
            http_wait_ref(late[nlate++] = w);
        }
        *rd = h->rooms[--h->rooms_len];
    }
    pthread_mutex_unlock(&h->lock);
    for (int i = 0; i < nlate; i++) {
        HttpWaiter *w = late[i];
        int still;
        pthread_mutex_lock(&w->lock);
        /* Still in that same wait: not woken (and asleep again) since. */
        if ((still = w->suspended && w->id == ids[i]))
            w->late = 1;
        pthread_mutex_unlock(&w->lock);
        if (still) {
            log_msg(LOG_DEBUG, "an answer written past libmicrohttpd had no room for --connection-timeout");
            http_wait_wake(w);
        }
        /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): the ref taken above outlives the wake's */
        http_wait_unref(w);
    }
    return ms;
}

/*
 * Watches the sockets of calls that have waited HTTP_WATCH_AFTER and are
 * still suspended. Under h->lock, which keeps each of them suspended (a
 * wake must take it to unlist), so its socket is still its own. Returns
 * the milliseconds until the next is due, or -1 when the ring is empty.
 */
static int
http_wait_watch_due(Http *h)
{
    double now = clock_mono();
    int ms = http_wait_rooms_due(h, now);

    pthread_mutex_lock(&h->lock);
    while (h->pend_len) {
        HttpPending *pd = &h->pend[h->pend_head];
        HttpWaiter *w = NULL;
        if (pd->at + HTTP_WATCH_AFTER > now) {
            int due = (int)((pd->at + HTTP_WATCH_AFTER - now) * 1000) + 1;
            ms = ms < 0 || due < ms ? due : ms;
            break;
        }
        HASH_FIND(hh, h->suspended, &pd->id, sizeof(pd->id), w);
        if (w && w->fd < 0) {
            struct epoll_event ev = {.events = EPOLLRDHUP | EPOLLONESHOT, .data.u64 = w->id};
            if (epoll_ctl(h->watch_ep, EPOLL_CTL_ADD, pd->fd, &ev) == 0)
                w->fd = pd->fd;
        }
        h->pend_head = (h->pend_head + 1) % h->pend_cap;
        h->pend_len--;
    }
    pthread_mutex_unlock(&h->lock);
    return ms;
}

void
http_wait_suspend(HttpReq *r)
{
    HttpWaiter *w = r->waiter;
    int now, stopping = 0;

    pthread_mutex_lock(&w->lock);
    now = w->woken;
    if (!now && !(stopping = http_wait_list(r->http, w, -1) < 0)) {
        w->suspended = 1;
        MHD_suspend_connection(r->conn);
    }
    pthread_mutex_unlock(&w->lock);
    if (stopping) /* http_stop resumed the others; this one would outlive MHD */
        http_reply_problem(r, 503, "poold is shutting down", NULL);
    else if (now)
        w->fn(r, w->ctx);
}

int
http_wait_asleep(HttpWaiter *w)
{
    int asleep;

    pthread_mutex_lock(&w->lock);
    asleep = w->suspended;
    pthread_mutex_unlock(&w->lock);
    return asleep;
}

/* http_wait_pause's and http_wait_room's: room_fd -1 for a pause. */
static int
http_wait_sleep(HttpWaiter *w, int room_fd)
{
    int rc = 1;

    pthread_mutex_lock(&w->lock);
    if (w->suspended)
        rc = 1; /* asleep already, no wake since: it sleeps on, never suspended twice */
    else if (room_fd >= 0 && w->late)
        rc = -1; /* it waited for room its whole time: no more */
    else if (w->woken)
        w->woken = rc = 0;
    else if (http_wait_list(w->http, w, room_fd) < 0)
        rc = -1;
    else
        w->suspended = 1, MHD_suspend_connection(w->conn);
    pthread_mutex_unlock(&w->lock);
    return rc;
}

int
http_wait_pause(HttpWaiter *w)
{
    return http_wait_sleep(w, -1);
}

int
http_wait_room(HttpWaiter *w, int fd)
{
    return http_wait_sleep(w, fd);
}

void
http_wait_resumed(HttpReq *r)
{
    int woken;

    pthread_mutex_lock(&r->waiter->lock);
    woken = r->waiter->woken;
    pthread_mutex_unlock(&r->waiter->lock);
    if (woken)
        r->waiter->fn(r, r->waiter->ctx);
    else
        http_reply_problem(r, 503, "poold is shutting down", NULL);
}

void
http_wait_release(HttpWaiter *w)
{
    pthread_mutex_lock(&w->lock);
    w->gone = 1;
    pthread_mutex_unlock(&w->lock);
    if (w->closed)
        w->closed(w->ctx);
    http_wait_unref(w);
}

/* The waiter suspended under id, with a reference the caller drops; NULL
 * when none is (a stale id from the watch set). */
static HttpWaiter *
http_wait_find(Http *h, uint64_t id)
{
    HttpWaiter *w = NULL;

    pthread_mutex_lock(&h->lock);
    HASH_FIND(hh, h->suspended, &id, sizeof(id), w);
    if (w)
        http_wait_ref(w);
    pthread_mutex_unlock(&h->lock);
    return w;
}

/* A watched socket hung up: tell the handler once, if its answer is still
 * awaited. The connection stays suspended until the producer wakes it. */
static void
http_wait_watch_event(Http *h, uint64_t id)
{
    HttpWaiter *w = http_wait_find(h, id);
    int tell = 0;

    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    if (w->suspended && !w->woken && !w->cancelled)
        tell = w->cancelled = 1;
    pthread_mutex_unlock(&w->lock);
    if (tell) {
        log_msg(LOG_DEBUG, "client gone while its call waits: cancelling");
        w->gone_fn(w->ctx);
    }
    http_wait_unref(w);
}

/* A socket that waited for room has some (or an error to tell): its
 * connection wakes, to write. */
static void
http_wait_watch_room(Http *h, uint64_t id)
{
    HttpWaiter *w = http_wait_find(h, id);

    if (w) {
        http_wait_wake(w);
        /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): the ref taken above outlives the wake's */
        http_wait_unref(w);
    }
}

static void *
http_wait_watch_run(void *arg)
{
    Http *h = arg;
    struct epoll_event evs[32];

    for (;;) {
        int n = epoll_wait(h->watch_ep, evs, 32, http_wait_watch_due(h));
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 == 0) { /* the eventfd: new work, or stop */
                uint64_t v;
                if (read(h->watch_stop, &v, sizeof(v)) < 0 && errno != EAGAIN)
                    return NULL;
                if (__atomic_load_n(&h->watch_quit, __ATOMIC_ACQUIRE))
                    return NULL;
                continue;
            }
            if (evs[i].data.u64 & HTTP_WAIT_ROOM)
                http_wait_watch_room(h, evs[i].data.u64 & ~HTTP_WAIT_ROOM);
            else
                http_wait_watch_event(h, evs[i].data.u64);
        }
    }
    return NULL;
}

int
http_wait_start(Http *h)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};

    h->watch_ep = epoll_create1(EPOLL_CLOEXEC);
    h->watch_stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (h->watch_ep < 0 || h->watch_stop < 0 ||
        epoll_ctl(h->watch_ep, EPOLL_CTL_ADD, h->watch_stop, &ev) < 0 ||
        pthread_create(&h->watcher, NULL, http_wait_watch_run, h) != 0)
        return -1;
    h->watcher_started = 1;
    return 0;
}

void
http_wait_stop(Http *h)
{
    uint64_t one = 1;

    __atomic_store_n(&h->watch_quit, 1, __ATOMIC_RELEASE);
    if (h->watcher_started && write(h->watch_stop, &one, sizeof(one)) == sizeof(one))
        pthread_join(h->watcher, NULL);
    free(h->pend);
    h->pend = NULL;
    h->pend_len = h->pend_cap = 0;
    free(h->rooms);
    h->rooms = NULL;
    h->rooms_len = h->rooms_cap = 0;
    h->watcher_started = 0;
    if (h->watch_ep >= 0)
        close(h->watch_ep);
    if (h->watch_stop >= 0)
        close(h->watch_stop);
    h->watch_ep = h->watch_stop = -1;
}

void
http_wait_resume_all(Http *h)
{
    HttpWaiter *w;

    pthread_mutex_lock(&h->lock);
    h->stopping = 1;
    while ((w = h->suspended)) {
        HASH_DEL(h->suspended, w); /* its reference is ours now */
        pthread_mutex_unlock(&h->lock);
        pthread_mutex_lock(&w->lock);
        if (w->suspended && !w->gone) {
            w->suspended = 0;
            MHD_resume_connection(w->conn);
        }
        pthread_mutex_unlock(&w->lock);
        http_wait_unref(w);
        pthread_mutex_lock(&h->lock);
    }
    pthread_mutex_unlock(&h->lock);
}
