/*
 * http_hostile_slow.c: slow clients against a real poold, each test with
 * a poold of its own and a short --connection-timeout. A client that
 * trickles its headers or its body (slow loris) is answered 408 at the
 * timeout, one that sends nothing is closed unanswered; a large upload
 * that moves, a long poll, a slow stream and an NDJSON generator however
 * slow between its lines are not cut; nor is a body past its early
 * answer dribbled for ever. Through raw sockets (rawhttp.h).
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"
#include "rawhttp.h"

/* poold's 408 for a request that did not come in time, about its
 * headers or its body (part, in the detail), and then the close. */
static void
check_408(int fd, const RawAnswer *a, const char *part)
{
    RawAnswer end;

    check_problem(a->status, a->type, a->json, 408);
    CHECK_STR(json_string_value(jpath(a->json, "type")), "urn:poold:problem:request-timeout");
    CHECK(strstr(json_string_value(jpath(a->json, "detail")) ?: "", part) != NULL);
    CHECK(strcasestr(a->text, "\r\nConnection: close\r\n") != NULL);
    raw_read(fd, 2, &end);
    CHECK(end.closed);
    CHECK_INT(end.len, 0);
    raw_free(&end);
}

/* Sends data one byte at a time, each `gap` seconds apart (a chunk of one
 * byte each, when chunked), until poold answers or closes, or for at most
 * 15 s; then reads the answer. The seconds it took; *sent, the bytes that
 * went. */
static double
trickle(int fd, const char *data, int chunked, double gap, RawAnswer *a, size_t *sent)
{
    double t0 = now_seconds();
    size_t len = strlen(data);

    for (*sent = 0; *sent < len && now_seconds() - t0 < 15; ++*sent) {
        char chunk[8] = {'1', '\r', '\n', data[*sent], '\r', '\n'};
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if ((chunked ? raw_send(fd, chunk, 6) : raw_send(fd, data + *sent, 1)) < 0)
            break;
        if (poll(&p, 1, (int)(gap * 1000)) > 0)
            break; /* answered, or closed */
    }
    raw_read(fd, 2, a);
    return now_seconds() - t0;
}

/* One byte a second: every byte would reset an idle timeout, but the
 * headers as a whole get 2 s, and then a 408 that says so. A client that
 * sends part of its headers and stops gets the same, on a first request
 * and on a later one; one that sends nothing is idle, not slow, and is
 * closed unanswered, as it would be without the guard. */
