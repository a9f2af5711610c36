/*
 * unit_builtins.c: the built-in functions, driven the way a worker runs
 * them: worker_execute on a task payload [id, items, kwds], then the
 * outcomes array it answers ({"r": value} or {"e": {"type", "message"}}).
 * The tests write a frame with its function's name, for reading's sake;
 * builtins_test_frame puts the id in its place.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calls/call.h"
#include "harness.h"
#include "functions/registry.h"
#include "worker/wire.h"
#include "worker/worker.h"

static Registry *builtins_test_reg; /* built in main, inherited by each test */

/* A frame ["name", items, kwds] as the wire has it: [id, items, kwds]
 * (wire.h). Malloc'd; an apply body (WIRE_MODE_APPLY_BODY) is copied as
 * it is. */
static char *
builtins_test_frame(const char *named, uint32_t mode)
{
    const char *end = named[0] == '[' && named[1] == '"' ? strchr(named + 2, '"') : NULL;
    char name[32], *frame;
    const RegistryFn *fn;

    if (mode == WIRE_MODE_APPLY_BODY || !end || (size_t)(end - named - 2) >= sizeof(name))
        return strdup(named);
    memcpy(name, named + 2, (size_t)(end - named - 2));
    name[end - named - 2] = '\0';
    if (!(fn = registry_find(builtins_test_reg, name)) || !(frame = malloc(strlen(end) + 16)))
        return strdup(named);
    sprintf(frame, "[%u%s", fn->id, end + 1);
    return frame;
}

/* Runs payload in mode and returns its outcomes (a new reference), which
 * must hold nitems entries. */
static json_t *
builtins_test_run(const char *file, int line, const char *payload, uint32_t mode,
                  size_t nitems, uint32_t *fails, uint64_t *first)
{
    size_t len = 0;
    json_t *outs;
    char *frame = builtins_test_frame(payload, mode), *text;

    *fails = UINT32_MAX;
    *first = UINT64_MAX;
    CHECK(frame != NULL);
    text = worker_execute(builtins_test_reg, frame, strlen(frame), mode, NULL, &len, fails, first);
    free(frame);
    if (!text)
        harness_fail(file, line, "%s: worker_execute returned NULL", payload);
    if (len != strlen(text))
        harness_fail(file, line, "%s: len %zu, but the text is %zu bytes", payload, len,
                     strlen(text));
    outs = json_loadb(text, len, 0, NULL);
    if (!json_is_array(outs) || json_array_size(outs) != nitems)
        harness_fail(file, line, "%s: outcomes %s, expected an array of %zu", payload, text,
                     nitems);
    /* wire.h: bare values when nothing failed, outcomes otherwise. Check
     * that, then give the callers outcomes either way. */
    for (size_t i = 0; i < nitems; i++) {
        json_t *o = json_array_get(outs, i);
        int outcome = json_is_object(o) && json_object_size(o) == 1 &&
                      (json_object_get(o, "r") || json_object_get(o, "e"));
        if (*fails > 0 && !outcome)
            harness_fail(file, line, "%s: entry %zu of %s is not an outcome", payload, i, text);
        if (*fails == 0)
            json_array_set_new(outs, i, json_pack("{s:O}", "r", o));
    }
    free(text);
    return outs;
}

/* Checks that outcome is {"r": want}, compared as JSON. */
static void
builtins_test_value(const char *file, int line, const char *what, const json_t *outcome,
                    const json_t *want)
{
    const json_t *r = json_object_get(outcome, "r");
    char *got = json_dumps(outcome, JSON_COMPACT | JSON_ENCODE_ANY);
    char *exp = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);

    if (!r || json_object_size(outcome) != 1 || !json_equal(r, want) ||
        json_typeof(r) != json_typeof(want))
        harness_fail(file, line, "%s: outcome %s, expected {\"r\":%s}", what, got ? got : "?",
                     exp ? exp : "?");
    free(got);
    free(exp);
}

/* The error type of an outcome (borrowed), or NULL. */
static json_t *
jpath_e(json_t *outcome)
{
    return json_object_get(json_object_get(outcome, "e"), "type");
}

/* Checks that outcome is {"e": {"type": type, "message": non-empty}}. */
static void
builtins_test_failure(const char *file, int line, const char *what, const json_t *outcome,
                      const char *type)
{
    const json_t *e = json_object_get(outcome, "e");
    const char *t = json_string_value(json_object_get(e, "type"));
    const char *m = json_string_value(json_object_get(e, "message"));
    char *got = json_dumps(outcome, JSON_COMPACT | JSON_ENCODE_ANY);

    if (json_object_get(outcome, "r") || !t || strcmp(t, type) != 0 || !m || !m[0])
        harness_fail(file, line, "%s: outcome %s, expected a %s with a message", what,
                     got ? got : "?", type);
    free(got);
}

