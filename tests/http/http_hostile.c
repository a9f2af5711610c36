/*
 * http_hostile.c: hostile and broken clients against a real poold. Each
 * input gets a 4xx answer, an application/problem+json one wherever poold
 * answers itself, and poold stays up: /healthz and an apply answer after
 * each. The malformed HTTP goes through raw sockets.
 *
 * Where libmicrohttpd 0.9.75 answers on its own, before poold sees the
 * request, the body is its HTML page and not a problem: a header block
 * past the connection's memory (431), a URL past it (414), a request line
 * or header it cannot parse and a TLS ClientHello (400), a malformed
 * Content-Length (400) or one past 2^64 (413), bad chunked framing (400,
 * 413), an HTTP version it does not know (505, the one 5xx). The tests
 * below say so where they meet each; openapi.yaml lists them as its
 * waiver, x-libmicrohttpd-answers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"

static Server srv; /* --max-body 1100K: a 1 MB func name fits, 1.2 MB does not */

#define MAX_BODY (1100 * 1024)

/* A string literal as the text and length raw senders take, NULs and all. */
#define LIT(s) s, sizeof(s) - 1

/* --- answers --- */

/* Checks an RFC 9457 answer of poold's with the given 4xx status. */
static void
check_problem(long got, const char *type, json_t *json, long status)
{
    CHECK(status >= 400 && status < 500);
    CHECK_INT(got, status);
    CHECK_STR(type, "application/problem+json");
    CHECK(json != NULL);
    CHECK_INT(json_integer_value(jpath(json, "status")), status);
    CHECK(strncmp(json_string_value(jpath(json, "type")) ?: "", "urn:poold:problem:", 18) == 0);
    CHECK(json_is_string(jpath(json, "title")));
    CHECK(json_is_string(jpath(json, "detail")));
}

/* POSTs body to path and expects a problem with status; with field, the
 * problem's "field" must name it. Says what was sent when it fails. */
static void
expect_problem(const Server *s, const char *path, const char *body, long status, const char *field)
{
    Resp r;

    req(s, "POST", path, body, &r);
    if (r.status != status || (field && strcmp(json_string_value(jpath(r.json, "field")) ?: "", field) != 0))
        fprintf(stderr, "    POST %s %.200s -> %ld %.300s (expected %ld, field %s)\n", path, body, r.status,
                r.body ? r.body : "", status, field ? field : "-");
    check_problem(r.status, resp_header(&r, "Content-Type"), r.json, status);
    if (field)
        CHECK_STR(json_string_value(jpath(r.json, "field")), field);
    resp_free(&r);
}

