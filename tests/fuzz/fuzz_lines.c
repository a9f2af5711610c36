/*
 * fuzz_lines.c: an NDJSON request body read a line at a time as its
 * pieces arrive (server/http/lines.c, as http_stream.c drives it), and each
 * line read as imap reads it: the first as the call, the others as items.
 *
 * The first byte picks the longest line allowed (--max-body), the second
 * how the body is cut into pieces. Whatever the cuts, the lines must be
 * those of splitting the whole body at its newlines, up to the first one
 * too long, which must be refused; and a body that ends without a newline
 * leaves its last line whole in the buffer.
 */
#include <string.h>

#include <jansson.h>

#include "calls/call.h"
#include "fuzz.h"
#include "http/lines.h"
#include "functions/registry.h"

static Registry *fuzz_reg;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    json_object_seed(1);
    if (!(fuzz_reg = registry_new()) || builtins_register(fuzz_reg) != SVC_OK)
        abort();
    return 0;
}

/* What the lines of one body came to. */
typedef struct FuzzLines {
    const uint8_t *body;
    size_t len, max;
    size_t next;      /* where the next line the reference expects begins */
    size_t count;     /* lines handed on */
    Call *call;       /* the first line's, once it parsed */
    int refused;      /* the call line was not a call: the rest is dropped */
    /* lines_next's buffer, and how far into body it was fed */
    char *buf;
    size_t held, cap, fed;
} FuzzLines;

/* One line, as http_stream_line and imap_lines take it. */
static void
fuzz_take_line(FuzzLines *f, const char *line, size_t len)
{
    json_t *v;

    f->count++;
    if (len && line[len - 1] == '\r')
        len--;
    if (len == 0 || f->refused || f->count > 64) /* enough to see the item path */
        return;
    if (!f->call) {
        CallLimits lim = {.processes = 2, .max_items = 10000000, .stream = 1, .lines = 1};
        CallError err = {0};
        int rc = SVC_EINVAL;
        if ((v = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL)))
            rc = call_parse(v, CALL_MAP, fuzz_reg, &lim, &f->call, &err);
        FUZZ_CHECK(rc == SVC_OK ? f->call && call_items(f->call) == 0 : !f->call && (!v || err.code == rc));
        f->refused = rc != SVC_OK;
        json_decref(v);
        return;
    }
    json_decref(json_loadb(line, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL));
}

/* The line the reference splits next: [f->next, *end), the newline at
 * *end, or -1 when the body has no newline left. */
static int
fuzz_expect_line(const FuzzLines *f, size_t *end)
{
    const uint8_t *nl = memchr(f->body + f->next, '\n', f->len - f->next);

    if (!nl)
        return -1;
    *end = (size_t)(nl - f->body);
    return 0;
}

static size_t
fuzz_piece_size(unsigned *state)
{
    *state = *state * 1103515245u + 12345u;
    return (*state >> 16) % 2 ? 1 + (*state >> 20) % 5 : 1 + (*state >> 18) % 2048;
}

/* Feeds the n bytes at f->fed to lines_next as one piece, each line it
 * hands back checked against the reference's and taken; its last return. */
static int
fuzz_feed(FuzzLines *f, size_t n)
{
    size_t off = 0, end;
    int rc = LINES_MORE;

    while (off < n) {
        const char *line = NULL;
        size_t line_len = 0, used = 0;
        rc = lines_next(&f->buf, &f->held, &f->cap, (const char *)f->body + f->fed + off, n - off, f->max, &used,
                        &line, &line_len);
        FUZZ_CHECK(used <= n - off);
        off += used;
        if (rc == LINES_MORE) {
            FUZZ_CHECK(off == n && f->held <= f->max);
            break;
        }
        if (rc < 0) {
            FUZZ_CHECK(rc == LINES_TOOLONG && used == 0);
            break;
        }
        FUZZ_CHECK(rc == LINES_LINE);
        /* The reference's next line, byte for byte, and never too long. */
        FUZZ_CHECK(fuzz_expect_line(f, &end) == 0);
        FUZZ_CHECK(line_len == end - f->next && line_len <= f->max && f->held == 0);
        FUZZ_CHECK(memcmp(line, f->body + f->next, line_len) == 0);
        FUZZ_CHECK(f->fed + off == end + 1);
        f->next = end + 1;
        fuzz_take_line(f, line, line_len);
    }
    f->fed += off;
    return rc;
}

/* The body fed, rc the last return: refused where the reference finds the
 * first line too long, or else read whole but for a last line without its
 * newline, held in the buffer and taken as the stream's end takes it. */
static void
fuzz_check_end(FuzzLines *f, int rc)
{
    size_t end;

    if (rc == LINES_TOOLONG) {
        /* Refused at the first line longer than max, newline or not. */
        if (fuzz_expect_line(f, &end) < 0)
            end = f->len;
        FUZZ_CHECK(end - f->next > f->max);
    } else {
        /* All read: what is held is the last line, without its newline. */
        FUZZ_CHECK(fuzz_expect_line(f, &end) < 0);
        FUZZ_CHECK(f->held == f->len - f->next && (f->held == 0 || memcmp(f->buf, f->body + f->next, f->held) == 0));
        if (f->held) /* http_stream_lines_end */
            fuzz_take_line(f, f->buf, f->held);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t max[] = {1, 2, 5, 16, 64, 300, 4096, 64u << 20};
    FuzzLines f = {0};
    unsigned state;
    int rc = LINES_MORE;

    if (size < 2)
        return 0;
    f.max = max[data[0] & 7];
    state = data[1];
    f.body = data + 2;
    f.len = size - 2;
    while (f.fed < f.len && rc >= 0) {
        size_t n = fuzz_piece_size(&state);
        if (n > f.len - f.fed)
            n = f.len - f.fed;
        rc = fuzz_feed(&f, n);
    }
    fuzz_check_end(&f, rc);
    call_free(f.call);
    free(f.buf);
    return 0;
}
