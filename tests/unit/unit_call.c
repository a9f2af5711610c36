/*
 * unit_call.c: call_parse (apply, map, starmap, and imap's stream form)
 * against the built-in registry: the fields it reads, their defaults and
 * limits, and what it refuses, naming the field. The chunks a parsed call
 * is cut into, and their payloads, are unit_call_chunks.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "call_test.h"
#include "calls/call.h"
#include "harness.h"
#include "functions/registry.h"

/* Checks that body is refused with code, naming field. */
#define EXPECT_CALL_ERROR(op, body, code, field)                              \
    call_test_error(__FILE__, __LINE__, (op), (body), (code), (field))

static void
call_test_error(const char *file, int line, CallOp op, const char *body, int code,
                const char *field)
{
    Call *c = (Call *)&c; /* must come back NULL */
    CallError err;
    int rc = call_test_parse(body, op, &c, &err);

    if (rc != code)
        harness_fail(file, line, "%s: call_parse returned %d, expected %d", body, rc, code);
    if (c != NULL)
        harness_fail(file, line, "%s: *out is not NULL on failure", body);
    if (err.code != code)
        harness_fail(file, line, "%s: err.code %d, expected %d", body, err.code, code);
    if (strcmp(err.field, field) != 0)
        harness_fail(file, line, "%s: err.field \"%s\", expected \"%s\"", body, err.field, field);
    if (err.detail[0] == '\0')
        harness_fail(file, line, "%s: err.detail is empty", body);
}

/* A map or starmap body over n integers (or [i] arrays for starmap). */
static json_t *
call_test_big_body(const char *func, size_t n, int arrays)
{
    json_t *it = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(it, arrays ? json_pack("[I]", (json_int_t)i)
                                         : json_integer((json_int_t)i));
    return json_pack("{s:s, s:o}", "func", func, "iterable", it);
}


TEST(test_call_apply_parses_func_args_kwds)
{
    Call *c = NULL;
    CallError err;
    json_t *want;

    CHECK_INT(call_test_parse("{\"func\":\"pow\",\"args\":[2],\"kwds\":{\"exp\":10}}", CALL_APPLY,
                              &c, &err),
              SVC_OK);
    CHECK(c != NULL);
    CHECK_INT(c->op, CALL_APPLY);
    CHECK_STR(c->fn->name, "pow");
    want = json_pack("[i]", 2);
    CHECK(json_equal(c->args, want));
    json_decref(want);
    want = json_pack("{s:i}", "exp", 10);
    CHECK(json_equal(c->kwds, want));
    json_decref(want);
    CHECK(c->iterable == NULL);
    CHECK_INT(c->chunksize, 0);
    CHECK_INT(call_items(c), 1);
    call_free(c);
}


TEST(test_call_apply_defaults_args_and_kwds)
{
    Call *c = NULL;
    CallError err;

    CHECK_INT(call_test_parse("{\"func\":\"echo\"}", CALL_APPLY, &c, &err), SVC_OK);
    CHECK(json_is_array(c->args));
    CHECK_INT(json_array_size(c->args), 0);
    CHECK(json_is_object(c->kwds));
    CHECK_INT(json_object_size(c->kwds), 0);
    call_free(c);
}


TEST(test_call_map_parses_iterable_chunksize_on_error)
{
    Call *c = NULL;
    CallError err;
    json_t *want;

    CHECK_INT(call_test_parse("{\"func\":\"fib\",\"iterable\":[1,2,3],\"chunksize\":2,"
                              "\"on_error\":\"collect\"}",
                              CALL_MAP, &c, &err),
              SVC_OK);
    CHECK_INT(c->op, CALL_MAP);
    CHECK_STR(c->fn->name, "fib");
    want = json_pack("[i,i,i]", 1, 2, 3);
    CHECK(json_equal(c->iterable, want));
    json_decref(want);
    CHECK_INT(c->chunksize, 2);
    CHECK_INT(c->collect, 1);
    CHECK_INT(call_items(c), 3);
    call_free(c);
}


