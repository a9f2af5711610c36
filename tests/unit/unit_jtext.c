/*
 * unit_jtext.c: each real written the shortest way that reads back as the
 * same double, as Python's repr writes it (jtext_real), and JSON text
 * whose reals are written so and whose strings and integers are left as
 * jansson writes them (jtext_dumps).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jtext.h"
#include "harness.h"

static const char *
real_text(double d)
{
    static char buf[JTEXT_REAL_MAX];

    jtext_real(d, buf);
    return buf;
}

TEST(test_jtext_real_writes_what_python_repr_writes)
{
    static const struct {
        double d;
        const char *repr;
    } cases[] = {
        {0.1, "0.1"}, {0.1 + 0.2, "0.30000000000000004"}, {1.0 / 3, "0.3333333333333333"}, {2.5, "2.5"},
        {-2.5, "-2.5"}, {0.0, "0.0"}, {-0.0, "-0.0"}, {100.0, "100.0"}, {1e15, "1000000000000000.0"},
        {1e16, "1e+16"}, {1e22, "1e+22"}, {1e-4, "0.0001"}, {1e-5, "1e-05"}, {1.5e-7, "1.5e-07"},
        {123456789.125, "123456789.125"}, {5e-324, "5e-324"}, {2.2250738585072014e-308, "2.2250738585072014e-308"},
        {1.7976931348623157e308, "1.7976931348623157e+308"}, {9007199254740993.0, "9007199254740992.0"},
        {0.001, "0.001"}, {-1e-7, "-1e-07"}, {1234.5, "1234.5"}, {1e100, "1e+100"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_STR(real_text(cases[i].d), cases[i].repr);
}

/* Any double, from random bits: read back the same, in 24 bytes at most
 * (17 significant digits, a sign, a point and an exponent). */
TEST(test_jtext_real_reads_back_as_the_same_double)
{
    uint64_t x = 0x9e3779b97f4a7c15u;
    int checked = 0;

    for (int i = 0; i < 200000; i++) {
        double d;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        memcpy(&d, &x, sizeof(d));
        if (d != d || d - d != 0) /* NaN, inf: JSON has none */
            continue;
        const char *t = real_text(d);
        if (strtod(t, NULL) != d)
            harness_fail(__FILE__, __LINE__, "%.17g written %s", d, t);
        CHECK(strlen(t) <= 24);
        CHECK(strpbrk(t, ".e") != NULL);
        checked++;
    }
    CHECK(checked > 190000);
}

TEST(test_jtext_dumps_rewrites_reals_and_nothing_else)
{
    static const char text[] =
        "{\"a\\\"1.5\":\"x\\\\\\\"0.10000000000000001 2e5\",\"b\":[0.1,1,-2,1e300,-0.5,[{\"c\":1.5e-7}]],"
        "\"d\":true,\"e\":null,\"f\":12345678901234567}";
    json_t *v = json_loads(text, 0, NULL);
    char *out;

    CHECK(v != NULL);
    out = jtext_dumps(v, JSON_COMPACT);
    CHECK_STR(out, "{\"a\\\"1.5\":\"x\\\\\\\"0.10000000000000001 2e5\",\"b\":[0.1,1,-2,1e+300,-0.5,"
                   "[{\"c\":1.5e-07}]],\"d\":true,\"e\":null,\"f\":12345678901234567}");
    free(out);
    json_decref(v);

    /* Without a real: as jansson writes it. */
    v = json_loads("{\"n\":[1,-2,3],\"s\":\"0.1\"}", 0, NULL);
    out = jtext_dumps(v, JSON_COMPACT);
    CHECK_STR(out, "{\"n\":[1,-2,3],\"s\":\"0.1\"}");
    free(out);
    json_decref(v);

    /* A bare real, and jansson's other flags. */
    v = json_real(0.1);
    out = jtext_dumps(v, JSON_ENCODE_ANY);
    CHECK_STR(out, "0.1");
    free(out);
    json_decref(v);
    v = json_pack("{s:[f,f]}", "k", 0.2, 3.0);
    out = jtext_dumps(v, JSON_INDENT(1));
    CHECK_STR(out, "{\n \"k\": [\n  0.2,\n  3.0\n ]\n}");
    free(out);
    json_decref(v);
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
