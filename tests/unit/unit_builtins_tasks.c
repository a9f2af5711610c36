/*
 * unit_builtins_tasks.c: tasks as a worker runs them (builtins_test.h):
 * map and starmap chunks (one outcome per item, the failures counted and
 * the first named), bare values when nothing failed, an apply's own body
 * run as the frame call.c would build (every accepted body both ways,
 * compared), frames that name their function by id, and errors that carry
 * no HTTP status.
 */
#include <stdlib.h>
#include <string.h>

#include "builtins_test.h"
#include "calls/call.h"
#include "harness.h"
#include "worker/wire.h"
#include "worker/worker.h"


TEST(test_builtins_map_counts_fails_and_first)
{
    uint32_t fails;
    uint64_t first;
    json_t *outs, *one = json_integer(1), *two = json_integer(2);

    outs = builtins_test_run(__FILE__, __LINE__, "[\"fib\",[1,-1,3],null]", WIRE_MODE_MAP, 3,
                             &fails, &first);
    builtins_test_value(__FILE__, __LINE__, "fib(1)", json_array_get(outs, 0), one);
    builtins_test_failure(__FILE__, __LINE__, "fib(-1)", json_array_get(outs, 1), "ValueError");
    builtins_test_value(__FILE__, __LINE__, "fib(3)", json_array_get(outs, 2), two);
    CHECK_INT(fails, 1);
    CHECK_INT(first, 1);
    json_decref(outs);

    outs = builtins_test_run(__FILE__, __LINE__, "[\"fib\",[2,93,-1,\"x\",1],null]",
                             WIRE_MODE_MAP, 5, &fails, &first);
    builtins_test_value(__FILE__, __LINE__, "fib(2)", json_array_get(outs, 0), one);
    builtins_test_failure(__FILE__, __LINE__, "fib(93)", json_array_get(outs, 1), "OverflowError");
    builtins_test_failure(__FILE__, __LINE__, "fib(-1)", json_array_get(outs, 2), "ValueError");
    builtins_test_failure(__FILE__, __LINE__, "fib(\"x\")", json_array_get(outs, 3), "TypeError");
    builtins_test_value(__FILE__, __LINE__, "fib(1)", json_array_get(outs, 4), one);
    CHECK_INT(fails, 3);
    CHECK_INT(first, 1);
    json_decref(outs);

    outs = builtins_test_run(__FILE__, __LINE__, "[\"fib\",[-5,1],null]", WIRE_MODE_MAP, 2, &fails,
                             &first);
    CHECK_INT(fails, 1);
    CHECK_INT(first, 0);
    json_decref(outs);
    json_decref(one);
    json_decref(two);
}


TEST(test_builtins_map_without_failures)
{
    uint32_t fails;
    uint64_t first;
    json_t *outs, *want = json_loads("[{\"r\":0},{\"r\":1},{\"r\":55}]", 0, NULL);

    outs = builtins_test_run(__FILE__, __LINE__, "[\"fib\",[0,1,10],null]", WIRE_MODE_MAP, 3,
                             &fails, &first);
    CHECK(json_equal(outs, want));
    CHECK_INT(fails, 0);
    CHECK_INT(first, 0);
    json_decref(outs);
    json_decref(want);
    /* An empty chunk answers an empty array. */
    outs = builtins_test_run(__FILE__, __LINE__, "[\"fib\",[],null]", WIRE_MODE_MAP, 0, &fails,
                             &first);
    CHECK_INT(fails, 0);
    json_decref(outs);
}


TEST(test_builtins_map_passes_item_as_one_argument)
{
    uint32_t fails;
    uint64_t first;
    json_t *outs, *want = json_loads("[{\"r\":[1,2]},{\"r\":{\"a\":1}}]", 0, NULL);

    /* map: an array item is one argument, not an argument list. */
    outs = builtins_test_run(__FILE__, __LINE__, "[\"echo\",[[1,2],{\"a\":1}],null]",
                             WIRE_MODE_MAP, 2, &fails, &first);
    CHECK(json_equal(outs, want));
    CHECK_INT(fails, 0);
    json_decref(outs);
    json_decref(want);
}


TEST(test_builtins_starmap_passes_items_as_args)
{
    uint32_t fails;
    uint64_t first;
    json_t *outs, *v8 = json_integer(8), *v9 = json_integer(9), *v6 = json_integer(6);

    outs = builtins_test_run(__FILE__, __LINE__,
                             "[\"pow\",[[2,3],[3,2],[2],[2,3,4],[\"x\",1]],null]",
                             WIRE_MODE_STARMAP, 5, &fails, &first);
    builtins_test_value(__FILE__, __LINE__, "pow(2,3)", json_array_get(outs, 0), v8);
    builtins_test_value(__FILE__, __LINE__, "pow(3,2)", json_array_get(outs, 1), v9);
    builtins_test_failure(__FILE__, __LINE__, "pow(2)", json_array_get(outs, 2), "TypeError");
    builtins_test_failure(__FILE__, __LINE__, "pow(2,3,4)", json_array_get(outs, 3), "TypeError");
    builtins_test_failure(__FILE__, __LINE__, "pow(\"x\",1)", json_array_get(outs, 4), "TypeError");
    CHECK_INT(fails, 3);
    CHECK_INT(first, 2);
    json_decref(outs);

    outs = builtins_test_run(__FILE__, __LINE__, "[\"sum\",[[[1,2,3]],[[1],5]],null]",
                             WIRE_MODE_STARMAP, 2, &fails, &first);
    builtins_test_value(__FILE__, __LINE__, "sum([1,2,3])", json_array_get(outs, 0), v6);
    builtins_test_value(__FILE__, __LINE__, "sum([1],5)", json_array_get(outs, 1), v6);
    CHECK_INT(fails, 0);
    json_decref(outs);
    json_decref(v8);
    json_decref(v9);
    json_decref(v6);
}