TEST(test_call_map_on_error_defaults_to_raise)
{
    Call *c = NULL;
    CallError err;

    CHECK_INT(call_test_parse("{\"func\":\"fib\",\"iterable\":[1]}", CALL_MAP, &c, &err), SVC_OK);
    CHECK_INT(c->collect, 0);
    call_free(c);
    CHECK_INT(call_test_parse("{\"func\":\"fib\",\"iterable\":[1],\"on_error\":\"raise\"}", CALL_MAP,
                              &c, &err),
              SVC_OK);
    CHECK_INT(c->collect, 0);
    call_free(c);
    CHECK_INT(call_test_parse("{\"func\":\"fib\",\"iterable\":[1],\"on_error\":null}", CALL_MAP,
                              &c, &err),
              SVC_OK);
    CHECK_INT(c->collect, 0);
    call_free(c);
}


TEST(test_call_map_default_chunksize)
{
    Call *c = NULL;
    CallError err;
    json_t *body;

    /* 4 items on 2 processes: divmod(4, 8) = (0, 4) -> 1. */
    CHECK_INT(call_test_parse("{\"func\":\"fib\",\"iterable\":[1,2,3,4]}", CALL_MAP, &c, &err),
              SVC_OK);
    CHECK_INT(c->chunksize, 1);
    call_free(c);
    /* null asks for the default too. */
    CHECK_INT(call_test_parse("{\"func\":\"fib\",\"iterable\":[1,2,3,4],\"chunksize\":null}",
                              CALL_MAP, &c, &err),
              SVC_OK);
    CHECK_INT(c->chunksize, 1);
    call_free(c);
    /* 20001 items on 2 processes: divmod(20001, 8) = (2500, 1) -> 2501. */
    body = call_test_big_body("fib", 20001, 0);
    CHECK_INT(call_parse(body, CALL_MAP, call_test_reg, &call_test_lim, &c, &err), SVC_OK);
    CHECK_INT(c->chunksize, 2501);
    CHECK_INT(call_chunks(c), 8);
    call_free(c);
    json_decref(body);
}


TEST(test_call_starmap_parses_argument_lists)
{
    Call *c = NULL;
    CallError err;
    json_t *body;

    CHECK_INT(call_test_parse("{\"func\":\"pow\",\"iterable\":[[2,3],[3,2],[]],\"chunksize\":2}",
                              CALL_STARMAP, &c, &err),
              SVC_OK);
    CHECK_INT(c->op, CALL_STARMAP);
    CHECK_STR(c->fn->name, "pow");
    CHECK_INT(call_items(c), 3);
    CHECK_INT(c->chunksize, 2);
    CHECK_INT(call_chunks(c), 2);
    call_free(c);
    /* 20000 items on 2 processes: divmod(20000, 8) = (2500, 0) -> 2500. */
    body = call_test_big_body("pow", 20000, 1);
    CHECK_INT(call_parse(body, CALL_STARMAP, call_test_reg, &call_test_lim, &c, &err), SVC_OK);
    CHECK_INT(c->chunksize, 2500);
    call_free(c);
    json_decref(body);
}


TEST(test_call_map_empty_iterable_has_no_chunks)
{
    Call *c = NULL;
    CallError err;

    CHECK_INT(call_test_parse("{\"func\":\"fib\",\"iterable\":[]}", CALL_MAP, &c, &err), SVC_OK);
    CHECK_INT(call_items(c), 0);
    CHECK_INT(c->chunksize, 1);
    CHECK_INT(call_chunks(c), 0);
    call_free(c);
}


