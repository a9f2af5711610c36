/*
 * wordcount.c: an example poold plugin. Build it with `make` (it becomes
 * build/plugins/example.so) and load it with
 *
 *     poold --plugin build/plugins/example.so
 *
 * then call it like any function:
 *
 *     curl -s localhost:8080/v1/apply -d '{"func":"wordcount","args":["a b  c"]}'
 *     {"result":3}
 */
#include <ctype.h>

#include <poold.h>

/* wordcount(text): the number of whitespace-separated words. */
static json_t *
wordcount(const json_t *args, const json_t *kwds, PooldError *err)
{
    const json_t *text = json_array_get(args, 0);
    const char *s;
    json_int_t n = 0;
    int in_word = 0;

    if (json_array_size(args) != 1 || json_object_size(kwds) != 0 || !json_is_string(text))
        return poold_error(err, "TypeError", "wordcount() takes one string argument");
    for (s = json_string_value(text); *s; s++) {
        if (isspace((unsigned char)*s))
            in_word = 0;
        else if (!in_word++)
            n++;
    }
    return json_integer(n);
}

static int
setup(PooldHost *host)
{
    return host->add(host, "wordcount", "wordcount(text): the number of whitespace-separated words",
                     wordcount);
}

POOLD_PLUGIN(setup)