/* /healthz answers and so does a call: poold is up and serving. */
static void
check_still_up(const Server *s)
{
    Resp r;

    CHECK(kill(s->pid, 0) == 0);
    CHECK(req(s, "GET", "/healthz", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    CHECK(req(s, "POST", "/v1/apply", "{\"func\":\"echo\",\"args\":[1]}", &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "{\"result\":1}");
    resp_free(&r);
}

/* --- raw sockets --- */

/* A socket connected to port on 127.0.0.1, from address src when not
 * NULL (another loopback address is another client). */
static int
raw_connect(const char *src, int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    CHECK(fd >= 0);
    if (src) {
        struct sockaddr_in b = {.sin_family = AF_INET};
        CHECK(inet_pton(AF_INET, src, &b.sin_addr) == 1);
        CHECK(bind(fd, (struct sockaddr *)&b, sizeof(b)) == 0);
    }
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    return fd;
}

/* Sends what it can of data: 0 when all went, -1 once the server has
 * closed (it may answer and close before a body it refused is all sent). */
static int
raw_send(int fd, const void *data, size_t len)
{
    for (size_t off = 0; off < len;) {
        ssize_t n = send(fd, (const char *)data + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        off += (size_t)n;
    }
    return 0;
}

typedef struct RawAnswer {
    int status;      /* 0: no answer came */
    int closed;      /* the server closed the connection */
    char *text;      /* everything read, NUL-terminated */
    size_t len;
    const char *body; /* in text, after the headers */
    char type[128];  /* Content-Type, "" without one */
    json_t *json;    /* the body parsed, or NULL */
} RawAnswer;

/* Reads one answer, its headers and its Content-Length body (or its
 * chunks, left framed), or what comes until the server closes, for at
 * most `seconds`. */
static void
raw_read(int fd, double seconds, RawAnswer *a)
{
    size_t cap = 1 << 16, want = 0;
    double end = now_seconds() + seconds;
    int chunked = 0;

    memset(a, 0, sizeof(*a));
    a->text = malloc(cap + 1);
    CHECK(a->text != NULL);
    if (!a->text)
        return;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        char *eoh;
        if (want && a->len >= want &&
            (!chunked || (a->len >= want + 5 && memcmp(a->text + a->len - 5, "0\r\n\r\n", 5) == 0)))
            break;
        int ms = (int)((end - now_seconds()) * 1000);
        if (ms <= 0 || poll(&p, 1, ms) <= 0)
            break;
        if (a->len == cap) {
            char *grown = realloc(a->text, cap * 2 + 1);
            CHECK(grown != NULL);
            if (!grown)
                break; /* what came so far is the answer */
            a->text = grown;
            cap *= 2;
        }
        ssize_t n = recv(fd, a->text + a->len, cap - a->len, 0);
        if (n <= 0) {
            a->closed = 1;
            break;
        }
        a->len += (size_t)n;
        a->text[a->len] = '\0';
        if (!want && (eoh = strstr(a->text, "\r\n\r\n"))) {
            const char *cl = strcasestr(a->text, "\r\nContent-Length:");
            const char *te = strcasestr(a->text, "\r\nTransfer-Encoding: chunked");
            want = (size_t)(eoh + 4 - a->text) + (cl && cl < eoh ? strtoul(cl + 17, NULL, 10) : 0);
            chunked = te && te < eoh;
        }
    }
    a->text[a->len] = '\0';
    /* Into locals: scanning into *a would let clang's analyzer think a->text
     * overwritten, and its memory lost. */
    int status = 0;
    char type[sizeof(a->type)] = "";
    sscanf(a->text, "HTTP/1.%*d %d", &status);
    const char *eoh = strstr(a->text, "\r\n\r\n"), *ct = strcasestr(a->text, "\r\nContent-Type:");
    a->body = eoh ? eoh + 4 : a->text + a->len;
    if (ct && (!eoh || ct < eoh))
        sscanf(ct + 15, " %127[^\r\n]", type);
    a->status = status;
    memcpy(a->type, type, sizeof(type));
    a->json = json_loads(a->body, 0, NULL);
}

static void
raw_free(RawAnswer *a)
{
    free(a->text);
    json_decref(a->json);
    memset(a, 0, sizeof(*a));
}

/* Connects, sends data, reads the answer; the socket is closed after. */
static void
raw_exchange(int port, const void *data, size_t len, double seconds, RawAnswer *a)
{
    int fd = raw_connect(NULL, port);

    raw_send(fd, data, len);
    raw_read(fd, seconds, a);
    close(fd);
}

/* POSTs body (len bytes, NULs and all) to path with Content-Length and
 * reads the answer, on a connection of its own. */
static void
raw_post(int port, const char *path, const char *ctype, const void *body, size_t len, double seconds,
         RawAnswer *a)
{
    char head[512];
    int n = snprintf(head, sizeof(head), "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n"
                     "Content-Length: %zu\r\n\r\n", path, ctype, len);
    int fd = raw_connect(NULL, port);

    CHECK(n > 0 && (size_t)n < sizeof(head));
    if (raw_send(fd, head, (size_t)n) == 0)
        raw_send(fd, body, len);
    raw_read(fd, seconds, a);
    close(fd);
}

/* raw_post, expecting a problem with status. */
static void
expect_raw_problem(const Server *s, const char *path, const char *ctype, const char *body, size_t len,
                   long status)
{
    RawAnswer a;

    raw_post(s->port, path, ctype, body, len, 10, &a);
    if (a.status != status)
        fprintf(stderr, "    POST %s (%zu bytes) -> %.300s (expected %ld)\n", path, len, a.text, status);
    check_problem(a.status, a.type, a.json, status);
    raw_free(&a);
}

/* The sockets poold holds for its port, from /proc/net/tcp: established,
 * or the client gone and poold not yet closed; accepted (one the kernel
 * holds in its accept queue has no inode yet). With client_port, only the
 * one to that client's port. */
static int
server_socks(int port, int client_port)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    char line[512];
    int n = 0;

    CHECK(f != NULL);
    while (fgets(line, sizeof(line), f)) {
        unsigned lport, rport, st;
        unsigned long inode;
        if (sscanf(line, " %*d: %*8x:%x %*8x:%x %x %*x:%*x %*x:%*x %*x %*u %*u %lu", &lport, &rport, &st,
                   &inode) == 4 &&
            (int)lport == port && (st == 0x01 || st == 0x08) && inode != 0 &&
            (!client_port || (int)rport == client_port))
            n++;
    }
    fclose(f);
    return n;
}

static int
server_conns(int port)
{
    return server_socks(port, 0);
}

/* The local port of a connected socket. */
static int
sock_port(int fd)
{
    struct sockaddr_in a = {0};
    socklen_t len = sizeof(a);

    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    return ntohs(a.sin_port);
}

/* Waits up to `seconds` for server_conns(port) to be at most n. */
static int
await_conns_at_most(int port, int n, double seconds)
{
    for (double end = now_seconds() + seconds; now_seconds() < end; usleep(20 * 1000))
        if (server_conns(port) <= n)
            return 1;
    return 0;
}

/* --- the calls and their fields --- */

enum { EP_APPLY, EP_MAP, EP_STARMAP };

typedef struct Endpoint {
    const char *path;
    int kind;
    int async, stream;
} Endpoint;

static const Endpoint endpoints[] = {
    {"/v1/apply", EP_APPLY, 0, 0},         {"/v1/map", EP_MAP, 0, 0},
    {"/v1/starmap", EP_STARMAP, 0, 0},     {"/v1/imap", EP_MAP, 0, 1},
    {"/v1/imap_unordered", EP_MAP, 0, 1},  {"/v1/apply_async", EP_APPLY, 1, 0},
    {"/v1/map_async", EP_MAP, 1, 0},       {"/v1/starmap_async", EP_STARMAP, 1, 0},
};
#define NENDPOINTS (sizeof(endpoints) / sizeof(endpoints[0]))

/* A valid call to e with field set to value (JSON text), in place of its
 * own member of that name; malloc'd. */
static char *
call_body(const Endpoint *e, const char *field, const char *value)
{
    const char *items = e->kind == EP_APPLY ? "args" : "iterable";
    const char *valid = e->kind == EP_APPLY ? "[1]" : e->kind == EP_MAP ? "[1,2,3]" : "[[1],[2]]";
    char *b = NULL;
    int n;

    if (strcmp(field, "func") == 0)
        n = asprintf(&b, "{\"func\":%s,\"%s\":%s}", value, items, valid);
    else if (strcmp(field, items) == 0)
        n = asprintf(&b, "{\"func\":\"echo\",\"%s\":%s}", items, value);
    else
        n = asprintf(&b, "{\"func\":\"echo\",\"%s\":%s,\"%s\":%s}", items, valid, field, value);
    CHECK(n > 0);
    return b;
}

/* 1 when e takes field (call.c's lists). */
static int
takes(const Endpoint *e, const char *field)
{
    static const char *const apply[] = {"func", "args", "kwds", "timeout", "retries", NULL};
    static const char *const map[] = {"func", "iterable", "chunksize", "on_error", "timeout", "retries", NULL};
    static const char *const stream[] = {"func", "iterable", "chunksize", "buffersize", "timeout", "retries", NULL};
    static const char *const async[] = {"priority", "callback", "error_callback", NULL};
    const char *const *own = e->stream ? stream : e->kind == EP_APPLY ? apply : map;

    for (int i = 0; own[i]; i++)
        if (strcmp(own[i], field) == 0)
            return 1;
    for (int i = 0; e->async && async[i]; i++)
        if (strcmp(async[i], field) == 0)
            return 1;
    return 0;
}

/* --- JSON bodies --- */

TEST(test_hostile_invalid_utf8_is_400)
{
    /* A byte that starts nothing, a character cut short, an overlong '/',
     * a UTF-16 surrogate in UTF-8, a code point past U+10FFFF; inside a
     * string and outside one. */
    static const char *const bad[] = {"\"\xff\"", "\"\xc3\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"",
                                      "\"\xf4\x90\x80\x80\"", "\xff", "\xc3\xa9"};

    for (size_t e = 0; e < NENDPOINTS; e++)
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            char value[32], *body;
            snprintf(value, sizeof(value), endpoints[e].kind == EP_STARMAP ? "[[1],[%s]]" : "[1,%s]", bad[i]);
            body = call_body(&endpoints[e], endpoints[e].kind == EP_APPLY ? "args" : "iterable", value);
            expect_problem(&srv, endpoints[e].path, body, 400, NULL);
            free(body);
            body = call_body(&endpoints[e], "func", bad[i]);
            expect_problem(&srv, endpoints[e].path, body, 400, NULL);
            free(body);
        }
    /* The same in an NDJSON stream's call line. */
    expect_raw_problem(&srv, "/v1/imap", "application/x-ndjson", LIT("{\"func\":\"\xff\"}\n1\n"), 400);
    check_still_up(&srv);
}

TEST(test_hostile_duplicate_keys_are_400)
{
    for (size_t e = 0; e < NENDPOINTS; e++) {
        const Endpoint *ep = &endpoints[e];
        char *body = NULL;
        /* At the top, where the second "func" would otherwise win. */
        CHECK(asprintf(&body, "{\"func\":\"echo\",\"func\":\"sum\",%s}",
                       ep->kind == EP_APPLY ? "\"args\":[1]" : ep->kind == EP_MAP ? "\"iterable\":[1]"
                                                                                 : "\"iterable\":[[1]]") > 0);
        expect_problem(&srv, ep->path, body, 400, NULL);
        free(body);
        /* Inside an argument or an item. */
        body = call_body(ep, ep->kind == EP_APPLY ? "args" : "iterable",
                         ep->kind == EP_STARMAP ? "[[{\"a\":1,\"a\":2}]]" : "[{\"a\":1,\"a\":2}]");
        expect_problem(&srv, ep->path, body, 400, NULL);
        free(body);
    }
    expect_problem(&srv, "/v1/apply", "{\"func\":\"echo\",\"args\":[1],\"kwds\":{\"x\":1,\"x\":2}}", 400, NULL);
    expect_raw_problem(&srv, "/v1/imap", "application/x-ndjson", LIT("{\"func\":\"echo\",\"func\":\"sum\"}\n1\n"),
                       400);
    check_still_up(&srv);
}

/* [[[...1...]]] nested depth deep, as args or iterable; malloc'd. */
static char *
deep_body(const Endpoint *e, size_t depth)
{
    char *nest = malloc(2 * depth + 2), *body;

    CHECK(nest != NULL);
    memset(nest, '[', depth);
    nest[depth] = '1';
    memset(nest + depth + 1, ']', depth);
    nest[2 * depth + 1] = '\0';
    body = call_body(e, e->kind == EP_APPLY ? "args" : "iterable", nest);
    free(nest);
    return body;
}

TEST(test_hostile_nesting_past_the_parsers_limit_is_400)
{
    /* jansson stops at 2048 levels; a body just inside runs. */
    for (size_t e = 0; e < NENDPOINTS; e++) {
        char *body = deep_body(&endpoints[e], 2100);
        expect_problem(&srv, endpoints[e].path, body, 400, NULL);
        free(body);
        body = deep_body(&endpoints[e], 100000);
        expect_problem(&srv, endpoints[e].path, body, 400, NULL);
        free(body);
    }
    char *ok = deep_body(&endpoints[0], 2000);
    Resp r;
    post(&srv, "/v1/apply", ok, 200, &r);
    CHECK(strncmp(r.body, "{\"result\":[[[[", 14) == 0);
    resp_free(&r);
    free(ok);
    check_still_up(&srv);
}

TEST(test_hostile_numbers_out_of_range_are_400)
{
    static const char *const nums[] = {"9223372036854775808", "-9223372036854775809", "1e400", "-1e400",
                                       "123456789012345678901234567890"};
    static const char *const fields[] = {"chunksize", "timeout", "retries", "priority", "buffersize"};

    for (size_t e = 0; e < NENDPOINTS; e++)
        for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
            const Endpoint *ep = &endpoints[e];
            char value[96], *body;
            /* As an item after ones the fast scanner takes, and as a field. */
            snprintf(value, sizeof(value), ep->kind == EP_STARMAP ? "[[1],[2],[%s]]" : "[1,2,%s]", nums[i]);
            body = call_body(ep, ep->kind == EP_APPLY ? "args" : "iterable", value);
            expect_problem(&srv, ep->path, body, 400, NULL);
            free(body);
            for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
                if (!takes(ep, fields[f]))
                    continue;
                body = call_body(ep, fields[f], nums[i]);
                expect_problem(&srv, ep->path, body, 400, NULL);
                free(body);
            }
        }
    check_still_up(&srv);
}

