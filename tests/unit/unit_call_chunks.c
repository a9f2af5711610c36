/*
 * unit_call_chunks.c: a parsed call cut into chunks (Python's default
 * chunksize, the chunk arithmetic) and each chunk's payload, the frame a
 * worker reads: apply, map and starmap frames, an apply's kept body, and
 * items sliced from the body's text.
 */
#include <stdlib.h>
#include <string.h>

#include "call_test.h"
#include "calls/call.h"
#include "harness.h"
#include "functions/registry.h"
#include "worker/wire.h"

/* Checks that payload is the JSON text want (compared as JSON). */
#define EXPECT_JSON(text, len, want)                                          \
    call_test_json(__FILE__, __LINE__, (text), (len), (want))

static void
call_test_json(const char *file, int line, const char *text, size_t len, const char *want)
{
    json_t *got, *exp = json_loads(want, JSON_DECODE_ANY, NULL);

    if (!text)
        harness_fail(file, line, "payload is NULL");
    if (len != strlen(text))
        harness_fail(file, line, "len %zu, but the text is %zu bytes", len, strlen(text));
    got = json_loadb(text, len, JSON_DECODE_ANY, NULL);
    if (!got || !exp || !json_equal(got, exp))
        harness_fail(file, line, "payload %s, expected %s", text, want);
    json_decref(got);
    json_decref(exp);
}

/* A frame written with its function's name, as the tests write it for
 * reading's sake, in the wire's form: [id, items, kwds] (wire.h). The
 * text lives until the next call. */
static const char *
call_test_frame(const char *named)
{
    static char frame[256];
    const char *end = strchr(named + 2, '"');
    char name[32];

    CHECK(strncmp(named, "[\"", 2) == 0 && end && (size_t)(end - named - 2) < sizeof(name));
    memcpy(name, named + 2, (size_t)(end - named - 2));
    name[end - named - 2] = '\0';
    CHECK(registry_find(call_test_reg, name) != NULL);
    snprintf(frame, sizeof(frame), "[%u%s", registry_find(call_test_reg, name)->id, end + 1);
    return frame;
}


TEST(test_call_default_chunksize_matches_python)
{
    CHECK_INT(call_default_chunksize(4, 2), 1);
    CHECK_INT(call_default_chunksize(20000, 2), 2500);
    CHECK_INT(call_default_chunksize(20001, 2), 2501);
    CHECK_INT(call_default_chunksize(0, 2), 1);
    CHECK_INT(call_default_chunksize(1, 1), 1);
    CHECK_INT(call_default_chunksize(100, 4), 7);
    /* chunksize, extra = divmod(n, 4 * processes); if extra: chunksize += 1 */
    for (size_t n = 0; n <= 2000; n++)
        for (int p = 1; p <= 9; p++) {
            size_t want = n / (4 * (size_t)p) + (n % (4 * (size_t)p) ? 1 : 0);
            if (want < 1)
                want = 1;
            if (call_default_chunksize(n, p) != want)
                harness_fail(__FILE__, __LINE__, "call_default_chunksize(%zu, %d) == %zu, expected %zu",
                             n, p, call_default_chunksize(n, p), want);
        }
}


TEST(test_call_chunks_split_items)
{
    Call *c = NULL;
    CallError err;

    CHECK_INT(call_test_parse("{\"func\":\"fib\",\"iterable\":[0,1,2,3,4,5,6,7,8,9],\"chunksize\":3}",
                              CALL_MAP, &c, &err),
              SVC_OK);
    CHECK_INT(call_items(c), 10);
    CHECK_INT(call_chunks(c), 4);
    CHECK_INT(call_chunk_first(c, 0), 0);
    CHECK_INT(call_chunk_first(c, 1), 3);
    CHECK_INT(call_chunk_first(c, 2), 6);
    CHECK_INT(call_chunk_first(c, 3), 9);
    CHECK_INT(call_chunk_len(c, 0), 3);
    CHECK_INT(call_chunk_len(c, 1), 3);
    CHECK_INT(call_chunk_len(c, 2), 3);
    CHECK_INT(call_chunk_len(c, 3), 1);
    call_free(c);
}