/* Applies payload; its one outcome must be {"r": want}, want as JSON text. */
#define EXPECT_RESULT(payload, want)                                          \
    builtins_test_apply(__FILE__, __LINE__, (payload), (want), NULL)

/* Applies payload; its one outcome must be an error of this type. */
#define EXPECT_ERROR(payload, type)                                           \
    builtins_test_apply(__FILE__, __LINE__, (payload), NULL, (type))

static void
builtins_test_apply(const char *file, int line, const char *payload, const char *want,
                    const char *type)
{
    uint32_t fails;
    uint64_t first;
    json_t *outs = builtins_test_run(file, line, payload, WIRE_MODE_APPLY, 1, &fails, &first);

    if (want) {
        json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
        if (!w)
            harness_fail(file, line, "bad expected JSON %s", want);
        builtins_test_value(file, line, payload, json_array_get(outs, 0), w);
        json_decref(w);
    } else {
        builtins_test_failure(file, line, payload, json_array_get(outs, 0), type);
    }
    if (fails != (want ? 0u : 1u) || first != 0)
        harness_fail(file, line, "%s: fails %u first %llu, expected fails %u first 0", payload,
                     fails, (unsigned long long)first, want ? 0u : 1u);
    json_decref(outs);
}

/* The pow outcome must be the exact integer want. */
#define EXPECT_INTEGER(payload, want)                                         \
    do {                                                                      \
        char want_[32];                                                       \
        snprintf(want_, sizeof(want_), "%lld", (long long)(want));            \
        EXPECT_RESULT((payload), want_);                                      \
    } while (0)

TEST(test_builtins_pow_integers_exact)
{
    EXPECT_INTEGER("[\"pow\",[10,10],{}]", 10000000000LL);
    EXPECT_INTEGER("[\"pow\",[2,62],{}]", 4611686018427387904LL);
    EXPECT_INTEGER("[\"pow\",[-3,3],{}]", -27);
    EXPECT_INTEGER("[\"pow\",[-3,4],{}]", 81);
    EXPECT_INTEGER("[\"pow\",[7,0],{}]", 1);
    EXPECT_INTEGER("[\"pow\",[0,0],{}]", 1);
    EXPECT_INTEGER("[\"pow\",[1,9223372036854775807],{}]", 1);
    EXPECT_INTEGER("[\"pow\",[-1,9223372036854775807],{}]", -1);
    EXPECT_INTEGER("[\"pow\",[3,39],{}]", 4052555153018976267LL); /* 3**39 < 2**63 */
}

TEST(test_builtins_pow_min_int64_exact)
{
    /* (-2)**63 == -9223372036854775808, which is INT64_MIN and fits. */
    EXPECT_RESULT("[\"pow\",[-2,63],{}]", "-9223372036854775808");
    EXPECT_RESULT("[\"pow\",[-9223372036854775808,1],{}]", "-9223372036854775808");
}

TEST(test_builtins_pow_negative_exp_is_real)
{
    EXPECT_RESULT("[\"pow\",[2,-1],{}]", "0.5");
    EXPECT_RESULT("[\"pow\",[4,-2],{}]", "0.0625");
    EXPECT_RESULT("[\"pow\",[2.5,2],{}]", "6.25");
    EXPECT_RESULT("[\"pow\",[4,0.5],{}]", "2.0");
}

TEST(test_builtins_pow_overflow)
{
    EXPECT_ERROR("[\"pow\",[10,100],{}]", "OverflowError");
    EXPECT_ERROR("[\"pow\",[2,63],{}]", "OverflowError");
    EXPECT_ERROR("[\"pow\",[-2,64],{}]", "OverflowError");
    EXPECT_ERROR("[\"pow\",[3,40],{}]", "OverflowError");
    EXPECT_ERROR("[\"pow\",[2.0,10000],{}]", "OverflowError");
}

TEST(test_builtins_pow_zero_negative_exp)
{
    EXPECT_ERROR("[\"pow\",[0,-1],{}]", "ZeroDivisionError");
    EXPECT_ERROR("[\"pow\",[0.0,-2.5],{}]", "ZeroDivisionError");
}