TEST(test_call_missing_func_rejected)
{
    EXPECT_CALL_ERROR(CALL_APPLY, "{}", SVC_EINVAL, "func");
    EXPECT_CALL_ERROR(CALL_APPLY, "{\"args\":[1]}", SVC_EINVAL, "func");
    EXPECT_CALL_ERROR(CALL_MAP, "{\"iterable\":[1]}", SVC_EINVAL, "func");
    EXPECT_CALL_ERROR(CALL_STARMAP, "{\"iterable\":[[1]]}", SVC_EINVAL, "func");
}


TEST(test_call_func_not_string_rejected)
{
    EXPECT_CALL_ERROR(CALL_APPLY, "{\"func\":1}", SVC_EINVAL, "func");
    EXPECT_CALL_ERROR(CALL_APPLY, "{\"func\":null}", SVC_EINVAL, "func");
    EXPECT_CALL_ERROR(CALL_APPLY, "{\"func\":[\"pow\"]}", SVC_EINVAL, "func");
    EXPECT_CALL_ERROR(CALL_APPLY, "{\"func\":\"\"}", SVC_EINVAL, "func");
    EXPECT_CALL_ERROR(CALL_APPLY, "{\"func\":\"po\\u0000w\"}", SVC_EINVAL, "func");
}


TEST(test_call_unknown_func_rejected)
{
    Call *c = NULL;
    CallError err;

    EXPECT_CALL_ERROR(CALL_APPLY, "{\"func\":\"nope\"}", SVC_ENOFUNC, "func");
    EXPECT_CALL_ERROR(CALL_MAP, "{\"func\":\"nope\",\"iterable\":[]}", SVC_ENOFUNC, "func");
    EXPECT_CALL_ERROR(CALL_STARMAP, "{\"func\":\"nope\",\"iterable\":[]}", SVC_ENOFUNC, "func");
    CHECK_INT(call_test_parse("{\"func\":\"nope\"}", CALL_APPLY, &c, &err), SVC_ENOFUNC);
    CHECK(strstr(err.detail, "nope") != NULL);
}


TEST(test_call_func_name_too_long_rejected)
{
    char name[200], body[300];

    memset(name, 'a', 129);
    name[129] = '\0';
    snprintf(body, sizeof(body), "{\"func\":\"%s\"}", name);
    EXPECT_CALL_ERROR(CALL_APPLY, body, SVC_EINVAL, "func");
    /* 128 characters is still a name: just not a known one. */
    name[128] = '\0';
    snprintf(body, sizeof(body), "{\"func\":\"%s\"}", name);
    EXPECT_CALL_ERROR(CALL_APPLY, body, SVC_ENOFUNC, "func");
}


TEST(test_call_apply_args_not_array_rejected)
{
    EXPECT_CALL_ERROR(CALL_APPLY, "{\"func\":\"pow\",\"args\":{\"a\":1}}", SVC_EINVAL, "args");
    EXPECT_CALL_ERROR(CALL_APPLY, "{\"func\":\"pow\",\"args\":\"2,3\"}", SVC_EINVAL, "args");
    EXPECT_CALL_ERROR(CALL_APPLY, "{\"func\":\"pow\",\"args\":2}", SVC_EINVAL, "args");
}


TEST(test_call_apply_kwds_not_object_rejected)
{
    EXPECT_CALL_ERROR(CALL_APPLY, "{\"func\":\"pow\",\"kwds\":[1,2]}", SVC_EINVAL, "kwds");
    EXPECT_CALL_ERROR(CALL_APPLY, "{\"func\":\"pow\",\"kwds\":\"x\"}", SVC_EINVAL, "kwds");
}


TEST(test_call_map_iterable_not_array_rejected)
{
    EXPECT_CALL_ERROR(CALL_MAP, "{\"func\":\"fib\"}", SVC_EINVAL, "iterable");
    EXPECT_CALL_ERROR(CALL_MAP, "{\"func\":\"fib\",\"iterable\":{\"a\":1}}", SVC_EINVAL,
                      "iterable");
    EXPECT_CALL_ERROR(CALL_MAP, "{\"func\":\"fib\",\"iterable\":\"123\"}", SVC_EINVAL, "iterable");
    EXPECT_CALL_ERROR(CALL_STARMAP, "{\"func\":\"pow\",\"iterable\":5}", SVC_EINVAL, "iterable");
}