TEST(test_call_chunks_exact_multiple)
{
    Call *c = NULL;
    CallError err;

    CHECK_INT(call_test_parse("{\"func\":\"fib\",\"iterable\":[0,1,2,3,4,5],\"chunksize\":3}",
                              CALL_MAP, &c, &err),
              SVC_OK);
    CHECK_INT(call_chunks(c), 2);
    CHECK_INT(call_chunk_len(c, 1), 3);
    call_free(c);
    /* A chunksize larger than the iterable makes one chunk of everything. */
    CHECK_INT(call_test_parse("{\"func\":\"fib\",\"iterable\":[0,1],\"chunksize\":100}", CALL_MAP,
                              &c, &err),
              SVC_OK);
    CHECK_INT(call_chunks(c), 1);
    CHECK_INT(call_chunk_first(c, 0), 0);
    CHECK_INT(call_chunk_len(c, 0), 2);
    call_free(c);
}


TEST(test_call_chunks_apply_is_one)
{
    Call *c = NULL;
    CallError err;

    CHECK_INT(call_test_parse("{\"func\":\"pow\",\"args\":[2,3]}", CALL_APPLY, &c, &err), SVC_OK);
    CHECK_INT(call_items(c), 1);
    CHECK_INT(call_chunks(c), 1);
    CHECK_INT(call_chunk_first(c, 0), 0);
    CHECK_INT(call_chunk_len(c, 0), 1);
    call_free(c);
}


TEST(test_call_chunk_payload_apply)
{
    Call *c = NULL;
    CallError err;
    size_t len = 0;
    uint32_t mode = 0;
    char *p;

    CHECK_INT(call_test_parse("{\"func\":\"pow\",\"args\":[2],\"kwds\":{\"exp\":3}}", CALL_APPLY,
                              &c, &err),
              SVC_OK);
    p = call_chunk_payload(c, 0, &len, &mode);
    EXPECT_JSON(p, len, call_test_frame("[\"pow\",[2],{\"exp\":3}]"));
    CHECK_INT(mode, WIRE_MODE_APPLY);
    free(p);
    call_free(c);
    /* Defaults travel as [] and {}. */
    CHECK_INT(call_test_parse("{\"func\":\"echo\"}", CALL_APPLY, &c, &err), SVC_OK);
    p = call_chunk_payload(c, 0, &len, &mode);
    EXPECT_JSON(p, len, call_test_frame("[\"echo\",[],{}]"));
    CHECK_INT(mode, WIRE_MODE_APPLY);
    free(p);
    call_free(c);
}


/* An apply that kept its body sends it as it came; a map keeps nothing. */
TEST(test_call_chunk_payload_apply_kept_body)
{
    const char *body = "{\"func\":\"pow\", \"args\":[2], \"kwds\":{\"exp\":3}}";
    Call *c = NULL;
    CallError err;
    size_t len = 0;
    uint32_t mode = 0;
    char *p;

    CHECK_INT(call_test_parse(body, CALL_APPLY, &c, &err), SVC_OK);
    CHECK(call_take_body(c, &len, &mode) == NULL); /* none kept yet */
    call_keep_body(c, body, strlen(body));
    p = call_take_body(c, &len, &mode);
    CHECK_INT(mode, WIRE_MODE_APPLY_BODY);
    CHECK_INT(len, strlen(body));
    CHECK(p && memcmp(p, body, len) == 0);
    free(p);
    CHECK(call_take_body(c, &len, &mode) == NULL); /* handed over once */
    p = call_chunk_payload(c, 0, &len, &mode);     /* the frame, as ever */
    CHECK_INT(mode, WIRE_MODE_APPLY);
    free(p);
    call_keep_body(c, body, strlen(body));
    call_drop_values(c); /* the payload is built: the copy goes too */
    CHECK(c->body_text == NULL);
    call_free(c);
    CHECK_INT(call_test_parse("{\"func\":\"echo\",\"iterable\":[1]}", CALL_MAP, &c, &err), SVC_OK);
    call_keep_body(c, "{}", 2);
    CHECK(call_take_body(c, &len, &mode) == NULL);
    p = call_chunk_payload(c, 0, &len, &mode);
    CHECK_INT(mode, WIRE_MODE_MAP);
    free(p);
    call_free(c);
}