TEST(test_hostile_bad_chunksize_is_400)
{
    static const char *const bad[] = {"0", "-1", "-9223372036854775808", "1.5", "2.0", "1e3",
                                      "\"2\"", "true", "[]", "{}"};

    for (size_t e = 0; e < NENDPOINTS; e++) {
        if (!takes(&endpoints[e], "chunksize"))
            continue;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            char *body = call_body(&endpoints[e], "chunksize", bad[i]);
            expect_problem(&srv, endpoints[e].path, body, 400, "chunksize");
            free(body);
        }
    }
    check_still_up(&srv);
}

TEST(test_hostile_huge_func_names_are_400)
{
    size_t n = 1 << 20;
    char *name = malloc(n + 3);

    CHECK(name != NULL);
    name[0] = '"';
    memset(name + 1, 'f', n);
    strcpy(name + 1 + n, "\"");
    for (size_t e = 0; e < NENDPOINTS; e++) {
        char *body = call_body(&endpoints[e], "func", name);
        expect_problem(&srv, endpoints[e].path, body, 400, "func");
        free(body);
    }
    /* Past the longest a name may be (128): 400; at it, nobody's: 404. */
    name[130] = '"', name[131] = '\0';
    char *body = call_body(&endpoints[0], "func", name);
    expect_problem(&srv, "/v1/apply", body, 400, "func");
    free(body);
    name[129] = '"', name[130] = '\0';
    body = call_body(&endpoints[0], "func", name);
    expect_problem(&srv, "/v1/apply", body, 404, "func");
    free(body);
    free(name);
    check_still_up(&srv);
}

