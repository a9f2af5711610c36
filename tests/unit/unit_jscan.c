/*
 * unit_jscan.c: the item scanner against jansson. Whatever the scanner
 * takes, jansson must take too, as an array of as many items, each slice
 * of the text reading back as jansson's item; the common shapes must be
 * taken (or the fast path would never run); and random texts, mutated
 * byte by byte, never find the two disagreeing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "harness.h"
#include "core/jscan.h"

/* Checks the scanner's verdict on text against jansson's; returns it. */
static int
agree(const char *text, size_t len)
{
    JscanItems items;
    int rc = jscan_array(text, len, 1000000, &items);
    json_t *all;

    if (rc != JSCAN_OK)
        return rc;
    all = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_array(all) || json_array_size(all) != items.n)
        fprintf(stderr, "    taken, but jansson disagrees: %.*s\n", (int)len, text);
    CHECK(json_is_array(all));
    CHECK_INT(json_array_size(all), items.n);
    for (size_t i = 0; i < items.n; i++) {
        size_t end = jscan_item_end(text, &items, i);
        json_t *one = json_loadb(text + items.starts[i], end - items.starts[i], JSON_DECODE_ANY, NULL);
        if (!json_equal(one, json_array_get(all, i)))
            fprintf(stderr, "    item %zu of %.*s reads back as something else\n", i, (int)len, text);
        CHECK(json_equal(one, json_array_get(all, i)));
        json_decref(one);
    }
    json_decref(all);
    free(items.starts);
    return rc;
}

static int
agree_str(const char *text)
{
    return agree(text, strlen(text));
}

TEST(test_jscan_common_items_are_taken_and_read_back_as_jansson_reads_them)
{
    static const char *const taken[] = {
        "[]", "[ ]", "[1]", "[1,2,3]", "[ 1 , 2 ,\n3\t]", "[[2,3],[3,2],[4,0]]", "[-0, 0, 12, -7]",
        "[1.5, -2.25e10, 3E-7, 1e+2, 0.0]", "[\"a\", \"\", \"é ü 😀\", \"tab\\tq\\\"b\\\\s\\/\"]",
        "[\"\\u00e9\\u20ac\"]", "[true, false, null]", "[[[[]]], [[1, [2, [3]]]]]", "[123456789012345678]",
        "[-123456789012345678]", "[\"x\",[\"y\",[1.25,null]]]",
    };
    for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++) {
        if (agree_str(taken[i]) != JSCAN_OK)
            fprintf(stderr, "    not taken: %s\n", taken[i]);
        CHECK_INT(agree_str(taken[i]), JSCAN_OK);
    }
}

TEST(test_jscan_defers_what_jansson_refuses_or_may_read_otherwise)
{
    static const char *const deferred[] = {
        "", "[", "]", "[1,]", "[,1]", "[1 2]", "[01]", "[1.]", "[.5]", "[-]", "[1e]", "[+1]", "[1e400]",
        "[1e100]", "[1234567890123456789]", "[12345678901234567890123]", "[\"\\u0000\"]", "[\"\\ud83d\\ude00\"]",
        "[\"\\ud800\"]", "[\"\\x\"]", "[\"\\u12g4\"]", "[\"a\nb\"]", "[\"\xc3\"]", "[\"\xc0\xaf\"]", "[\"\xed\xa0\x80\"]",
        "[\"\xf4\x90\x80\x80\"]", "[\"\xff\"]", "[\"unclosed]", "[{}]", "[{\"a\":1}]", "[tru]", "[nul]", "[True]",
        "[1] ", "[1]x", "{}", "1", "[NaN]", "[Infinity]",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    };
    for (size_t i = 0; i < sizeof(deferred) / sizeof(deferred[0]); i++) {
        if (agree_str(deferred[i]) != JSCAN_DEFER)
            fprintf(stderr, "    taken: %s\n", deferred[i]);
        CHECK_INT(agree_str(deferred[i]), JSCAN_DEFER);
    }
    /* A NUL byte inside, which strlen would hide. */
    CHECK_INT(agree("[\"a\0b\"]", 7), JSCAN_DEFER);
    /* More items than allowed: the full parse says how many. */
    JscanItems items;
    CHECK_INT(jscan_array("[1,2,3]", 7, 2, &items), JSCAN_DEFER);
    CHECK_INT(jscan_array("[1,2,3]", 7, 3, &items), JSCAN_OK);
    CHECK_INT(items.n, 3);
    free(items.starts);
}

TEST(test_jscan_random_texts_never_find_the_scanner_and_jansson_apart)
{
    static const char *const tokens[] = {"1", "-2", "0", "3.5", "1e5", "-0.25E-3", "\"s\"", "\"é\"", "\"\\n\"",
                                         "\"\\u00e9\"", "true", "false", "null", "[", "]", ",", " ", "\""};
    static const char bytes[] = "[],\"\\ 0123456789.eE+-tfnul\xc3\xa9\xed\xff\n";
    unsigned seed = 20261201;
    size_t taken = 0;

    for (int round = 0; round < 20000; round++) {
        char text[256];
        size_t len = 0;
        text[len++] = '[';
        for (int k = rand_r(&seed) % 12; k > 0 && len < 200; k--) {
            const char *t = tokens[rand_r(&seed) % (sizeof(tokens) / sizeof(tokens[0]))];
            memcpy(text + len, t, strlen(t));
            len += strlen(t);
            if (rand_r(&seed) % 3 == 0)
                text[len++] = ',';
        }
        text[len++] = ']';
        /* Now and then one byte flipped to another that matters here. */
        if (rand_r(&seed) % 2)
            text[rand_r(&seed) % len] = bytes[rand_r(&seed) % (sizeof(bytes) - 1)];
        taken += agree(text, len) == JSCAN_OK; /* agree() checks what it takes */
    }
    CHECK(taken > 500); /* the check saw texts taken, not only deferred */
}

TEST(test_jscan_member_walk_finds_the_top_level_key_only)
{
    size_t s, e;
    const char *t = "{\"func\":\"echo\",\"kwds\":{\"iterable\":[9]},\"x\":\"\\\"iterable\\\":[8]\",\"iterable\" : [1, 2] }";

    CHECK_INT(jscan_member(t, strlen(t), "iterable", &s, &e), JSCAN_OK);
    CHECK(strncmp(t + s, "[1, 2]", e - s) == 0 && e - s == 6);
    /* Absent, twice, escaped, or no object: deferred. */
    const char *no[] = {"{\"func\":\"echo\"}", "{\"iterable\":[1],\"iterable\":[2]}", "{\"iter\\u0061ble\":[1]}",
                        "[1]", "{\"iterable\":[1]", "{\"iterable\":[1]} x", "{\"iterable\" [1]}", "{iterable:[1]}"};
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        CHECK_INT(jscan_member(no[i], strlen(no[i]), "iterable", &s, &e), JSCAN_DEFER);
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
