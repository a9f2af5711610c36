/*
 * lines.h: a client for poold's NDJSON streams (imap, imap_unordered), on
 * a curl handle of its own: it reads the answer a line at a time as the
 * lines come, can hang up after some, and can send its body as NDJSON
 * from a generator, which curl asks for as it uploads. (The test side of
 * a stream; server/http/lines.c is poold's.)
 */
#ifndef POOLD_TEST_LINES_H
#define POOLD_TEST_LINES_H

#include <stddef.h>

#include <curl/curl.h>
#include <jansson.h>

#include "client.h"

typedef struct Lines {
    /* the request */
    const char *path;
    const char *body;        /* a JSON body, or NULL for gen's NDJSON */
    size_t (*gen)(char *buf, size_t max, void *ctx); /* the next line(s); 0 ends */
    void *gen_ctx;
    long hang_up_after;      /* lines read before the client hangs up; 0 never */
    double timeout;          /* seconds; 0 for 120 */
    int keep;                /* keep every line in `lines` */
    int rss_pid;             /* sample this process's RSS as lines come */
    long rss_max;            /* KiB, the most seen */
    /* the answer */
    long status;
    char type[64];
    json_t *lines;           /* the parsed lines, when keep */
    size_t count;            /* lines read */
    json_t *last;            /* the last line */
    double first_at;         /* seconds from the request to the first line */
    long next_index;         /* imap: the index the next line should have */
    int in_order;            /* every "index" was the one expected */
    char *problem;           /* the body, when it was not a stream */
    /* the reader's */
    double began;
    char *partial;
    size_t plen;
} Lines;

/* Runs the request; the answer is in l. Returns curl's code. */
CURLcode lines_post(const Server *s, Lines *l);

/* Frees what lines_post left in l. */
void lines_free(Lines *l);

/* An NDJSON body from a list of lines (the call first), NULL-terminated:
 * .gen = lines_text, .gen_ctx = a LinesText. */
typedef struct LinesText {
    const char *const *lines;
    size_t at;
} LinesText;

size_t lines_text(char *buf, size_t max, void *ctx);

/* A body that goes on past --max-body: head (the call and the items
 * before, each line with its newline), then a line of `overlong` bytes,
 * then "3" lines for ever, up to `limit` bytes in all (a producer that
 * would not stop); sent counts what curl took. .gen = lines_overlong,
 * .gen_ctx = a LinesOverlong. */
typedef struct LinesOverlong {
    const char *head;
    size_t overlong, limit, sent;
} LinesOverlong;

size_t lines_overlong(char *buf, size_t max, void *ctx);

#endif