TEST(test_hostile_nul_in_strings_is_400)
{
    /* \u0000: jansson refuses it (no JSON_ALLOW_NUL), so no C string a
     * function or the store sees is cut short. */
    for (size_t e = 0; e < NENDPOINTS; e++) {
        const Endpoint *ep = &endpoints[e];
        char *body = call_body(ep, "func", "\"ec\\u0000ho\"");
        expect_problem(&srv, ep->path, body, 400, NULL);
        free(body);
        body = call_body(ep, ep->kind == EP_APPLY ? "args" : "iterable",
                         ep->kind == EP_STARMAP ? "[[\"a\\u0000b\"]]" : "[\"a\\u0000b\"]");
        expect_problem(&srv, ep->path, body, 400, NULL);
        free(body);
    }
    expect_problem(&srv, "/v1/apply", "{\"func\":\"echo\",\"args\":[1],\"kwds\":{\"a\\u0000\":1}}", 400, NULL);
    expect_problem(&srv, "/v1/apply_async", "{\"func\":\"echo\",\"args\":[1],\"callback\":\"http://x/\\u0000\"}",
                   400, NULL);
    /* A raw NUL byte: in a string, after the JSON, and in an NDJSON
     * stream's call line. */
    expect_raw_problem(&srv, "/v1/apply", "application/json", LIT("{\"func\":\"ec\0ho\",\"args\":[1]}"), 400);
    expect_raw_problem(&srv, "/v1/apply", "application/json", LIT("{\"func\":\"echo\",\"args\":[\"a\0b\"]}"), 400);
    expect_raw_problem(&srv, "/v1/apply", "application/json", LIT("{\"func\":\"echo\",\"args\":[1]}\0"), 400);
    expect_raw_problem(&srv, "/v1/map", "application/json", LIT("{\"func\":\"echo\",\"iterable\":[1,\"\0\"]}"), 400);
    expect_raw_problem(&srv, "/v1/map_async", "application/json", LIT("{\"func\":\"echo\",\"iterable\":[1]}\0"),
                       400);
    expect_raw_problem(&srv, "/v1/imap", "application/x-ndjson", LIT("{\"func\":\"e\0cho\"}\n1\n"), 400);
    check_still_up(&srv);
}