TEST(test_builtins_pow_kwds)
{
    EXPECT_INTEGER("[\"pow\",[],{\"base\":2,\"exp\":10}]", 1024);
    EXPECT_INTEGER("[\"pow\",[2],{\"exp\":10}]", 1024);
    EXPECT_INTEGER("[\"pow\",[2,10],null]", 1024); /* null kwds: none */
}

TEST(test_builtins_pow_wrong_arity)
{
    EXPECT_ERROR("[\"pow\",[2,3,4],{}]", "TypeError");
    EXPECT_ERROR("[\"pow\",[2],{}]", "TypeError");
    EXPECT_ERROR("[\"pow\",[],{}]", "TypeError");
}

TEST(test_builtins_pow_non_number)
{
    EXPECT_ERROR("[\"pow\",[\"x\",1],{}]", "TypeError");
    EXPECT_ERROR("[\"pow\",[2,\"3\"],{}]", "TypeError");
    EXPECT_ERROR("[\"pow\",[null,1],{}]", "TypeError");
    EXPECT_ERROR("[\"pow\",[true,1],{}]", "TypeError");
}

TEST(test_builtins_pow_unexpected_kwd)
{
    EXPECT_ERROR("[\"pow\",[2,3],{\"mod\":5}]", "TypeError");
}

TEST(test_builtins_pow_duplicate_arg)
{
    EXPECT_ERROR("[\"pow\",[2,3],{\"base\":2}]", "TypeError");
    EXPECT_ERROR("[\"pow\",[2],{\"base\":2,\"exp\":3}]", "TypeError");
}

TEST(test_builtins_fib_values)
{
    EXPECT_INTEGER("[\"fib\",[0],{}]", 0);
    EXPECT_INTEGER("[\"fib\",[1],{}]", 1);
    EXPECT_INTEGER("[\"fib\",[2],{}]", 1);
    EXPECT_INTEGER("[\"fib\",[10],{}]", 55);
    EXPECT_INTEGER("[\"fib\",[92],{}]", 7540113804746346429LL);
    EXPECT_INTEGER("[\"fib\",[],{\"n\":20}]", 6765);
}

TEST(test_builtins_fib_93_overflows)
{
    EXPECT_ERROR("[\"fib\",[93],{}]", "OverflowError");
    EXPECT_ERROR("[\"fib\",[9223372036854775807],{}]", "OverflowError");
}

TEST(test_builtins_fib_negative_value_error)
{
    EXPECT_ERROR("[\"fib\",[-1],{}]", "ValueError");
}

TEST(test_builtins_fib_non_integer_type_error)
{
    EXPECT_ERROR("[\"fib\",[1.5],{}]", "TypeError");
    EXPECT_ERROR("[\"fib\",[\"3\"],{}]", "TypeError");
}

TEST(test_builtins_sum_integers)
{
    EXPECT_INTEGER("[\"sum\",[[1,2,3]],{}]", 6);
    EXPECT_INTEGER("[\"sum\",[[]],{}]", 0);
    EXPECT_INTEGER("[\"sum\",[[-5,5,-1]],{}]", -1);
}

TEST(test_builtins_sum_mixed_is_real)
{
    EXPECT_RESULT("[\"sum\",[[1,2.5]],{}]", "3.5");
    EXPECT_RESULT("[\"sum\",[[0.5,1]],{}]", "1.5");
}

TEST(test_builtins_sum_start)
{
    EXPECT_INTEGER("[\"sum\",[[1],10],{}]", 11);
    EXPECT_INTEGER("[\"sum\",[[1,2]],{\"start\":3}]", 6);
    EXPECT_INTEGER("[\"sum\",[],{\"iterable\":[4],\"start\":-4}]", 0);
    EXPECT_RESULT("[\"sum\",[[1],0.5],{}]", "1.5");
    EXPECT_RESULT("[\"sum\",[[],2.0],{}]", "2.0");
}

TEST(test_builtins_sum_non_number_type_error)
{
    EXPECT_ERROR("[\"sum\",[[1,\"2\"]],{}]", "TypeError");
    EXPECT_ERROR("[\"sum\",[[1,null]],{}]", "TypeError");
    EXPECT_ERROR("[\"sum\",[\"123\"],{}]", "TypeError");
    EXPECT_ERROR("[\"sum\",[[1],\"0\"],{}]", "TypeError");
    EXPECT_ERROR("[\"sum\",[],{}]", "TypeError");
}

