/*
 * unit_lines.c: an NDJSON body cut into lines however its pieces come
 * (lines_next); tests/fuzz/fuzz_lines.c tries every cut.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "http/lines.h"

/* The lines of body fed in pieces of `step` bytes, joined with '|'; a
 * line longer than max ends them with "!", a last one without newline
 * with "+" and its bytes. */
static void
lines_test(const char *body, size_t step, size_t max, char *out, size_t outlen)
{
    char *buf = NULL;
    size_t held = 0, cap = 0, n = strlen(body), o = 0;

    out[0] = '\0';
    for (size_t fed = 0; fed < n;) {
        size_t k = n - fed < step ? n - fed : step, off = 0, used, len;
        const char *line;
        int rc = LINES_LINE;
        while (off < k && (rc = lines_next(&buf, &held, &cap, body + fed + off, k - off, max, &used, &line,
                                           &len)) == LINES_LINE) {
            o += (size_t)snprintf(out + o, outlen - o, "%.*s|", (int)len, line);
            off += used;
        }
        if (rc == LINES_TOOLONG) {
            snprintf(out + o, outlen - o, "!");
            free(buf);
            return;
        }
        fed += k;
    }
    if (held)
        snprintf(out + o, outlen - o, "+%.*s", (int)held, buf);
    free(buf);
}

TEST(test_lines_come_out_the_same_however_the_body_is_cut)
{
    char out[256];

    for (size_t step = 1; step <= 40; step++) {
        lines_test("{\"func\":\"echo\"}\n1\n\n22\r\n333", step, 100, out, sizeof(out));
        CHECK_STR(out, "{\"func\":\"echo\"}|1||22\r|+333");
        lines_test("a\nb\n", step, 100, out, sizeof(out));
        CHECK_STR(out, "a|b|");
    }
}

TEST(test_lines_a_line_longer_than_max_is_refused_whole_or_cut)
{
    char out[256];

    for (size_t step = 1; step <= 12; step++) {
        lines_test("abc\nabcd\nx\n", step, 3, out, sizeof(out));
        CHECK_STR(out, "abc|!");
        lines_test("abc\nabcd", step, 3, out, sizeof(out)); /* no newline: still too long */
        CHECK_STR(out, "abc|!");
        lines_test("abc\nabc", step, 3, out, sizeof(out));
        CHECK_STR(out, "abc|+abc");
    }
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