TEST(test_builtins_map_keeps_one_outcome_per_item_with_long_errors)
{
    char payload[2048] = "[\"sum\",[[1],[\"";
    size_t off = strlen(payload);
    uint32_t fails;
    uint64_t first;

    for (int i = 0; i < 400; i++) {
        payload[off++] = (char)0xc3;
        payload[off++] = (char)0xa9;
    }
    strcpy(payload + off, "\"],[2]],null]");
    json_t *outs = builtins_test_run(__FILE__, __LINE__, payload, WIRE_MODE_MAP, 3, &fails, &first);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(outs, 0), "r")), 1);
    CHECK_STR(json_string_value(jpath_e(json_array_get(outs, 1))), "TypeError");
    CHECK_INT(json_integer_value(json_object_get(json_array_get(outs, 2), "r")), 2);
    CHECK_INT(fails, 1);
    CHECK_INT(first, 1);
    json_decref(outs);
}


TEST(test_builtins_success_sends_bare_values)
{
    size_t len = 0;
    uint32_t fails = 9;
    uint64_t first = 9;
    char *payload = builtins_test_frame("[\"echo\",[{\"r\":1},[2],\"3\"],null]", WIRE_MODE_MAP);
    char *text = worker_execute(builtins_test_reg, payload, strlen(payload), WIRE_MODE_MAP, NULL, &len,
                                &fails, &first);

    free(payload);
    CHECK(text != NULL);
    CHECK_INT(fails, 0);
    CHECK_STR(text, "[{\"r\":1},[2],\"3\"]"); /* spliceable as it is */
    CHECK_INT(len, strlen(text));
    free(text);
}


/* An apply's own body as its task (WIRE_MODE_APPLY_BODY): the same call as
 * the frame call.c would build, other fields of the body left alone. */
TEST(test_builtins_apply_body_runs_the_call_it_names)
{
    static const struct {
        const char *body, *want;
    } cases[] = {
        {"{\"func\":\"pow\",\"args\":[2],\"kwds\":{\"exp\":10},\"timeout\":5}", "[1024]"},
        {"{\"timeout\":1,\"args\":[3,2],\"func\":\"pow\"}", "[9]"},
        {"{\"func\":\"echo\",\"args\":[[1,{\"a\":\"b\"}]]}", "[[1,{\"a\":\"b\"}]]"},
        {"{\"func\":\"sum\",\"args\":[[1,2,3]],\"kwds\":{}}", "[6]"},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        size_t len = 0;
        uint32_t fails = 9;
        uint64_t first = 9;
        char *text = worker_execute(builtins_test_reg, cases[i].body, strlen(cases[i].body),
                                    WIRE_MODE_APPLY_BODY, NULL, &len, &fails, &first);
        CHECK(text != NULL);
        CHECK_INT(fails, 0);
        CHECK_STR(text ? text : "", cases[i].want);
        free(text);
    }
    /* No args is echo(): a TypeError, as the frame ["echo",[],{}] gives. */
    {
        const char *none = "{\"func\":\"echo\"}";
        uint32_t fails = 9;
        uint64_t first = 9;
        json_t *outs = builtins_test_run(__FILE__, __LINE__, none, WIRE_MODE_APPLY_BODY, 1, &fails, &first);
        CHECK_INT(fails, 1);
        CHECK_STR(json_string_value(jpath_e(json_array_get(outs, 0))), "TypeError");
        json_decref(outs);
    }
    /* A body the worker cannot read is refused as a bad frame would be. */
    const char *bad[] = {"{\"func\":\"nope\"}", "{\"func\":\"echo\",\"args\":{}}", "[\"echo\",[1],null]",
                         "{\"func\":\"echo\",\"func\":\"pow\"}", "{\"func\":\"echo\",\"args\":[1],\"kwds\":null}"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        size_t len = 0;
        uint32_t fails;
        uint64_t first;
        char *text = worker_execute(builtins_test_reg, bad[i], strlen(bad[i]), WIRE_MODE_APPLY_BODY, NULL, &len,
                                    &fails, &first);
        CHECK(text == NULL);
        free(text);
    }
}


/* Every body call_parse accepts runs the same through its frame and as
 * itself: the same text back, the same failures. */