TEST(test_builtins_sum_overflow)
{
    EXPECT_ERROR("[\"sum\",[[9223372036854775807,1]],{}]", "OverflowError");
    EXPECT_ERROR("[\"sum\",[[-9223372036854775808,-1]],{}]", "OverflowError");
    EXPECT_ERROR("[\"sum\",[[1],9223372036854775807],{}]", "OverflowError");
    EXPECT_INTEGER("[\"sum\",[[9223372036854775807,-1,1]],{}]", 9223372036854775807LL);
}

TEST(test_builtins_sha256_known_digests)
{
    EXPECT_RESULT("[\"sha256\",[\"abc\"],{}]",
                  "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"");
    EXPECT_RESULT("[\"sha256\",[\"\"],{}]",
                  "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"");
    EXPECT_RESULT("[\"sha256\",[\"The quick brown fox jumps over the lazy dog\"],{}]",
                  "\"d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592\"");
    /* The UTF-8 bytes of the string: hashlib.sha256("é".encode()). */
    EXPECT_RESULT("[\"sha256\",[\"\\u00e9\"],{}]",
                  "\"4a99557e4033c3539de2eb65472017cad5f9557f7a0625a09f1c3f6e2ba69c4c\"");
    EXPECT_RESULT("[\"sha256\",[],{\"data\":\"abc\"}]",
                  "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"");
}

TEST(test_builtins_sha256_non_string_type_error)
{
    EXPECT_ERROR("[\"sha256\",[123],{}]", "TypeError");
    EXPECT_ERROR("[\"sha256\",[[\"abc\"]],{}]", "TypeError");
}

TEST(test_builtins_echo_returns_argument)
{
    EXPECT_RESULT("[\"echo\",[{\"a\":[1,2.5,\"x\"],\"b\":null,\"c\":{\"d\":true}}],{}]",
                  "{\"a\":[1,2.5,\"x\"],\"b\":null,\"c\":{\"d\":true}}");
    EXPECT_RESULT("[\"echo\",[null],{}]", "null");
    EXPECT_RESULT("[\"echo\",[],{\"x\":\"by keyword\"}]", "\"by keyword\"");
    EXPECT_ERROR("[\"echo\",[],{}]", "TypeError");
}

TEST(test_builtins_sleep_returns_seconds)
{
    struct timespec t0, t1;
    double took;

    EXPECT_RESULT("[\"sleep\",[0],{}]", "0");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    EXPECT_RESULT("[\"sleep\",[0.05],{}]", "0.05");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CHECK(took >= 0.05);
}

TEST(test_builtins_sleep_negative_value_error)
{
    EXPECT_ERROR("[\"sleep\",[-1],{}]", "ValueError");
    EXPECT_ERROR("[\"sleep\",[2e9],{}]", "ValueError");
}

TEST(test_builtins_sleep_non_number_type_error)
{
    EXPECT_ERROR("[\"sleep\",[\"x\"],{}]", "TypeError");
}

TEST(test_builtins_calc_sleeps_then_pow_10)
{
    struct timespec t0, t1;
    double took;

    /* calc sleeps one second: this is the only call to it. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    EXPECT_INTEGER("[\"calc\",[3],{}]", 59049);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CHECK(took >= 1.0);
}

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

TEST(test_builtins_error_message_cut_mid_character_keeps_its_outcome)
{
    /* A kwds key of 300 "é" makes the TypeError message longer than its
     * buffer, cut inside a two-byte character. The outcome must still be
     * there, and valid JSON: a missing one would shift later results. */
    char payload[1024] = "[\"pow\",[2,3],{\"";
    size_t off = strlen(payload);

    for (int i = 0; i < 300; i++) {
        payload[off++] = (char)0xc3;
        payload[off++] = (char)0xa9;
    }
    strcpy(payload + off, "\":1}]");
    EXPECT_ERROR(payload, "TypeError");
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

TEST(test_builtins_registered_names)
{
    static const char *const names[] = {"pow", "calc", "sleep", "echo", "sum", "fib", "sha256"};

    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        const RegistryFn *fn = registry_find(builtins_test_reg, names[i]);
        CHECK(fn != NULL);
        CHECK_STR(fn->name, names[i]);
        CHECK_STR(fn->source, "builtin");
        CHECK(fn->doc && fn->doc[0]);
    }
    CHECK(registry_find(builtins_test_reg, "nope") == NULL);
}

int
main(int argc, char **argv)
{
    int rc;

    if (!(builtins_test_reg = registry_new()) || builtins_register(builtins_test_reg) != SVC_OK) {
        fprintf(stderr, "unit_builtins: cannot build the registry\n");
        return 1;
    }
    rc = harness_run(argc, argv);
    registry_free(builtins_test_reg);
    return rc;
}