TEST(test_call_map_chunksize_invalid_rejected)
{
    static const char *const bad[] = {"0", "-1", "1.5", "\"2\"", "true", "[2]"};
    char body[128];

    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        snprintf(body, sizeof(body), "{\"func\":\"fib\",\"iterable\":[1],\"chunksize\":%s}", bad[i]);
        EXPECT_CALL_ERROR(CALL_MAP, body, SVC_EINVAL, "chunksize");
        snprintf(body, sizeof(body), "{\"func\":\"pow\",\"iterable\":[[1,2]],\"chunksize\":%s}",
                 bad[i]);
        EXPECT_CALL_ERROR(CALL_STARMAP, body, SVC_EINVAL, "chunksize");
    }
}


TEST(test_call_map_on_error_invalid_rejected)
{
    EXPECT_CALL_ERROR(CALL_MAP, "{\"func\":\"fib\",\"iterable\":[1],\"on_error\":\"x\"}", SVC_EINVAL,
                      "on_error");
    EXPECT_CALL_ERROR(CALL_MAP, "{\"func\":\"fib\",\"iterable\":[1],\"on_error\":1}", SVC_EINVAL,
                      "on_error");
    EXPECT_CALL_ERROR(CALL_STARMAP, "{\"func\":\"pow\",\"iterable\":[],\"on_error\":\"RAISE\"}",
                      SVC_EINVAL, "on_error");
}


TEST(test_call_unknown_field_rejected)
{
    Call *c = NULL;
    CallError err;

    EXPECT_CALL_ERROR(CALL_MAP, "{\"func\":\"fib\",\"iterable\":[1],\"chunk_size\":2}", SVC_EINVAL,
                      "");
    EXPECT_CALL_ERROR(CALL_APPLY, "{\"func\":\"pow\",\"args\":[1,2],\"chunksize\":2}", SVC_EINVAL,
                      "");
    EXPECT_CALL_ERROR(CALL_APPLY, "{\"func\":\"pow\",\"on_error\":\"raise\"}", SVC_EINVAL, "");
    EXPECT_CALL_ERROR(CALL_MAP, "{\"func\":\"fib\",\"iterable\":[1],\"args\":[]}", SVC_EINVAL, "");
    EXPECT_CALL_ERROR(CALL_STARMAP, "{\"func\":\"pow\",\"iterable\":[],\"kwds\":{}}", SVC_EINVAL,
                      "");
    CHECK_INT(call_test_parse("{\"func\":\"fib\",\"iterable\":[1],\"chunk_size\":2}", CALL_MAP, &c,
                              &err),
              SVC_EINVAL);
    CHECK(strstr(err.detail, "chunk_size") != NULL);
}


TEST(test_call_unknown_field_is_quoted_cut_at_a_character)
{
    /* 'a' and 40 two-byte characters: the detail quotes 64 bytes at most,
     * and a cut inside a character would make it text jansson refuses,
     * so that the 400 became a 500. */
    char body[200] = "{\"func\":\"pow\",\"a", *p = body + strlen(body);
    Call *c = NULL;
    CallError err;

    for (int i = 0; i < 40; i++, p += 2)
        memcpy(p, "\xc3\xa9", 2);
    strcpy(p, "\":1}");
    CHECK_INT(call_test_parse(body, CALL_APPLY, &c, &err), SVC_EINVAL);
    CHECK(strstr(err.detail, "unknown field 'a\xc3\xa9") != NULL);
    json_t *s = json_string(err.detail);
    CHECK(s != NULL); /* valid UTF-8 */
    CHECK(strlen(err.detail) == strlen("unknown field 'a'") + 62);
    json_decref(s);
}


