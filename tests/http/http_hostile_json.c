/*
 * http_hostile_json.c: hostile bodies against a real poold, the JSON a
 * call is made of: text that is not valid UTF-8, duplicate keys, nesting
 * past the parser's limit, numbers out of range, NULs, names too long,
 * wrong types and unknown fields, each on every call endpoint. Each gets
 * a 400 (a 404 for a name that is merely nobody's) as
 * application/problem+json, and poold stays up: /healthz and an apply
 * answer after each. The bytes libcurl would not send go through raw
 * sockets (rawhttp.h); the HTTP around the body is http_hostile_framing.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "harness.h"
#include "rawhttp.h"

static Server srv; /* --max-body 1100K: a 1 MB func name fits */

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
