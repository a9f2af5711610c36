/*
 * http_hostile_conns.c: connection floods against a real poold. Idle
 * connections by the thousand leave calls answered; past
 * --max-connections a new connection waits in the kernel's queue, not
 * refused; past --max-connections-per-ip only that address is refused,
 * and its refused connections give their places back. Through raw
 * sockets from several loopback addresses (rawhttp.h), counted in
 * /proc/net/tcp.
 */
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"
#include "rawhttp.h"

static Server srv;

TEST(test_hostile_idle_connection_flood_leaves_calls_answered)
{
    enum { N = 2000 };
    static int fds[N];
    int base;

    check_still_up(&srv); /* this test's own keep-alive connection, counted in base */
    base = server_conns(srv.port);
    for (int i = 0; i < N; i++)
        fds[i] = raw_connect(NULL, srv.port);
    /* poold took them all (the default --max-connections is 10000)... */
    for (double end = now_seconds() + 10; server_conns(srv.port) < base + N && now_seconds() < end;)
        usleep(50 * 1000);
    CHECK(server_conns(srv.port) >= base + N);
    /* ...and answers as usual beside them. */
    for (int i = 0; i < 20; i++)
        check_still_up(&srv);
    Resp r;
    post(&srv, "/v1/map", "{\"func\":\"fib\",\"iterable\":[10,20,30],\"chunksize\":1}", 200, &r);
    CHECK_STR(r.body, "{\"results\":[55,6765,832040]}");
    resp_free(&r);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    CHECK(await_conns_at_most(srv.port, base, 10));
    check_still_up(&srv);
}

/* Past --max-connections poold stops accepting: a new connection waits in
 * the kernel's accept queue, unanswered, and is served once another
 * closes. It is not refused with an answer, and nothing is lost. With one
 * HTTP thread (libmicrohttpd without its pool) as with several. */
static void
check_past_max_connections_new_ones_wait(const char *threads)
{
    enum { MAX = 20 };
    const char *const args[] = {"--max-connections", "20", "--processes", "1", "--http-threads", threads, NULL};
    int fds[MAX];
    Server s;
    RawAnswer a;

    server_start(&s, args);
    /* MAX of ours, with the start-up's keep-alive /healthz connection
     * one too many: it fills poold and one waits in the kernel's queue. */
    for (int i = 0; i < MAX; i++)
        fds[i] = raw_connect(NULL, s.port);
    for (double end = now_seconds() + 5; server_conns(s.port) < MAX && now_seconds() < end;)
        usleep(20 * 1000);
    usleep(200 * 1000);
    CHECK_INT(server_conns(s.port), MAX);
    int extra = raw_connect(NULL, s.port); /* the kernel takes it, poold does not */
    raw_send(extra, LIT("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    raw_read(extra, 1.5, &a);
    CHECK_INT(a.status, 0);
    CHECK(!a.closed);
    raw_free(&a);
    CHECK_INT(server_socks(s.port, sock_port(extra)), 0);
    CHECK_INT(server_conns(s.port), MAX);
    CHECK(kill(s.pid, 0) == 0);
    for (int i = 0; i < MAX; i++)
        close(fds[i]);
    raw_read(extra, 5, &a);
    CHECK_INT(a.status, 200);
    raw_free(&a);
    close(extra);
    check_still_up(&s);
    server_stop(&s);
}

TEST(test_hostile_past_max_connections_new_ones_wait)
{
    check_past_max_connections_new_ones_wait("4");
    check_past_max_connections_new_ones_wait("1");
}

/* The clients here come from 127.0.0.3, so that this test's own calls
 * (from 127.0.0.1, through curl) are another address's. */
TEST(test_hostile_per_ip_limit_refuses_only_that_address)
{
    enum { MAX = 5 };
    static const char *const args[] = {"--max-connections-per-ip", "5", "--processes", "1", NULL};
    int fds[MAX];
    Server s;

    server_start(&s, args);
    for (int i = 0; i < MAX; i++) {
        fds[i] = raw_connect("127.0.0.3", s.port);
        for (double end = now_seconds() + 5; !server_socks(s.port, sock_port(fds[i])) && now_seconds() < end;)
            usleep(10 * 1000);
        CHECK_INT(server_socks(s.port, sock_port(fds[i])), 1);
    }
    /* A sixth from that address is closed at once, unanswered... */
    check_healthz_from("127.0.0.3", s.port, 0);
    /* ...while other addresses are served... */
    check_still_up(&s);
    check_healthz_from("127.0.0.2", s.port, 1);
    /* ...and it is again, once one of its connections has closed. */
    close(fds[0]);
    for (double end = now_seconds() + 2; server_socks(s.port, 0) > MAX && now_seconds() < end;)
        usleep(10 * 1000);
    usleep(100 * 1000);
    check_healthz_from("127.0.0.3", s.port, 1);
    for (int i = 1; i < MAX; i++)
        close(fds[i]);
    check_still_up(&s);
    server_stop(&s);
}

/* A connection the per-address limit refuses gives its place back: many
 * refused from one address leave --max-connections for the others, and
 * the count stays exact (the next past it still waits). */
TEST(test_hostile_refused_connections_do_not_use_up_the_limit)
{
    enum { MAX = 8, PER_IP = 2, REFUSED = 30 };
    static const char *const args[] = {"--max-connections", "8", "--max-connections-per-ip", "2",
                                       "--processes", "1", NULL};
    static const char get[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    int fds[MAX + 1], n = 0, extra = -1;
    Server s;
    RawAnswer a;

    server_start(&s, args);
    for (int i = 0; i < PER_IP; i++)
        fds[n++] = raw_connect("127.0.0.3", s.port);
    for (int i = 0; i < REFUSED; i++)
        check_healthz_from("127.0.0.3", s.port, 0);
    /* The rest of the room, two an address, each served, until one is not
     * (a connection of the test's own client may hold a place too). */
    while (extra < 0 && n <= MAX) {
        char src[32];
        int fd;
        snprintf(src, sizeof(src), "127.0.0.%u", 4u + (unsigned)(n - PER_IP) / PER_IP % 8u);
        fd = raw_connect(src, s.port);
        raw_send(fd, LIT(get));
        raw_read(fd, 1, &a);
        if (a.status == 200) {
            fds[n++] = fd;
        } else {
            CHECK_INT(a.status, 0); /* waits, unaccepted... */
            CHECK(!a.closed);
            CHECK_INT(server_socks(s.port, sock_port(fd)), 0);
            extra = fd;
        }
        raw_free(&a);
    }
    /* ...once every place but at most one is ours: the refused gave theirs back. */
    CHECK(extra >= 0);
    CHECK(n >= MAX - 1);
    close(fds[0]);
    raw_read(extra, 5, &a);
    CHECK_INT(a.status, 200);
    raw_free(&a);
    close(extra);
    for (int i = 1; i < n; i++)
        close(fds[i]);
    check_still_up(&s);
    server_stop(&s);
}

int
main(int argc, char **argv)
{
    static const char *const args[] = {"--processes", "2", NULL};
    struct rlimit nofile;
    int rc;

    /* The idle flood opens 2000 sockets: past a login's usual soft limit
     * of 1024, so take the hard limit, as poold itself does. */
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    server_start(&srv, args);
    rc = harness_run(argc, argv);
    server_stop(&srv);
    return rc;
}