TEST(test_call_starmap_item_not_array_rejected)
{
    Call *c = NULL;
    CallError err;

    EXPECT_CALL_ERROR(CALL_STARMAP, "{\"func\":\"pow\",\"iterable\":[[1,2],3]}", SVC_EINVAL,
                      "iterable");
    EXPECT_CALL_ERROR(CALL_STARMAP, "{\"func\":\"pow\",\"iterable\":[{\"base\":1}]}", SVC_EINVAL,
                      "iterable");
    CHECK_INT(call_test_parse("{\"func\":\"pow\",\"iterable\":[[1,2],3]}", CALL_STARMAP, &c, &err),
              SVC_EINVAL);
    CHECK(strstr(err.detail, "item 1") != NULL);
}


TEST(test_call_body_not_object_rejected)
{
    EXPECT_CALL_ERROR(CALL_APPLY, "[\"pow\",[2,3]]", SVC_EINVAL, "");
    EXPECT_CALL_ERROR(CALL_MAP, "\"fib\"", SVC_EINVAL, "");
    EXPECT_CALL_ERROR(CALL_STARMAP, "null", SVC_EINVAL, "");
    EXPECT_CALL_ERROR(CALL_APPLY, "42", SVC_EINVAL, "");
}


TEST(test_call_free_null_is_noop)
{
    call_free(NULL);
    CHECK(1); /* reaching here without a crash is the behaviour */
}


TEST(test_call_timeout_and_retries)
{
    CallLimits lim = {.processes = 2, .max_items = 100, .timeout = 3, .max_timeout = 10};
    json_t *j;
    Call *c = NULL;
    CallError err;

    CHECK_INT(call_test_parse("{\"func\":\"echo\"}", CALL_APPLY, &c, &err), SVC_OK);
    CHECK(c->timeout == 0); /* no --task-timeout: none */
    CHECK_INT(c->retries, 0);
    call_free(c);
    CHECK_INT(call_test_parse("{\"func\":\"echo\",\"timeout\":2.5,\"retries\":3}", CALL_APPLY, &c, &err),
              SVC_OK);
    CHECK(c->timeout == 2.5);
    CHECK_INT(c->retries, 3);
    call_free(c);
    CHECK_INT(call_test_parse("{\"func\":\"echo\",\"iterable\":[1],\"timeout\":1}", CALL_MAP, &c, &err),
              SVC_OK);
    CHECK(c->timeout == 1);
    call_free(c);
    /* The server's default, and its cap. */
    j = json_pack("{s:s}", "func", "echo");
    CHECK_INT(call_parse(j, CALL_APPLY, call_test_reg, &lim, &c, &err), SVC_OK);
    CHECK(c->timeout == 3);
    call_free(c);
    json_object_set_new(j, "timeout", json_integer(11));
    CHECK_INT(call_parse(j, CALL_APPLY, call_test_reg, &lim, &c, &err), SVC_EINVAL);
    CHECK_STR(err.field, "timeout");
    CHECK(strstr(err.detail, "--max-task-timeout") != NULL);
    json_decref(j);
    EXPECT_CALL_ERROR(CALL_APPLY, "{\"func\":\"echo\",\"timeout\":0}", SVC_EINVAL, "timeout");
    EXPECT_CALL_ERROR(CALL_APPLY, "{\"func\":\"echo\",\"timeout\":\"5\"}", SVC_EINVAL, "timeout");
    EXPECT_CALL_ERROR(CALL_STARMAP, "{\"func\":\"echo\",\"iterable\":[],\"timeout\":-1}", SVC_EINVAL, "timeout");
    EXPECT_CALL_ERROR(CALL_APPLY, "{\"func\":\"echo\",\"retries\":11}", SVC_EINVAL, "retries");
    EXPECT_CALL_ERROR(CALL_APPLY, "{\"func\":\"echo\",\"retries\":true}", SVC_EINVAL, "retries");
}

