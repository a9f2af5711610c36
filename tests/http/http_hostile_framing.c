/*
 * http_hostile_framing.c: hostile requests against a real poold, in the
 * HTTP around a call rather than its JSON (http_hostile_json.c): query
 * strings and paths, bodies too large, cut short or endless, chunked
 * framing, framing two readers could read two ways (request smuggling),
 * "Expect: 100-continue" to a refused request, header blocks and URLs
 * past the connection's memory, request lines and headers that are not
 * HTTP, a TLS ClientHello on the plain port. Each gets a 4xx answer, an application/problem+json one wherever
 * poold answers itself, and poold stays up. The malformed HTTP goes
 * through raw sockets (rawhttp.h).
 *
 * Where libmicrohttpd 0.9.75 answers on its own, before poold sees the
 * request, the body is its HTML page and not a problem: a header block
 * past the connection's memory (431), a URL past it (414), a request line
 * or header it cannot parse and a TLS ClientHello (400), bad chunked
 * framing (400, 413), an HTTP version it does not know (505, the one
 * 5xx). The tests below say so where they meet each; openapi.yaml lists
 * them as its waiver, x-libmicrohttpd-answers. A Content-Length it cannot
 * read is poold's to answer (http_request.c says how).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"
#include "rawhttp.h"

static Server srv; /* --max-body 1100K */

#define MAX_BODY (1100 * 1024)

/* --- query strings and paths --- */

/* GETs path and expects a problem with status (and field, if not NULL). */
static void
expect_get_problem(const Server *s, const char *path, long status, const char *field)
{
    Resp r;

    req(s, "GET", path, NULL, &r);
    if (r.status != status)
        fprintf(stderr, "    GET %s -> %ld %.300s (expected %ld)\n", path, r.status, r.body ? r.body : "", status);
    check_problem(r.status, resp_header(&r, "Content-Type"), r.json, status);
    if (field)
        CHECK_STR(json_string_value(jpath(r.json, "field")), field);
    resp_free(&r);
}