TEST(test_hostile_nul_in_an_ndjson_item_ends_the_stream_with_400)
{
    /* Past the call line the answer has begun (200): a bad item ends the
     * stream with a last line that carries the status instead. */
    static const char body[] = "{\"func\":\"echo\"}\n1\n\"a\0b\"\n";
    RawAnswer a;

    raw_post(srv.port, "/v1/imap", "application/x-ndjson", body, sizeof(body) - 1, 10, &a);
    CHECK_INT(a.status, 200);
    CHECK(strstr(a.text, "\"index\":0,\"result\":1") != NULL);
    CHECK(strstr(a.text, "\"type\":\"InvalidItem\"") != NULL);
    CHECK(strstr(a.text, "\"status\":400") != NULL);
    CHECK(strstr(a.text, "\"final\":true") != NULL);
    raw_free(&a);
    check_still_up(&srv);
}

TEST(test_hostile_wrong_types_for_every_field_are_400)
{
    static const struct {
        const char *field;
        const char *bad[10];
    } cases[] = {
        {"func", {"1", "1.5", "true", "null", "[]", "{}", "\"\"", NULL}},
        {"args", {"\"x\"", "1", "true", "null", "{}", NULL}},
        {"kwds", {"\"x\"", "1", "true", "null", "[]", NULL}},
        {"iterable", {"\"x\"", "1", "true", "null", "{}", NULL}},
        {"chunksize", {"\"1\"", "1.5", "true", "[]", "{}", NULL}},
        {"on_error", {"1", "true", "[]", "{}", "\"\"", "\"ignore\"", NULL}},
        {"timeout", {"\"1\"", "true", "[]", "{}", "0", "-1", NULL}},
        {"retries", {"\"1\"", "1.5", "true", "[]", "{}", "-1", "1000000", NULL}},
        {"priority", {"\"1\"", "1.5", "true", "[]", "{}", "1000001", NULL}},
        {"callback", {"1", "true", "[]", "{}", "\"\"", NULL}},
        {"buffersize", {"\"1\"", "1.5", "true", "[]", "{}", "0", "-1", NULL}},
    };
    int tried = 0;

    for (size_t e = 0; e < NENDPOINTS; e++)
        for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
            if (!takes(&endpoints[e], cases[c].field))
                continue;
            for (int i = 0; cases[c].bad[i]; i++, tried++) {
                char *body = call_body(&endpoints[e], cases[c].field, cases[c].bad[i]);
                expect_problem(&srv, endpoints[e].path, body, 400, cases[c].field);
                free(body);
            }
        }
    /* error_callback: with a callback, so that its own type is judged. */
    static const char *const bad_ecb[] = {"1", "true", "[]", "{}", "\"\""};
    for (size_t e = 0; e < NENDPOINTS; e++) {
        if (!endpoints[e].async)
            continue;
        for (size_t i = 0; i < sizeof(bad_ecb) / sizeof(bad_ecb[0]); i++, tried++) {
            char value[64], *body;
            snprintf(value, sizeof(value), "%s,\"callback\":\"http://127.0.0.1:9/\"", bad_ecb[i]);
            body = call_body(&endpoints[e], "error_callback", value);
            expect_problem(&srv, endpoints[e].path, body, 400, "error_callback");
            free(body);
        }
    }
    CHECK(tried > 250); /* every endpoint's every field, not a table gone empty */
    /* The body itself of the wrong type. */
    static const char *const not_objects[] = {"[]", "1", "\"x\"", "null", "true"};
    for (size_t e = 0; e < NENDPOINTS; e++)
        for (size_t i = 0; i < sizeof(not_objects) / sizeof(not_objects[0]); i++)
            expect_problem(&srv, endpoints[e].path, not_objects[i], 400, NULL);
    check_still_up(&srv);
}

