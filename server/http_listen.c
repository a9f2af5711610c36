/*
 * http_listen.c: poold's own listening socket, and the thread that accepts
 * on it and hands each connection to libmicrohttpd.
 *
 * Why not MHD's own accept: with a thread pool, each of MHD's threads
 * polls the one listening socket, and the thread that wakes first takes a
 * whole burst of new connections. 64 connections opened at once were
 * split 3 to 1 often enough (one HTTP thread saturated, the other idle
 * half the time) that a run's throughput moved by a third with that luck.
 * MHD_add_connection spreads connections across the pool by their
 * descriptor, round robin; connections that come together are split
 * evenly.
 *
 * --max-connections is kept here: past it the thread stops accepting, so a
 * new connection waits in the kernel's queue, unanswered, until another
 * closes, as it did with MHD's accept. Connections are counted from the
 * accept to MHD's MHD_CONNECTION_NOTIFY_CLOSED. MHD's own limit is set
 * above ours (http.c): it then never drops a connection it took without
 * telling us. The per-address limit stays MHD's, checked inside
 * MHD_add_connection, which then refuses (and closes) the socket at once.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_impl.h"
#include "log.h"

/* How long the thread waits before it looks again when it may not accept:
 * at --max-connections, or out of descriptors or memory (accept4 would
 * fail again at once, and spin). */
#define HTTP_LISTEN_FULL_MS 10
#define HTTP_LISTEN_ERROR_MS 100

int
http_listen_open(Http *h, const char *host, int port, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    char service[16];
    int fd = -1, one = 1, gai;

    h->listen_fd = h->listen_stop = -1;
    snprintf(service, sizeof(service), "%d", port);
    if ((gai = getaddrinfo(host, service, &hints, &ai)) != 0) {
        snprintf(err, errlen, "--host %s: %s", host, gai_strerror(gai));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        (ai->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0 ||
        getsockname(fd, (struct sockaddr *)&bound, &blen) < 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", host, port, strerror(errno));
        goto fail;
    }
    if ((h->listen_stop = eventfd(0, EFD_CLOEXEC)) < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        goto fail;
    }
    h->listen_fd = fd;
    h->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                 : ((struct sockaddr_in *)&bound)->sin_port);
    freeaddrinfo(ai);
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return -1;
}

/* Accepts what is waiting, while there is room. Returns how long to wait
 * before the next look: -1 until the socket is readable, else ms. */
static int
http_listen_drain(Http *h)
{
    for (;;) {
        struct sockaddr_storage addr;
        socklen_t alen = sizeof(addr);
        int fd;

        if (__atomic_load_n(&h->open_conns, __ATOMIC_ACQUIRE) >= h->max_conns)
            return HTTP_LISTEN_FULL_MS;
        fd = accept4(h->listen_fd, (struct sockaddr *)&addr, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return -1;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                log_msg(LOG_WARN, "accept: %s; new connections wait", strerror(errno));
                return HTTP_LISTEN_ERROR_MS;
            }
            continue; /* the client's fault (ECONNABORTED...): the next one */
        }
        /* Counted before MHD has it: its thread may close it first. */
        __atomic_add_fetch(&h->open_conns, 1, __ATOMIC_ACQ_REL);
        if (MHD_add_connection(h->d, fd, (struct sockaddr *)&addr, alen) != MHD_YES)
            __atomic_sub_fetch(&h->open_conns, 1, __ATOMIC_ACQ_REL); /* MHD closed it (per-address limit) */
    }
}

static void *
http_listen_main(void *arg)
{
    Http *h = arg;
    int wait_ms = 0;

    for (;;) {
        struct pollfd p[2] = {{.fd = h->listen_stop, .events = POLLIN}, {.fd = h->listen_fd, .events = POLLIN}};

        /* While it may not accept, the socket is not watched: it stays
         * readable, and the poll would not sleep. */
        if (poll(p, wait_ms < 0 ? 2 : 1, wait_ms) < 0 && errno != EINTR)
            log_msg(LOG_WARN, "poll: %s", strerror(errno));
        if (__atomic_load_n(&h->listen_quit, __ATOMIC_ACQUIRE))
            break;
        wait_ms = http_listen_drain(h);
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
http_listen_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                   enum MHD_ConnectionNotificationCode code)
{
    Http *h = cls;

    if (code == MHD_CONNECTION_NOTIFY_CLOSED)
        __atomic_sub_fetch(&h->open_conns, 1, __ATOMIC_ACQ_REL);
    if (h->conn_timeout > 0)
        http_guard_notify(cls, c, socket_context, code);
}