TEST(test_call_chunk_payload_map)
{
    Call *c = NULL;
    CallError err;
    size_t len = 0;
    uint32_t mode = 0;
    char *p;

    CHECK_INT(call_test_parse("{\"func\":\"fib\",\"iterable\":[0,1,2,3,4,5,6,7,8,9],\"chunksize\":3}",
                              CALL_MAP, &c, &err),
              SVC_OK);
    p = call_chunk_payload(c, 0, &len, &mode);
    EXPECT_JSON(p, len, call_test_frame("[\"fib\",[0,1,2],null]"));
    CHECK_INT(mode, WIRE_MODE_MAP);
    free(p);
    p = call_chunk_payload(c, 1, &len, &mode);
    EXPECT_JSON(p, len, call_test_frame("[\"fib\",[3,4,5],null]"));
    free(p);
    mode = 0;
    p = call_chunk_payload(c, 3, &len, &mode);
    EXPECT_JSON(p, len, call_test_frame("[\"fib\",[9],null]"));
    CHECK_INT(mode, WIRE_MODE_MAP);
    free(p);
    call_free(c);
}


TEST(test_call_chunk_payload_starmap)
{
    Call *c = NULL;
    CallError err;
    size_t len = 0;
    uint32_t mode = 0;
    char *p;

    CHECK_INT(call_test_parse("{\"func\":\"pow\",\"iterable\":[[2,3],[3,2],[4,{\"x\":1}]],"
                              "\"chunksize\":2}",
                              CALL_STARMAP, &c, &err),
              SVC_OK);
    p = call_chunk_payload(c, 0, &len, &mode);
    EXPECT_JSON(p, len, call_test_frame("[\"pow\",[[2,3],[3,2]],null]"));
    CHECK_INT(mode, WIRE_MODE_STARMAP);
    free(p);
    p = call_chunk_payload(c, 1, &len, &mode);
    EXPECT_JSON(p, len, call_test_frame("[\"pow\",[[4,{\"x\":1}]],null]"));
    CHECK_INT(mode, WIRE_MODE_STARMAP);
    free(p);
    call_free(c);
}


/* A map whose items are sliced from the body's text: the frame holds
 * them as they came, under the function's id. */
TEST(test_call_chunk_payload_sliced_from_the_text)
{
    const char *body = "{\"func\":\"fib\",\"iterable\":[0, 1,2,\"x\"],\"chunksize\":3}";
    Call *c = NULL;
    CallError err;
    size_t len = 0;
    uint32_t mode = 0;
    char *p, want[64];
    unsigned id = registry_find(call_test_reg, "fib")->id;

    CHECK_INT(call_parse_text(body, strlen(body), CALL_MAP, call_test_reg, &call_test_lim, &c, &err), SVC_OK);
    CHECK(c && c->items_text != NULL);
    p = call_chunk_payload(c, 0, &len, &mode);
    snprintf(want, sizeof(want), "[%u,[0, 1,2],null]", id);
    CHECK_STR(p, want);
    CHECK_INT(len, strlen(want));
    CHECK_INT(mode, WIRE_MODE_MAP);
    free(p);
    p = call_chunk_payload(c, 1, &len, &mode);
    snprintf(want, sizeof(want), "[%u,[\"x\"],null]", id);
    CHECK_STR(p, want);
    CHECK_INT(len, strlen(want));
    free(p);
    call_free(c);
}

int
main(int argc, char **argv)
{
    return call_test_main("unit_call_chunks", argc, argv);
}
