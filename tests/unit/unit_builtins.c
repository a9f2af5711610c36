/*
 * unit_builtins.c: the built-in functions (pow, fib, sum, sha256, echo,
 * sleep, calc), each applied as a worker applies it (builtins_test.h):
 * their values, exact where Python's are, and the errors they raise, by
 * type. How a worker runs whole tasks (map and starmap chunks, an apply's
 * own body, frames) is unit_builtins_tasks.c's.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "builtins_test.h"
#include "harness.h"


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
    return builtins_test_main(argc, argv, "unit_builtins");
}
