/*
 * fuzz_jscan.c: the scanner that slices a map's items from the body's
 * text (server/core/jscan.c), with jansson as the oracle.
 *
 * The first byte picks the function and its bound: jscan_array with a
 * cap on items, or jscan_member with one of the keys call.c looks for.
 * Whatever the scanner takes, jansson must take too, the same way: an
 * array of as many items, each slice of the text reading back as
 * jansson's item; a member at the top level whose slice reads back as
 * jansson's value for the key.
 */
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "core/jscan.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    json_object_seed(1);
    return 0;
}

/* Text [from, to) as one JSON value, or NULL. New reference. */
static json_t *
fuzz_slice(const char *text, size_t from, size_t to)
{
    FUZZ_CHECK(from <= to);
    return json_loadb(text + from, to - from, JSON_DECODE_ANY, NULL);
}

static void
fuzz_array(const char *text, size_t len, size_t max_items)
{
    JscanItems items;
    json_t *all;
    int rc = jscan_array(text, len, max_items, &items);

    FUZZ_CHECK(rc == JSCAN_OK || rc == JSCAN_DEFER || rc == JSCAN_NOMEM);
    if (rc != JSCAN_OK) {
        FUZZ_CHECK(items.starts == NULL && items.n == 0);
        return;
    }
    /* As call_parse_text reads the rest of a body. */
    all = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    FUZZ_CHECK(json_is_array(all));
    FUZZ_CHECK(json_array_size(all) == items.n && items.n <= max_items);
    FUZZ_CHECK(items.close < len && text[items.close] == ']');
    for (size_t i = 0; i < items.n; i++) {
        size_t end = jscan_item_end(text, &items, i);
        json_t *one = fuzz_slice(text, items.starts[i], end);
        FUZZ_CHECK(i == 0 || items.starts[i] > items.starts[i - 1]);
        FUZZ_CHECK(end <= items.close);
        if (!json_equal(one, json_array_get(all, i)))
            fprintf(stderr, "item %zu: [%u, %zu) reads back otherwise\n", i, items.starts[i], end);
        FUZZ_CHECK(json_equal(one, json_array_get(all, i)));
        json_decref(one);
    }
    /* Items 1 to n-1 as one chunk, a slice in brackets (call.c's
     * call_chunk_slice), as a worker reads it. */
    if (items.n > 1) {
        size_t from = items.starts[1], to = jscan_item_end(text, &items, items.n - 1);
        char *chunk = malloc(to - from + 2);
        json_t *got, *want = json_array();
        FUZZ_CHECK(chunk && want);
        chunk[0] = '[';
        memcpy(chunk + 1, text + from, to - from);
        chunk[to - from + 1] = ']';
        got = json_loadb(chunk, to - from + 2, 0, NULL);
        for (size_t i = 1; i < items.n; i++)
            json_array_append(want, json_array_get(all, i));
        FUZZ_CHECK(json_equal(got, want));
        json_decref(got);
        json_decref(want);
        free(chunk);
    }
    json_decref(all);
    free(items.starts);
}

static void
fuzz_member(const char *text, size_t len, const char *key)
{
    size_t start = 0, end = 0;
    int rc = jscan_member(text, len, key, &start, &end);
    json_t *all, *one;

    FUZZ_CHECK(rc == JSCAN_OK || rc == JSCAN_DEFER);
    if (rc != JSCAN_OK)
        return;
    FUZZ_CHECK(start < end && end <= len);
    /* The walk skips values without checking them: only a text jansson
     * takes says what the member is. */
    if (!(all = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL)))
        return;
    FUZZ_CHECK(json_is_object(all) && json_object_get(all, key));
    one = fuzz_slice(text, start, end);
    if (!json_equal(one, json_object_get(all, key)))
        fprintf(stderr, "'%s': [%zu, %zu) reads back otherwise\n", key, start, end);
    FUZZ_CHECK(json_equal(one, json_object_get(all, key)));
    json_decref(one);
    json_decref(all);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t caps[] = {1000000, 0, 1, 2, 3, 10, 100, 4096};
    static const char *const keys[] = {"iterable", "func", "a", ""};
    const char *text = (const char *)data + 1;

    if (size < 1)
        return 0;
    if (data[0] & 1)
        fuzz_member(text, size - 1, keys[(data[0] >> 1) & 3]);
    else
        fuzz_array(text, size - 1, caps[(data[0] >> 1) & 7]);
    return 0;
}