TEST(test_builtins_apply_body_and_its_frame_agree)
{
    static const char *const bodies[] = {
        "{\"func\":\"pow\",\"args\":[2,62]}",
        "{\"func\":\"pow\",\"args\":[2],\"kwds\":{\"exp\":3},\"timeout\":2,\"retries\":1}",
        "{\"func\":\"echo\",\"args\":[9223372036854775807]}",
        "{\"func\":\"echo\",\"args\":[-9223372036854775808]}",
        "{\"func\":\"echo\",\"args\":[1e-400]}",
        "{\"func\":\"echo\",\"args\":[-0.0]}",
        "{\"func\":\"echo\",\"args\":[\"\\u00e9\\ud83d\\ude00 \\\"q\\\" \\\\\"]}",
        "  {\"args\": [ [1, {\"a\": null}] ], \"func\": \"echo\"}  ",
        "{\"func\":\"echo\"}",
        "{\"func\":\"echo\",\"args\":[1,2]}",
        "{\"func\":\"calc\",\"args\":[\"1/0\"]}",
        "{\"func\":\"sum\",\"args\":[[1,2.5]],\"kwds\":{\"start\":10}}",
    };
    CallLimits lim = {.processes = 2, .max_items = 1000};

    for (size_t i = 0; i < ARRAY_LEN(bodies); i++) {
        json_t *j = json_loads(bodies[i], POOLD_BODY_JSON_FLAGS, NULL);
        Call *c = NULL;
        CallError err;
        char *out[2] = {NULL, NULL};
        uint32_t fails[2] = {9, 9}, mode = 0;
        uint64_t first[2] = {9, 9};

        CHECK(j && call_parse(j, CALL_APPLY, builtins_test_reg, &lim, &c, &err) == SVC_OK);
        json_decref(j);
        if (!c)
            continue;
        for (int k = 0; k < 2; k++) {
            size_t len = 0, olen = 0;
            if (k == 1)
                call_keep_body(c, bodies[i], strlen(bodies[i]));
            char *payload = k == 1 ? call_take_body(c, &len, &mode) : call_chunk_payload(c, 0, &len, &mode);
            CHECK_INT(mode, k == 0 ? WIRE_MODE_APPLY : WIRE_MODE_APPLY_BODY);
            out[k] = payload ? worker_execute(builtins_test_reg, payload, len, mode, NULL, &olen, &fails[k], &first[k])
                             : NULL;
            free(payload);
        }
        CHECK(out[0] && out[1]);
        CHECK_STR(out[1] ? out[1] : "", out[0] ? out[0] : "?");
        CHECK_INT(fails[1], fails[0]);
        free(out[0]);
        free(out[1]);
        call_free(c);
    }
}


/* A frame names its function by its registry id, which the HTTP thread
 * resolved: an id no function has, or a name, is not a frame. */
TEST(test_builtins_frame_names_its_function_by_id)
{
    const char *bad[] = {"[\"echo\",[1],{}]", "[-1,[1],{}]", "[4294967296,[1],{}]", "[1.0,[1],{}]", NULL};
    char unknown[32];

    snprintf(unknown, sizeof(unknown), "[%u,[1],{}]", registry_count(builtins_test_reg));
    bad[ARRAY_LEN(bad) - 1] = unknown;
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        size_t len = 0;
        uint32_t fails;
        uint64_t first;
        char *text = worker_execute(builtins_test_reg, bad[i], strlen(bad[i]), WIRE_MODE_APPLY, NULL, &len,
                                    &fails, &first);
        if (text)
            harness_fail(__FILE__, __LINE__, "%s ran: %s", bad[i], text);
    }
    for (unsigned id = 0; id < registry_count(builtins_test_reg); id++)
        CHECK_INT(registry_by_id(builtins_test_reg, id)->id, id);
    CHECK(registry_by_id(builtins_test_reg, registry_count(builtins_test_reg)) == NULL);
    CHECK(registry_by_id(builtins_test_reg, registry_find(builtins_test_reg, "pow")->id) ==
          registry_find(builtins_test_reg, "pow"));
}


/* A worker speaks no HTTP: a function's error says what it is, and a
 * raise (OUTCOME_FUNCTION_ERROR) carries no outcome at all (wire.h). */
TEST(test_builtins_error_carries_no_status)
{
    uint32_t fails;
    uint64_t first;
    json_t *outs = builtins_test_run(__FILE__, __LINE__, "[\"pow\",[2,\"x\"],{}]", WIRE_MODE_APPLY, 1, &fails,
                                     &first);
    json_t *e = json_object_get(json_array_get(outs, 0), "e");

    CHECK_INT(fails, 1);
    CHECK_STR(json_string_value(json_object_get(e, "type")), "TypeError");
    CHECK(json_object_get(e, "status") == NULL);
    CHECK(json_object_get(e, "outcome") == NULL);
    json_decref(outs);
}

int
main(int argc, char **argv)
{
    return builtins_test_main(argc, argv, "unit_builtins_tasks");
}