TEST(test_hostile_unknown_fields_are_400_on_every_endpoint)
{
    /* A typo, a field another endpoint takes, and a long name of
     * multi-byte characters, which the detail quotes cut at 64 bytes (once
     * cut inside a character, and then a 500: the problem's JSON needs
     * valid UTF-8). */
    static const char *const fields[] = {"colour", "chunk_size", "args", "kwds", "iterable", "chunksize",
                                         "on_error", "buffersize", "priority", "callback", "error_callback",
                                         /* one name in four pieces, on purpose */
                                         // NOLINTNEXTLINE(bugprone-suspicious-missing-comma)
                                         "a\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                                         "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                                         "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                                         "\xc3\xa9\xc3\xa9"};
    int tried = 0;

    for (size_t e = 0; e < NENDPOINTS; e++)
        for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
            if (takes(&endpoints[e], fields[f]) ||
                strcmp(fields[f], endpoints[e].kind == EP_APPLY ? "args" : "iterable") == 0)
                continue;
            char *body = call_body(&endpoints[e], fields[f], "1");
            Resp r;
            req(&srv, "POST", endpoints[e].path, body, &r);
            check_problem(r.status, resp_header(&r, "Content-Type"), r.json, 400);
            CHECK(strstr(json_string_value(jpath(r.json, "detail")), "unknown field") != NULL);
            resp_free(&r);
            free(body);
            tried++;
        }
    CHECK(tried > 40);
    expect_raw_problem(&srv, "/v1/imap", "application/x-ndjson", LIT("{\"func\":\"echo\",\"colour\":1}\n1\n"), 400);
    check_still_up(&srv);
}

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
     * answer can only come once the body has ended, so the rest of it is
     * read and dropped, up to --max-body more; past that the connection
     * is closed unanswered, rather than read for ever. */
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

