/*
 * http_listen.c: poold's own listening socket, and the thread that accepts
 * on it and hands each connection to libmicrohttpd.
 *
 * Why not MHD's own accept: with a thread pool, each of MHD's threads
 * polls the one listening socket, and the thread that wakes first takes a
 * whole burst of new connections. 64 connections opened at once were
 * split 3 to 1 often enough (one HTTP thread saturated, the other idle
 * half the time) that a run's throughput moved by a third with that luck.
 * MHD_add_connection places a connection on thread (descriptor % threads):
 * connections open together have consecutive descriptors, and are split
 * evenly.
 *
 * --max-connections is kept here: past it the thread stops accepting, so a
 * new connection waits in the kernel's queue, unanswered, until another
 * closes, as it did with MHD's accept. Connections are counted from the
 * accept to MHD's MHD_CONNECTION_NOTIFY_CLOSED; a close that brings the
 * count under the limit wakes the thread. The per-address limit stays
 * MHD's, checked inside MHD_add_connection, which then refuses (and
 * closes) the socket at once, and the count gives the place back.
 *
 * MHD_add_connection's yes only queues the socket for an MHD thread, which
 * may still drop it untold (libmicrohttpd 0.9.75 does when a connection's
 * memory pool cannot be had). So each connection is pending, in a small
 * table, from the add to MHD_CONNECTION_NOTIFY_STARTED; at the limit, once
 * a second, a pending socket that is closed (or is another file now: its
 * descriptor was taken again) was dropped, and its place is given back.
 * One that is only queued still holds its descriptor: it stays. MHD's own
 * limit is set above ours (http.c) so that it never refuses what we count.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uthash.h>

#include "core/clock.h"
#include "http/http_impl.h"
#include "core/log.h"

/* How long the thread sleeps at the limit before it looks for dropped
 * connections, and after an accept that failed for want of descriptors or
 * memory (accept4 would fail again at once, and spin). */
#define HTTP_LISTEN_RECOUNT_MS 1000
#define HTTP_LISTEN_BACKOFF_MS 100

/* Binds the first of host's addresses that will. Returns the socket, or -1
 * with errno set by the last attempt. */
static int
http_listen_bind(const struct addrinfo *ai)
{
    int one = 1, err = EADDRNOTAVAIL;

    for (; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
            (ai->ai_family != AF_INET6 || setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == 0) &&
            bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0)
            return fd;
        err = errno;
        if (fd >= 0)
            close(fd);
    }
    errno = err;
    return -1;
}

int
http_listen_open(Http *h, const char *host, int port, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
        struct sockaddr_storage ss;
    } bound = {.ss = {0}};
    socklen_t blen = sizeof(bound);
    const char *v6 = strchr(host, ':') ? "[" : "";
    char service[16];
    int gai;

    h->listen_fd = h->listen_stop = h->listen_room = -1;
    pthread_mutex_init(&h->pending_lock, NULL);
    snprintf(service, sizeof(service), "%d", port);
    if ((gai = getaddrinfo(host, service, &hints, &ai)) != 0) {
        snprintf(err, errlen, "--host %s: %s", host, gai_strerror(gai));
        return -1;
    }
    h->listen_fd = http_listen_bind(ai);
    freeaddrinfo(ai);
    if (h->listen_fd < 0 || getsockname(h->listen_fd, &bound.sa, &blen) < 0) {
        snprintf(err, errlen, "cannot listen on %s%s%s:%d: %s", v6, host, *v6 ? "]" : "", port, strerror(errno));
        return -1;
    }
    if ((h->listen_stop = eventfd(0, EFD_CLOEXEC)) < 0 || (h->listen_room = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        return -1;
    }
    h->port = ntohs(bound.ss.ss_family == AF_INET6 ? bound.in6.sin6_port : bound.in.sin_port);
    return 0;
}

/* A connection handed to MHD that it has not started yet. */
struct HttpPendingConn {
    int fd;
    dev_t dev;
    ino_t ino;                /* the socket's, to know the descriptor again */
    UT_hash_handle hh;
};

/* fd was given to MHD: pending until started. Returns 0 when its place is
 * new, 1 when it takes the place of a dropped connection that had this
 * descriptor (closed untold, and the number reused by this accept). */
static int
http_listen_pend(Http *h, int fd)
{
    HttpPendingConn *p;
    struct stat st;
    int reused;

    if (fstat(fd, &st) < 0)
        st.st_dev = 0, st.st_ino = 0;
    pthread_mutex_lock(&h->pending_lock);
    HASH_FIND_INT(h->pending, &fd, p);
    reused = p != NULL;
    if (!p && (p = calloc(1, sizeof(*p)))) {
        p->fd = fd;
        HASH_ADD_INT(h->pending, fd, p);
    }
    if (p) {
        p->dev = st.st_dev;
        p->ino = st.st_ino;
    }
    pthread_mutex_unlock(&h->pending_lock);
    return reused;
}

/* MHD started fd (or refused it): no longer pending. */
static void
http_listen_unpend(Http *h, int fd)
{
    HttpPendingConn *p;

    pthread_mutex_lock(&h->pending_lock);
    HASH_FIND_INT(h->pending, &fd, p);
    if (p) {
        HASH_DEL(h->pending, p);
        free(p);
    }
    pthread_mutex_unlock(&h->pending_lock);
}

/* At the limit: gives back the places of pending connections that MHD
 * dropped. Returns how many. Under the lock, so that a start cannot come
 * between the look and the give-back. */