TEST(test_hostile_slow_loris_is_answered_408_at_the_connection_timeout)
{
    static const char *const args[] = {"--connection-timeout", "2", "--processes", "2", NULL};
    static const char headers[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nUser-Agent: slow\r\nX-Pad: aaaaaaaaaaaaaaa\r\n\r\n";
    Server s;
    size_t sent;
    double t0, took;
    RawAnswer a;

    server_start(&s, args);
    int fd = raw_connect(NULL, s.port);
    took = trickle(fd, headers, 0, 1, &a, &sent);
    if (a.status != 408 || took < 1.5 || took > 4)
        fprintf(stderr, "    after %.1f s, %zu bytes sent: %.300s\n", took, sent, a.text);
    check_408(fd, &a, "headers");
    CHECK(took >= 1.5 && took <= 4);
    CHECK(sent < sizeof(headers) - 1);
    raw_free(&a);
    close(fd);

    for (int later = 0; later < 2; later++) {
        fd = raw_connect(NULL, s.port);
        t0 = now_seconds();
        if (later) { /* a request answered first: the wait starts again after it */
            raw_send(fd, LIT("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
            raw_read(fd, 2, &a);
            CHECK_INT(a.status, 200);
            raw_free(&a);
            t0 = now_seconds();
            usleep(500 * 1000);
        }
        raw_send(fd, LIT("GET /healthz HTTP/1.1\r\nHost: x\r\n"));
        raw_read(fd, 5, &a);
        took = now_seconds() - t0;
        if (a.status != 408 || took < 1.5 || took > 3.5)
            fprintf(stderr, "    %s request: after %.1f s: %.300s\n", later ? "a later" : "a first", took, a.text);
        check_408(fd, &a, "headers");
        CHECK(took >= 1.5 && took <= 3.5);
        raw_free(&a);
        close(fd);
    }

    fd = raw_connect(NULL, s.port);
    check_closed_unanswered(fd);
    check_still_up(&s);
    server_stop(&s);
}

/* A body gets the timeout from the end of its headers, and a second more
 * per 1024 bytes that come: one that trickles a byte every half second is
 * answered 408, with Content-Length, chunked or as NDJSON lines, while a
 * 2 MB one that takes longer than the timeout, moving, is answered. */
TEST(test_hostile_slow_body_is_408_a_large_upload_that_moves_is_not)
{
    static const char *const args[] = {"--connection-timeout", "2", "--processes", "2", NULL};
    static const struct {
        const char *head;
        int chunked;
    } slow[] = {
        {"POST /v1/apply HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n", 0},
        {"POST /v1/map HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", 1},
        {"POST /v1/imap HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nContent-Length: 100\r\n\r\n", 0},
    };
    enum { BIG = 2 << 20, PIECE = 64 << 10 };
    Server s;
    RawAnswer a;
    size_t sent;

    server_start(&s, args);
    for (size_t i = 0; i < sizeof(slow) / sizeof(slow[0]); i++) {
        int fd = raw_connect(NULL, s.port);
        raw_send(fd, slow[i].head, strlen(slow[i].head));
        double took = trickle(fd, "{\"func\":\"echo\",\"args\":[1]                                        ",
                              slow[i].chunked, 0.5, &a, &sent);
        if (a.status != 408 || took < 1.5 || took > 4)
            fprintf(stderr, "    %.20s: after %.1f s, %zu bytes sent: %.300s\n", slow[i].head, took, sent, a.text);
        check_408(fd, &a, "body");
        CHECK(took >= 1.5 && took <= 4);
        raw_free(&a);
        close(fd);
    }

    char *body = malloc(BIG + 64);
    CHECK(body != NULL);
    int n = sprintf(body, "{\"func\":\"echo\",\"args\":[\"");
    memset(body + n, 'a', BIG);
    strcpy(body + n + BIG, "\"]}");
    size_t len = strlen(body);
    char head[256];
    int hn = snprintf(head, sizeof(head), "POST /v1/apply HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n", len);
    int fd = raw_connect(NULL, s.port);
    double t0 = now_seconds();
    raw_send(fd, head, (size_t)hn);
    for (size_t off = 0; off < len; off += PIECE) {
        CHECK(raw_send(fd, body + off, len - off < PIECE ? len - off : PIECE) == 0);
        usleep(100 * 1000);
    }
    raw_read(fd, 10, &a);
    CHECK(now_seconds() - t0 > 3); /* past the timeout, and answered */
    CHECK_INT(a.status, 200);
    CHECK(strncmp(a.body, "{\"result\":\"aaaa", 15) == 0);
    CHECK_INT(strlen(a.body), BIG + 13);
    raw_free(&a);
    close(fd);
    free(body);
    check_still_up(&s);
    server_stop(&s);
}

/* An idle keep-alive connection is closed after the timeout, unanswered. */
static void
check_idle_keep_alive_is_closed(int port)
{
    RawAnswer a;
    int fd = raw_connect(NULL, port);

    raw_send(fd, LIT("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    raw_read(fd, 2, &a);
    CHECK_INT(a.status, 200);
    CHECK(!a.closed);
    raw_free(&a);
    check_closed_unanswered(fd);
}

/* Half-closed in the middle of a body: libmicrohttpd closes at once when
 * it reads the end of the stream, or, when it read the bytes before it
 * came and waits on for the rest, the guard answers 408 at the timeout
 * (the client may still read). */
static void
check_half_closed_body_is_let_go(int port)
{
    RawAnswer a;
    int fd = raw_connect(NULL, port);
    double t0;

    raw_send(fd, LIT("POST /v1/apply HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"func\":"));
    shutdown(fd, SHUT_WR);
    t0 = now_seconds();
    raw_read(fd, 5, &a);
    if (a.status)
        check_408(fd, &a, "body");
    else
        CHECK(a.closed && a.len == 0);
    CHECK(now_seconds() - t0 < 3.5);
    raw_free(&a);
    close(fd);
}

/* A request whose answer waits on a job or a stream sleeps, suspended, and
 * is not idle in the timeout's sense: with a 1 s timeout, a 3 s long poll,
 * a 2.5 s sync call and a stream with 1.5 s between its lines all end
 * well, and so does an NDJSON body that poold makes wait for room. A
 * half-closed client (it sent part of a body, then shut its side) is let
 * go within the timeout. */
TEST(test_hostile_connection_timeout_spares_long_polls_and_streams)
{
    static const char *const args[] = {"--connection-timeout", "1", "--processes", "2", NULL};
    Server s;
    Resp r;
    char path[128];
    double t0;

    server_start(&s, args);
    post(&s, "/v1/apply_async", "{\"func\":\"sleep\",\"args\":[3]}", 202, &r);
    snprintf(path, sizeof(path), "/v1/jobs/%s/result?timeout=10", json_string_value(jpath(r.json, "id")));
    resp_free(&r);
    t0 = now_seconds();
    CHECK(req(&s, "GET", path, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "{\"result\":3}");
    CHECK(now_seconds() - t0 > 2);
    resp_free(&r);

    post(&s, "/v1/apply", "{\"func\":\"sleep\",\"args\":[2.5]}", 200, &r);
    CHECK_STR(r.body, "{\"result\":2.5}");
    resp_free(&r);

    t0 = now_seconds();
    post(&s, "/v1/imap", "{\"func\":\"sleep\",\"iterable\":[1.5,1.5,1.5,1.5],\"buffersize\":1}", 200, &r);
    CHECK(now_seconds() - t0 > 5);
    CHECK(strstr(r.body, "\"index\":3,\"result\":1.5") != NULL);
    resp_free(&r);

    /* An NDJSON body that poold makes wait for room (one item at a time,
     * 0.8 s each) is off the clock while it waits. */
    static const char lines[] = "{\"func\":\"sleep\",\"buffersize\":1}\n0.8\n0.8\n0.8\n";
    RawAnswer a;
    t0 = now_seconds();
    raw_post(s.port, "/v1/imap", "application/x-ndjson", lines, sizeof(lines) - 1, 10, &a);
    CHECK(now_seconds() - t0 > 1.5);
    CHECK_INT(a.status, 200);
    CHECK(strstr(a.text, "\"index\":2,\"result\":0.8") != NULL);
    raw_free(&a);

    check_idle_keep_alive_is_closed(s.port);
    check_half_closed_body_is_let_go(s.port);
    check_still_up(&s);
    server_stop(&s);
}

/* An NDJSON body may be a generator's, as slow as it likes between its
 * lines: with a 2 s timeout, a line every 1.5 s for 7.5 s is read to the
 * end and every item answered. */
TEST(test_hostile_a_slow_ndjson_generator_is_not_cut)
{
    static const char *const args[] = {"--connection-timeout", "2", "--processes", "2", NULL};
    Server s;
    RawAnswer a;
    char piece[64];

    server_start(&s, args);
    int fd = raw_connect(NULL, s.port);
    CHECK(raw_send(fd, LIT("POST /v1/imap HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n")) == 0);
    for (int i = 0; i <= 5; i++) {
        const char *line = i == 0 ? "{\"func\":\"echo\"}\n" : "7\n";
        int n = snprintf(piece, sizeof(piece), "%zx\r\n%s\r\n", strlen(line), line);
        CHECK(raw_send(fd, piece, (size_t)n) == 0);
        if (i > 0)
            sleep_seconds(1.5);
    }
    CHECK(raw_send(fd, LIT("0\r\n\r\n")) == 0);
    raw_read(fd, 10, &a);
    CHECK_INT(a.status, 200);
    CHECK(strstr(a.text, "\"index\":4,\"result\":7") != NULL);
    raw_free(&a);
    close(fd);
    check_still_up(&s);
    server_stop(&s);
}

/* Between two lines the body is off every clock, libmicrohttpd's idle
 * timeout too: with a 1 s timeout, a generator that waits 2.5 s before
 * its first item and between its items is read to the end and every item
 * answered. A line itself still keeps the pace (the test above). */
TEST(test_hostile_an_ndjson_generator_slower_than_the_timeout_is_not_cut)
{
    static const char *const args[] = {"--connection-timeout", "1", "--processes", "2", NULL};
    static const char *const lines[] = {"{\"func\":\"echo\"}\n", "7\n", "8\n"};
    Server s;
    RawAnswer a;
    char piece[64];

    server_start(&s, args);
    int fd = raw_connect(NULL, s.port);
    CHECK(raw_send(fd, LIT("POST /v1/imap HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n")) == 0);
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        int n = snprintf(piece, sizeof(piece), "%zx\r\n%s\r\n", strlen(lines[i]), lines[i]);
        CHECK(raw_send(fd, piece, (size_t)n) == 0);
        sleep_seconds(2.5);
    }
    CHECK(raw_send(fd, LIT("0\r\n\r\n")) == 0);
    raw_read(fd, 10, &a);
    if (a.status != 200)
        fprintf(stderr, "    -> %.300s\n", a.text);
    CHECK_INT(a.status, 200);
    CHECK(strstr(a.text, "{\"index\":0,\"result\":7}\n") != NULL);
    CHECK(strstr(a.text, "{\"index\":1,\"result\":8}\n") != NULL);
    raw_free(&a);
    /* Answered, the connection is idle, and on the clock again. */
    check_closed_unanswered(fd);
    check_still_up(&s);
    server_stop(&s);
}

/* Only between lines: headers and then nothing are on the clock, as any
 * body is, or one client could hold every connection for ever. */
TEST(test_hostile_an_ndjson_body_that_never_begins_is_cut)
{
    static const char *const args[] = {"--connection-timeout", "1", "--processes", "1", NULL};
    Server s;
    RawAnswer a;
    double t0;

    server_start(&s, args);
    int fd = raw_connect(NULL, s.port);
    CHECK(raw_send(fd, LIT("POST /v1/imap HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n")) == 0);
    t0 = now_seconds();
    raw_read(fd, 8, &a);
    /* As a slow body is: 408, then closed. */
    CHECK_INT(a.status, 408);
    CHECK(now_seconds() - t0 < 6);
    raw_free(&a);
    close(fd);
    check_still_up(&s);
    server_stop(&s);
}

/* Sends a byte every half second, as a body's, until poold closes, for
 * at most `most` seconds: the seconds until it did. */
static double
dribble_until_closed(int fd, double most)
{
    double t0 = now_seconds();

    while (now_seconds() - t0 < most) {
        if (raw_send(fd, "3", 1) < 0)
            break;
        usleep(500 * 1000);
    }
    return now_seconds() - t0;
}

/* A body answered before its end (more than --max-body of it refused, or
 * of an NDJSON body's unwanted rest) is dropped for a while after the
 * answer, so that a client busy sending reads it; but not for ever: one
 * that then sends a byte at a time, each resetting an idle timeout, is
 * cut once --connection-timeout has passed since its answer. */
TEST(test_hostile_a_body_dribbled_after_its_early_answer_is_cut)
{
    static const char *const args[] = {"--connection-timeout", "2", "--max-body", "4096", "--processes", "2", NULL};
    static const char *const heads[] = {
        "POST /nope HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n",
        "POST /v1/imap HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
        "Transfer-Encoding: chunked\r\n\r\n100000\r\n{\"func\":\"echo\"}\n1\n",
    };
    /* Past --max-body (for the NDJSON body, the long line's bytes past
     * the limit), and then some of the as much again dropped after the
     * answer, not all. */
    static const size_t pasts[] = {4096 + 900, 2 * 4096 + 900};
    char past[2 * 4096 + 900];
    Server s;

    memset(past, 'a', sizeof(past));
    server_start(&s, args);
    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
        RawAnswer a;
        int fd = raw_connect(NULL, s.port);
        CHECK(raw_send(fd, heads[i], strlen(heads[i])) == 0);
        CHECK(raw_send(fd, past, pasts[i]) == 0);
        raw_read(fd, 5, &a);
        CHECK_INT(a.status, i == 0 ? 404 : 200);
        raw_free(&a);
        double took = dribble_until_closed(fd, 12);
        if (took >= 6)
            fprintf(stderr, "    %s: still open %.1f s after its answer\n", i == 0 ? "refused" : "NDJSON", took);
        CHECK(took < 6);
        close(fd);
    }
    check_still_up(&s);
    server_stop(&s);
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