/* Parses body as an imap (lines: its items come as NDJSON lines). */
static int
call_test_stream(const char *body, int lines, Call **out, CallError *err)
{
    CallLimits lim = call_test_lim;
    json_t *j = json_loads(body, 0, NULL);
    int rc;

    CHECK(j != NULL);
    lim.stream = 1;
    lim.lines = lines;
    memset(err, 0, sizeof(*err));
    *out = NULL;
    rc = call_parse(j, CALL_MAP, call_test_reg, &lim, out, err);
    json_decref(j);
    return rc;
}


TEST(test_call_imap_defaults_chunksize_1_and_a_window_of_chunks)
{
    Call *c;
    CallError err;

    CHECK_INT(call_test_stream("{\"func\":\"echo\",\"iterable\":[1,2,3,4,5,6,7,8,9]}", 0, &c, &err), SVC_OK);
    CHECK_INT(c->chunksize, 1); /* map's default would be 2 here */
    CHECK_INT(c->buffersize, 64);
    call_free(c);
    CHECK_INT(call_test_stream("{\"func\":\"echo\",\"iterable\":[1],\"chunksize\":4,\"buffersize\":3}", 0, &c,
                               &err), SVC_OK);
    CHECK_INT(c->chunksize, 4);
    CHECK_INT(c->buffersize, 3);
    call_free(c);
    CHECK_INT(call_default_buffersize(16), 128);
}


TEST(test_call_imap_refuses_bad_buffersize_and_on_error)
{
    Call *c;
    CallError err;
    const char *bad[] = {"0", "-1", "1.5", "\"4\"", "10001"};
    char body[128];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(body, sizeof(body), "{\"func\":\"echo\",\"iterable\":[1],\"buffersize\":%s}", bad[i]);
        CHECK_INT(call_test_stream(body, 0, &c, &err), SVC_EINVAL);
        CHECK_STR(err.field, "buffersize");
        CHECK(c == NULL);
    }
    /* A stream goes on after a failed item: there is nothing to choose. */
    CHECK_INT(call_test_stream("{\"func\":\"echo\",\"iterable\":[1],\"on_error\":\"collect\"}", 0, &c, &err),
              SVC_EINVAL);
    /* buffersize is imap's alone. */
    EXPECT_CALL_ERROR(CALL_MAP, "{\"func\":\"echo\",\"iterable\":[1],\"buffersize\":2}", SVC_EINVAL, "");
}


TEST(test_call_imap_lines_carry_no_iterable)
{
    Call *c;
    CallError err;

    CHECK_INT(call_test_stream("{\"func\":\"echo\",\"chunksize\":8}", 1, &c, &err), SVC_OK);
    CHECK_INT(call_items(c), 0);
    CHECK_INT(c->chunksize, 8);
    call_free(c);
    CHECK_INT(call_test_stream("{\"func\":\"echo\",\"iterable\":[1]}", 1, &c, &err), SVC_EINVAL);
    CHECK_STR(err.field, "iterable");
    CHECK_INT(call_test_stream("{\"func\":\"nope\"}", 1, &c, &err), SVC_ENOFUNC);
}


TEST(test_call_map_over_max_items_is_rejected)
{
    json_t *body = json_pack("{s:s, s:[iii]}", "func", "echo", "iterable", 1, 2, 3);
    CallLimits lim = {.processes = 2, .max_items = 2};
    CallError err;
    Call *c = NULL;

    CHECK_INT(call_parse(body, CALL_MAP, call_test_reg, &lim, &c, &err), SVC_EINVAL);
    CHECK_STR(err.field, "iterable");
    CHECK(c == NULL);
    lim.max_items = 3;
    CHECK_INT(call_parse(body, CALL_MAP, call_test_reg, &lim, &c, &err), SVC_OK);
    call_free(c);
    json_decref(body);
}

int
main(int argc, char **argv)
{
    return call_test_main("unit_call", argc, argv);
}