/* --- slow clients and connection floods --- */

/* An idle connection (nothing sent since its last answer) is closed at
 * the timeout (the tests use 1 or 2 s), within 3.5 s, and unanswered: an
 * answer would be read as the next request's. Closes fd. */
static void
check_closed_unanswered(int fd)
{
    RawAnswer a;
    double t0 = now_seconds();

    raw_read(fd, 5, &a);
    CHECK(a.closed);
    CHECK_INT(a.len, 0);
    CHECK(now_seconds() - t0 < 3.5);
    raw_free(&a);
    close(fd);
}

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

    /* An idle keep-alive connection is closed after the timeout,
     * unanswered. */
    int fd = raw_connect(NULL, s.port);
    raw_send(fd, LIT("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    raw_read(fd, 2, &a);
    CHECK_INT(a.status, 200);
    CHECK(!a.closed);
    raw_free(&a);
    check_closed_unanswered(fd);

    /* Half-closed in the middle of a body: libmicrohttpd closes at once
     * when it reads the end of the stream, or, when it read the bytes
     * before it came and waits on for the rest, the guard answers 408 at
     * the timeout (the client may still read). */
    fd = raw_connect(NULL, s.port);
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

/* A chunked body to a request refused already (here a 404) is thrown away,
 * but not for ever: past --max-body more, the connection is closed. */
TEST(test_hostile_an_endless_body_to_a_refused_request_is_cut)
{
    static const char *const args[] = {"--max-body", "4096", "--processes", "1", NULL};
    static char chunk[8192 + 16];
    Server s;
    int cut = 0;

    server_start(&s, args);
    int n = sprintf(chunk, "%x\r\n", 8192);
    memset(chunk + n, 'x', 8192);
    memcpy(chunk + n + 8192, "\r\n", 2);
    int fd = raw_connect(NULL, s.port);
    CHECK(raw_send(fd, LIT("POST /v1/nothing-here HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")) == 0);
    for (double end = now_seconds() + 10; !cut && now_seconds() < end;)
        cut = raw_send(fd, chunk, (size_t)n + 8192 + 2) < 0;
    CHECK(cut); /* 10 s of sending: 4 KiB were allowed */
    close(fd);
    check_still_up(&s);
    server_stop(&s);
}

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

/* A GET /healthz on a new connection from src: served (200), or, when
 * not served, closed at once unanswered (refused by the per-address
 * limit). */
static void
check_healthz_from(const char *src, int port, int served)
{
    static const char get[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    int fd = raw_connect(src, port);
    RawAnswer a;

    raw_send(fd, LIT(get));
    raw_read(fd, 2, &a);
    if (served) {
        CHECK_INT(a.status, 200);
    } else {
        CHECK(a.closed);
        CHECK_INT(a.status, 0);
    }
    raw_free(&a);
    close(fd);
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
        /* libmicrohttpd's own, HTML: */
        {"POST /v1/apply HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400, 0},
        {"POST /v1/apply HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400, 0},
        {"POST /v1/apply HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\n", 400, 0},
        {"POST /v1/apply HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413, 0},
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
    /* Content-Length and chunked both: the chunks count (RFC 9112 6.1). */
    static const char both[] = "POST /v1/apply HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked"
                               "\r\n\r\n1a\r\n{\"func\":\"echo\",\"args\":[1]}\r\n0\r\n\r\n";
    raw_exchange(srv.port, both, sizeof(both) - 1, 5, &a);
    CHECK_INT(a.status, 200);
    CHECK_STR(a.body, "{\"result\":1}");
    raw_free(&a);
    check_still_up(&srv);
}

int
main(int argc, char **argv)
{
    static const char *const args[] = {"--processes", "2", "--max-body", "1100K", NULL};
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