static int
http_listen_recount(Http *h)
{
    HttpPendingConn *p, *tmp;
    int freed = 0;

    pthread_mutex_lock(&h->pending_lock);
    HASH_ITER(hh, h->pending, p, tmp) {
        struct stat st;
        if (fstat(p->fd, &st) == 0 && st.st_dev == p->dev && st.st_ino == p->ino)
            continue; /* still the socket: queued, not dropped */
        /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): the analyzer misreads uthash */
        HASH_DEL(h->pending, p);
        free(p);
        freed++;
    }
    pthread_mutex_unlock(&h->pending_lock);
    if (freed) {
        __atomic_sub_fetch(&h->open_conns, freed, __ATOMIC_ACQ_REL);
        log_msg(LOG_WARN, "libmicrohttpd dropped %d connection(s) it had taken; their places are free again", freed);
    }
    return freed;
}

/* An accept4 error that says nothing of the next connection: retry at once
 * (accept(2): the pending network errors Linux passes on, and a client
 * that gave up). */
static int
http_listen_transient(int e)
{
    return e == EINTR || e == ECONNABORTED || e == EPROTO || e == EPERM || e == ENETDOWN || e == ENOPROTOOPT ||
           e == EHOSTDOWN || e == ENONET || e == EHOSTUNREACH || e == EOPNOTSUPP || e == ENETUNREACH;
}

/* Accepts what is waiting, while there is room. Returns how long to wait
 * before the next look: -1 until the socket is readable, else ms; 0 at
 * the limit (until a close makes room). */
static int
http_listen_drain(Http *h, int *failing)
{
    while (!__atomic_load_n(&h->listen_quit, __ATOMIC_ACQUIRE)) {
        struct sockaddr_storage addr;
        socklen_t alen = sizeof(addr);
        int fd;

        if (__atomic_load_n(&h->open_conns, __ATOMIC_ACQUIRE) >= h->max_conns)
            return 0;
        fd = accept4(h->listen_fd, (struct sockaddr *)&addr, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                *failing = 0;
                return -1;
            }
            if (http_listen_transient(errno))
                continue;
            if (!*failing) /* once a spell: it may last */
                log_msg(LOG_WARN, "accept: %s; new connections wait", strerror(errno));
            *failing = 1;
            return HTTP_LISTEN_BACKOFF_MS;
        }
        *failing = 0;
        /* Counted before MHD has it: its thread may close it first. */
        if (!http_listen_pend(h, fd))
            __atomic_add_fetch(&h->open_conns, 1, __ATOMIC_ACQ_REL);
        if (MHD_add_connection(h->d, fd, (struct sockaddr *)&addr, alen) != MHD_YES) {
            http_listen_unpend(h, fd); /* refused, and closed, by MHD */
            __atomic_sub_fetch(&h->open_conns, 1, __ATOMIC_ACQ_REL);
        }
    }
    return -1;
}

static void *
http_listen_main(void *arg)
{
    Http *h = arg;
    int next = -1, failing = 0;

    for (;;) {
        /* Watched: stop always; at the limit, room; else the socket. */
        struct pollfd p[2] = {{.fd = h->listen_stop, .events = POLLIN},
                              {.fd = next == 0 ? h->listen_room : h->listen_fd, .events = POLLIN}};
        int woke;
        uint64_t n;

        woke = poll(p, next > 0 ? 1 : 2, next == 0 ? HTTP_LISTEN_RECOUNT_MS : next);
        if (woke < 0 && errno != EINTR)
            log_msg(LOG_WARN, "poll: %s", strerror(errno));
        if (__atomic_load_n(&h->listen_quit, __ATOMIC_ACQUIRE))
            break;
        if (next == 0 && read(h->listen_room, &n, sizeof(n)) < 0 && errno != EAGAIN)
            log_msg(LOG_WARN, "listener: %s", strerror(errno));
        /* A second at the limit with no close: look for dropped ones. */
        if (next == 0 && woke == 0)
            http_listen_recount(h);
        next = http_listen_drain(h, &failing);
    }
    return NULL;
}

int
http_listen_run(Http *h)
{
    if (pthread_create(&h->listener, NULL, http_listen_main, h) != 0)
        return -1;
    h->listener_started = 1;
    return 0;
}

void
http_listen_close(Http *h)
{
    if (h->listener_started) {
        uint64_t one = 1;

        __atomic_store_n(&h->listen_quit, 1, __ATOMIC_RELEASE);
        if (write(h->listen_stop, &one, sizeof(one)) < 0)
            log_msg(LOG_WARN, "listener stop: %s", strerror(errno));
        pthread_join(h->listener, NULL);
        h->listener_started = 0;
    }
    if (h->listen_fd >= 0)
        close(h->listen_fd);
    if (h->listen_stop >= 0)
        close(h->listen_stop);
    h->listen_fd = h->listen_stop = -1;
}

void
http_listen_free(Http *h)
{
    HttpPendingConn *p, *tmp;

    http_listen_close(h);
    if (h->listen_room >= 0)
        close(h->listen_room);
    h->listen_room = -1;
    HASH_ITER(hh, h->pending, p, tmp) {
        /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): the analyzer misreads uthash */
        HASH_DEL(h->pending, p);
        free(p);
    }
    pthread_mutex_destroy(&h->pending_lock);
}

void
http_listen_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                   enum MHD_ConnectionNotificationCode code)
{
    Http *h = cls;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci)
            http_listen_unpend(h, ci->connect_fd);
    } else if (__atomic_sub_fetch(&h->open_conns, 1, __ATOMIC_ACQ_REL) + 1 >= h->max_conns) {
        uint64_t one = 1;

        /* Room again: the listener may sleep at the limit. The eventfd
         * lives until MHD has stopped (http_listen_free). */
        if (write(h->listen_room, &one, sizeof(one)) < 0 && errno != EAGAIN)
            log_msg(LOG_WARN, "listener wake: %s", strerror(errno));
    }
    if (h->conn_timeout > 0)
        http_guard_notify(cls, c, socket_context, code);
}