TEST(test_hostile_bad_query_strings_are_400)
{
    static const char *const list[][2] = {
        {"limit=abc", "limit"}, {"limit=0", "limit"}, {"limit=-1", "limit"}, {"limit=1001", "limit"},
        {"limit=1e3", "limit"}, {"limit=", "limit"}, {"limit=99999999999999999999", "limit"},
        {"limit=5%00", "limit"}, {"limit=%ff", "limit"}, {"limit=%205", "limit"}, {"limit=+5", "limit"}, {"status=nope", "status"}, {"status=", "status"},
        {"status=queued%00x", "status"}, {"status=%ff%fe", "status"}, {"cursor=abc", "cursor"},
        {"cursor=", "cursor"}, {"cursor=-1", "cursor"}, {"cursor=99999999999999999999", "cursor"},
        {"cursor=1%00", "cursor"}, {"cursor=%ff", "cursor"},
    };
    char path[128], id[64];
    Resp r;

    for (size_t i = 0; i < sizeof(list) / sizeof(list[0]); i++) {
        snprintf(path, sizeof(path), "/v1/jobs?%s", list[i][0]);
        expect_get_problem(&srv, path, 400, list[i][1]);
    }
    /* A job's long poll: a timeout that is not a number of seconds >= 0. */
    post(&srv, "/v1/apply_async", "{\"func\":\"echo\",\"args\":[1]}", 202, &r);
    snprintf(id, sizeof(id), "%s", json_string_value(jpath(r.json, "id")));
    resp_free(&r);
    static const char *const timeouts[] = {"-1", "NaN", "nan", "inf", "-inf", "1e999", "0x10", "", "abc",
                                           "1%00", "%20%31", "1e-400", "1,5"};
    for (size_t i = 0; i < sizeof(timeouts) / sizeof(timeouts[0]); i++) {
        snprintf(path, sizeof(path), "/v1/jobs/%s/result?timeout=%s", id, timeouts[i]);
        expect_get_problem(&srv, path, 400, "timeout");
    }
    /* A huge one that is a number waits at most 300 s (openapi.yaml): the
     * job is done, so it answers at once. */
    snprintf(path, sizeof(path), "/v1/jobs/%s/result?timeout=1e9", id);
    for (double end = now_seconds() + 10; strcmp(job_status(&srv, id), "succeeded") != 0 && now_seconds() < end;)
        usleep(20 * 1000);
    CHECK(req(&srv, "GET", path, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "{\"result\":1}");
    resp_free(&r);
    /* A %00 in the path stays in the id, which then names no job: not
     * read as the id before it, as a C string would. */
    snprintf(path, sizeof(path), "/v1/jobs/%s%%00/result", id);
    expect_get_problem(&srv, path, 404, NULL);
    snprintf(path, sizeof(path), "/v1/jobs/%s%%00", id);
    expect_get_problem(&srv, path, 404, NULL);
    snprintf(path, sizeof(path), "/v1/jobs/%s/result%%00x", id);
    expect_get_problem(&srv, path, 404, NULL);
    check_still_up(&srv);
}

/* --- bodies too large, bodies cut short --- */

TEST(test_hostile_oversized_bodies_are_413)
{
    static const char *const posts[] = {"/v1/apply", "/v1/map", "/v1/starmap", "/v1/imap",
                                        "/v1/imap_unordered", "/v1/apply_async", "/v1/map_async",
                                        "/v1/starmap_async", "/v1/jobs/x/callback"};
    size_t big = MAX_BODY + 100 * 1024;
    char head[256];
    RawAnswer a;

    for (size_t i = 0; i < sizeof(posts) / sizeof(posts[0]); i++) {
        /* Declared: refused on the headers alone, before any byte of it. */
        int n = snprintf(head, sizeof(head), "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
                         posts[i], big);
        raw_exchange(srv.port, head, (size_t)n, 10, &a);
        check_problem(a.status, a.type, a.json, 413);
        raw_free(&a);
        /* Chunked: refused once it passes --max-body. */
        int fd = raw_connect(NULL, srv.port);
        n = snprintf(head, sizeof(head), "POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
                     posts[i]);
        raw_send(fd, head, (size_t)n);
        char *chunk = malloc(64 * 1024 + 16);
        CHECK(chunk != NULL);
        int len = sprintf(chunk, "10000\r\n");
        memset(chunk + len, ' ', 64 * 1024);
        memcpy(chunk + len + 64 * 1024, "\r\n", 2);
        for (size_t sent = 0; sent < big; sent += 64 * 1024)
            if (raw_send(fd, chunk, (size_t)len + 64 * 1024 + 2) < 0)
                break;
        raw_send(fd, "0\r\n\r\n", 5);
        free(chunk);
        raw_read(fd, 10, &a);
        close(fd);
        check_problem(a.status, a.type, a.json, 413);
        raw_free(&a);
    }
    /* A GET's body too. */
    int n = snprintf(head, sizeof(head), "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", big);
    raw_exchange(srv.port, head, (size_t)n, 10, &a);
    check_problem(a.status, a.type, a.json, 413);
    raw_free(&a);
    check_still_up(&srv);
}

TEST(test_hostile_an_ndjson_line_past_max_body_is_413)
{
    /* An NDJSON body is never held whole: its limit is per line. The
     * rest of the body after the long line is read and dropped; the
     * answer comes at its end, or once --max-body of it was dropped
     * (http_imap_flow.c tries a rest without end). */
    size_t line = MAX_BODY + 1024;
    const char *call = "{\"func\":\"echo\"}\n\"";
    char *body = malloc(strlen(call) + line + 8);
    RawAnswer a;

    CHECK(body != NULL);
    strcpy(body, call);
    memset(body + strlen(call), 'a', line);
    strcpy(body + strlen(call) + line, "\"\n1\n");
    raw_post(srv.port, "/v1/imap", "application/x-ndjson", body, strlen(body), 10, &a);
    check_problem(a.status, a.type, a.json, 413);
    CHECK(strstr(json_string_value(jpath(a.json, "detail")), "line") != NULL);
    raw_free(&a);
    free(body);
    check_still_up(&srv);
}

TEST(test_hostile_truncated_body_just_ends)
{
    static const char *const posts[] = {"/v1/apply", "/v1/map", "/v1/imap", "/v1/apply_async"};
    char head[256];
    json_t *before = get_json(&srv, "/v1/jobs?limit=1000"), *after;

    for (size_t i = 0; i < sizeof(posts) / sizeof(posts[0]); i++) {
        int fd = raw_connect(NULL, srv.port), port = sock_port(fd);
        int n = snprintf(head, sizeof(head),
                         "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"func\":\"echo\",\"args\"",
                         posts[i]);
        raw_send(fd, head, (size_t)n);
        for (double end = now_seconds() + 5; !server_socks(srv.port, port) && now_seconds() < end;)
            usleep(10 * 1000);
        CHECK_INT(server_socks(srv.port, port), 1); /* poold holds it, waiting for the rest */
        usleep(100 * 1000);
        CHECK_INT(server_socks(srv.port, port), 1);
        close(fd);
        /* The client left: poold lets the connection go, at once, not
         * after its timeout. */
        for (double end = now_seconds() + 2; server_socks(srv.port, port) && now_seconds() < end;)
            usleep(10 * 1000);
        CHECK_INT(server_socks(srv.port, port), 0);
    }
    /* Nothing ran of a submit cut short. */
    after = get_json(&srv, "/v1/jobs?limit=1000");
    CHECK_INT(json_array_size(json_object_get(after, "jobs")), json_array_size(json_object_get(before, "jobs")));
    json_decref(before);
    json_decref(after);
    check_still_up(&srv);
}

/* Sends a chunked body of 8 KiB chunks after head, until poold closes or
 * for 10 s; then reads what poold answered meanwhile. 1 when it closed. */
static int
send_endless(int port, const char *head, RawAnswer *a)
{
    static char chunk[8192 + 16];
    int n = sprintf(chunk, "%x\r\n", 8192), cut = 0;
    int fd = raw_connect(NULL, port);

    memset(chunk + n, 'x', 8192);
    memcpy(chunk + n + 8192, "\r\n", 2);
    CHECK(raw_send(fd, head, strlen(head)) == 0);
    for (double end = now_seconds() + 10; !cut && now_seconds() < end;)
        cut = raw_send(fd, chunk, (size_t)n + 8192 + 2) < 0;
    raw_read(fd, 5, a);
    close(fd);
    return cut;
}

/* A chunked body to a request refused already (here a 404), or one that
 * passed --max-body (413), is thrown away, but not for ever: once
 * --max-body of it was dropped, poold answers at once, before the body's
 * end, and closes after as much again. The client reads its answer. */
TEST(test_hostile_an_endless_body_to_a_refused_request_is_answered_and_cut)
{
    static const char *const args[] = {"--max-body", "4096", "--processes", "1", NULL};
    Server s;
    RawAnswer a;

    server_start(&s, args);
    /* 10 s of sending: 4 KiB were allowed */
    CHECK(send_endless(s.port, "POST /v1/nothing-here HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", &a));
    check_problem(a.status, a.type, a.json, 404);
    CHECK(strcasestr(a.text, "\r\nConnection: close\r\n") != NULL);
    raw_free(&a);
    CHECK(send_endless(s.port, "POST /v1/apply HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", &a));
    check_problem(a.status, a.type, a.json, 413);
    CHECK(strstr(json_string_value(jpath(a.json, "detail")) ?: "", "--max-body") != NULL);
    raw_free(&a);
    check_still_up(&s);
    server_stop(&s);
}

/* A body far past --max-body, whose end comes, is answered too: sent
 * chunked to a call, 413; an NDJSON line far past it ends the stream
 * after the items before it, whose results are all there, then a final
 * TooLarge line. */
TEST(test_hostile_a_body_far_past_max_body_is_answered_413)
{
    static const char *const args[] = {"--max-body", "4096", "--processes", "2", NULL};
    enum { FAR = 40 * 1024 };
    char *body = malloc(FAR + 256), head[160];
    Server s;
    RawAnswer a;

    CHECK(body != NULL);
    server_start(&s, args);
    int n = sprintf(body, "{\"func\":\"echo\",\"args\":[\"");
    memset(body + n, 'a', FAR);
    strcpy(body + n + FAR, "\"]}\r\n0\r\n\r\n");
    int hn = snprintf(head, sizeof(head), "POST /v1/apply HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "%zx\r\n", strlen(body) - 7);
    int fd = raw_connect(NULL, s.port);
    raw_send(fd, head, (size_t)hn);
    raw_send(fd, body, strlen(body));
    raw_read(fd, 10, &a);
    close(fd);
    if (a.status != 413)
        fprintf(stderr, "    chunked, %d KiB past --max-body -> %.300s\n", FAR / 1024, a.text);
    check_problem(a.status, a.type, a.json, 413);
    raw_free(&a);

    n = sprintf(body, "{\"func\":\"echo\"}\n1\n2\n\"");
    memset(body + n, 'a', FAR);
    strcpy(body + n + FAR, "\"\n3\n");
    raw_post(s.port, "/v1/imap", "application/x-ndjson", body, strlen(body), 10, &a);
    if (a.status != 200)
        fprintf(stderr, "    NDJSON, a line %d KiB past --max-body -> %.300s\n", FAR / 1024, a.text);
    CHECK_INT(a.status, 200);
    /* The answer's chunks are left framed: a line each, or together. */
    CHECK(strstr(a.text, "{\"index\":0,\"result\":1}\n") != NULL);
    CHECK(strstr(a.text, "{\"index\":1,\"result\":2}\n") != NULL);
    CHECK(strstr(a.text, "\"type\":\"TooLarge\"") != NULL && strstr(a.text, "\"status\":413") != NULL);
    CHECK(strstr(a.text, "\"final\":true") != NULL);
    CHECK(strstr(a.text, "\"result\":3") == NULL);
    raw_free(&a);
    free(body);
    check_still_up(&s);
    server_stop(&s);
}

/* "Expect: 100-continue" asks whether to send the body: a request poold
 * refuses on its headers (no key, no such path, no such method, too
 * large) is answered at once, with no "100 Continue" before, so that the
 * body it would throw away is never sent; one it takes gets its 100. */
TEST(test_hostile_expect_100_continue_is_refused_before_the_body)
{
    static const char *const args[] = {"--api-key", "sesame-open", "--max-body", "4096", "--processes", "1", NULL};
    static const struct {
        const char *head;
        int status;
    } cases[] = {
        {"POST /v1/apply HTTP/1.1\r\nHost: x\r\nContent-Length: 26\r\nExpect: 100-continue\r\n\r\n", 401},
        {"POST /v1/nope HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sesame-open\r\nContent-Length: 26\r\n"
         "Expect: 100-continue\r\n\r\n", 404},
        {"PUT /v1/apply HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sesame-open\r\nContent-Length: 26\r\n"
         "Expect: 100-Continue\r\n\r\n", 405},
        {"POST /v1/apply HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sesame-open\r\nContent-Length: 5000\r\n"
         "Expect: 100-continue\r\n\r\n", 413},
    };
    Server s;
    RawAnswer a;

    server_start(&s, args);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int fd = raw_connect(NULL, s.port);
        raw_send(fd, cases[i].head, strlen(cases[i].head));
        raw_read(fd, 5, &a);
        close(fd);
        if (a.status != cases[i].status)
            fprintf(stderr, "    %.40s -> %.200s (expected %d)\n", cases[i].head, a.text, cases[i].status);
        check_problem(a.status, a.type, a.json, cases[i].status);
        CHECK(strstr(a.text, "100 Continue") == NULL);
        raw_free(&a);
    }
    int fd = raw_connect(NULL, s.port);
    raw_send(fd, LIT("POST /v1/apply HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sesame-open\r\nContent-Length: 26\r\n"
                     "Expect: 100-continue\r\n\r\n"));
    raw_read(fd, 5, &a);
    CHECK_INT(a.status, 100);
    raw_free(&a);
    raw_send(fd, LIT("{\"func\":\"echo\",\"args\":[1]}"));
    raw_read(fd, 5, &a);
    CHECK_INT(a.status, 200);
    CHECK_STR(a.body, "{\"result\":1}");
    raw_free(&a);
    close(fd);
    server_stop(&s);
}

/* --- malformed HTTP --- */

TEST(test_hostile_huge_headers_get_libmicrohttpds_431)
{
    size_t n = 200 * 1024;
    char *msg = malloc(n + 128);
    RawAnswer a;

    CHECK(msg != NULL);
    int off = sprintf(msg, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(msg + off, 'a', n);
    strcpy(msg + off + n, "\r\n\r\n");
    /* libmicrohttpd answers itself, with an HTML body, once the headers
     * pass the connection's memory (16 KiB): poold never sees them. */
    raw_exchange(srv.port, msg, strlen(msg), 10, &a);
    CHECK_INT(a.status, 431);
    CHECK(strcasestr(a.text, "\r\nConnection: close\r\n") != NULL);
    raw_free(&a);
    /* A URL past it: 414, the same way. */
    off = sprintf(msg, "GET /v1/jobs?cursor=");
    memset(msg + off, '1', 20000);
    strcpy(msg + off + 20000, " HTTP/1.1\r\nHost: x\r\n\r\n");
    raw_exchange(srv.port, msg, strlen(msg), 10, &a);
    CHECK_INT(a.status, 414);
    raw_free(&a);
    free(msg);
    check_still_up(&srv);
}

TEST(test_hostile_tls_client_hello_on_the_plain_port)
{
    /* A TLS 1.2 ClientHello's record, as a client told https:// sends. */
    static const unsigned char hello[] = {
        0x16, 0x03, 0x01, 0x00, 0x2f, 0x01, 0x00, 0x00, 0x2b, 0x03, 0x03, 0x00, 0x01, 0x02, 0x03, 0x04,
        0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14,
        0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x00, 0x00, 0x02, 0xc0, 0x2f,
        0x01, 0x00, 0x00, 0x00, '\r', '\n', '\r', '\n'};
    RawAnswer a;

    /* libmicrohttpd takes it for a request line it cannot parse: its own
     * 400 (HTML), or a close; never a hang. */
    raw_exchange(srv.port, hello, sizeof(hello), 5, &a);
    CHECK(a.closed);
    CHECK(a.status == 400 || a.status == 0);
    raw_free(&a);
    check_still_up(&srv);
}

TEST(test_hostile_malformed_requests)
{
    static const struct {
        const char *msg;
        int status; /* 0: closed without an answer */
        int problem; /* poold's own answer, problem+json */
    } cases[] = {
        /* poold's: a transfer coding libmicrohttpd does not decode, whose
         * body it would read until the client closed. */
        {"POST /v1/apply HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n{}", 400, 1},
        {"POST /v1/apply HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 400, 1},
        {"POST /v1/apply HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551615\r\n\r\n", 413, 1},
        {"BREW /v1/apply HTTP/1.1\r\nHost: x\r\n\r\n", 405, 1},
        {"GET /v1/%ZZ HTTP/1.1\r\nHost: x\r\n\r\n", 404, 1},
        {"GET /v1/jobs/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n", 404, 1},
        /* A Content-Length libmicrohttpd cannot read: it refuses them
         * itself, and poold answers before it does (http_request.c). */
        {"POST /v1/apply HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400, 1},
        {"POST /v1/apply HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400, 1},
        {"POST /v1/apply HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\n", 400, 1},
        {"POST /v1/apply HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413, 1},
        /* libmicrohttpd's own, HTML: */
        {"POST /v1/apply HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400, 0},
        {"POST /v1/apply HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n", 413, 0},
        {"GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n", 400, 0},
        {"GET /healthz\r\n\r\n", 400, 0},
        /* libmicrohttpd's 505 for a version it does not speak: the one 5xx
         * a client's bytes can cause, and the RFC's answer. */
        {"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", 505, 0},
        {"GARBAGE\r\n\r\n", 0, 0},
    };
    RawAnswer a;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        raw_exchange(srv.port, cases[i].msg, strlen(cases[i].msg), 5, &a);
        if (a.status != cases[i].status)
            fprintf(stderr, "    %.60s -> %.200s (expected %d)\n", cases[i].msg, a.text, cases[i].status);
        CHECK_INT(a.status, cases[i].status);
        if (cases[i].problem)
            check_problem(a.status, a.type, a.json, cases[i].status);
        if (!cases[i].status)
            CHECK(a.closed);
        raw_free(&a);
    }
    check_still_up(&srv);
}

/* --- ambiguous framing --- */

/* The number of status lines in text: one answer's header block. */
static int
status_lines(const char *text)
{
    int n = 0;

    for (const char *p = text; (p = strstr(p, "HTTP/1.1 ")); p++)
        n++;
    return n;
}

/* Sends msg on fd: the answer is a 400 (poold's problem, one header block
 * with Connection: close, when problem is set; else libmicrohttpd's page)
 * and then the connection is closed: nothing in the body is read as a
 * request of its own. Closes fd. */
static void
expect_400_and_closed_on(int fd, const char *msg, int problem)
{
    RawAnswer a, rest;

    raw_send(fd, msg, strlen(msg));
    raw_read(fd, 5, &a);
    raw_read(fd, 3, &rest);
    close(fd);
    if (a.status != 400 || !rest.closed)
        fprintf(stderr, "    %.90s -> %.300s, then %.200s\n", msg, a.text, rest.text);
    CHECK_INT(a.status, 400);
    if (problem) {
        check_problem(a.status, a.type, a.json, 400);
        CHECK(strstr(json_string_value(jpath(a.json, "detail")) ?: "", "ambiguous") != NULL);
        CHECK(strcasestr(a.text, "\r\nConnection: close\r\n") != NULL);
        CHECK_INT(status_lines(a.text), 1);
        CHECK_INT(rest.len, 0);
    }
    CHECK(rest.closed);
    CHECK(strstr(a.text, " 200 ") == NULL && strstr(a.text, " 202 ") == NULL);
    CHECK(strstr(rest.text, "HTTP/1.1 ") == NULL || !problem);
    raw_free(&a);
    raw_free(&rest);
}

static void
expect_400_and_closed(const char *msg, int problem)
{
    expect_400_and_closed_on(raw_connect(NULL, srv.port), msg, problem);
}

/* The same as the second request of a connection kept alive: every
 * request's framing is checked, not the first one's only. */
static void
expect_400_and_closed_after_one_kept_alive(const char *msg)
{
    RawAnswer a;
    int fd = raw_connect(NULL, srv.port);

    raw_send(fd, LIT("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    raw_read(fd, 5, &a);
    CHECK_INT(a.status, 200);
    CHECK(!a.closed);
    raw_free(&a);
    expect_400_and_closed_on(fd, msg, 1);
}

/* RFC 9112 6.3: a request whose body's end two readers could see in two
 * places (a proxy in front, and poold) is refused with 400 and the
 * connection closed, before anything of it runs, so that no request can
 * hide in another's body. libmicrohttpd 0.9.75 lets these through; poold
 * checks them itself. Each body here holds a request of its own, or is an
 * async call that would leave a job. */
TEST(test_hostile_ambiguous_framing_is_400_and_closed_before_anything_runs)
{
#define SMUGGLED "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" /* 35 bytes */
#define JOB "{\"func\":\"echo\",\"args\":[1]}"          /* 26 bytes */
    static const char *const poolds[] = {
        "POST /v1/apply_async HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 35\r\n\r\n" SMUGGLED,
        "POST /v1/apply_async HTTP/1.1\r\nHost: x\r\nContent-Length: 26\r\ncontent-length: 26\r\n\r\n" JOB,
        "POST /v1/apply_async HTTP/1.1\r\nHost: x\r\nContent-Length : 35\r\n\r\n" SMUGGLED,
        "POST /v1/apply_async HTTP/1.1\r\nHost: x\r\nContent-Length\t: 35\r\n\r\n" SMUGGLED,
        "POST /v1/apply_async HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        "1a\r\n" JOB "\r\n0\r\n\r\n",
        "POST /v1/apply_async HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 35\r\n\r\n"
        "1a\r\n" JOB "\r\n0\r\n\r\n",
        "POST /v1/apply_async HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
        "1a\r\n" JOB "\r\n0\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 35\r\n\r\n" SMUGGLED,
        /* A Content-Length libmicrohttpd cannot read, which it refuses
         * itself (with its header block twice, in 0.9.75): poold answers
         * first. */
        "POST /v1/apply_async HTTP/1.1\r\nHost: x\r\nContent-Length: 35x\r\n\r\n" SMUGGLED,
        "POST /v1/apply_async HTTP/1.1\r\nHost: x\r\nContent-Length: +26\r\n\r\n" JOB,
        "POST /v1/apply_async HTTP/1.1\r\nHost: x\r\nContent-Length: 26, 26\r\n\r\n" JOB,
    };
    json_t *before = get_json(&srv, "/v1/jobs?limit=1000"), *after;

    for (size_t i = 0; i < sizeof(poolds) / sizeof(poolds[0]); i++) {
        expect_400_and_closed(poolds[i], 1);
        expect_400_and_closed_after_one_kept_alive(poolds[i]);
    }
    after = get_json(&srv, "/v1/jobs?limit=1000");
    CHECK_INT(json_array_size(json_object_get(after, "jobs")), json_array_size(json_object_get(before, "jobs")));
    json_decref(before);
    json_decref(after);
    check_still_up(&srv);
#undef SMUGGLED
#undef JOB
}

int
main(int argc, char **argv)
{
    static const char *const args[] = {"--processes", "2", "--max-body", "1100K", NULL};
    int rc;

    server_start(&srv, args);
    rc = harness_run(argc, argv);
    server_stop(&srv);
    return rc;
}
