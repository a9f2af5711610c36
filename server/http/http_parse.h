/*
 * http_parse.h: what a request's path, query values and headers say,
 * read apart from libmicrohttpd, so that a fuzzer can drive each reader
 * with any bytes (tests/fuzz/fuzz_http_parse.c). Each takes the C string
 * MHD hands on (decoded, NUL-terminated), allocates nothing and keeps
 * nothing; all are safe from any thread.
 */
#ifndef POOLD_HTTP_PARSE_H
#define POOLD_HTTP_PARSE_H

#include <stddef.h>

#include "http/http.h"

/* The longest a path's "{id}" segment may be, its NUL included. */
#define HTTP_PARAM_MAX 128

/* The longest an Idempotency-Key may be. */
#define HTTP_KEY_MAX 255

/*
 * MHD's percent-decoding, in place, except that "%00" stays as it came (a
 * NUL would cut the C string MHD hands on short: "limit=5%00x" read as
 * limit=5), as do a stray '%' and a bad escape. Returns the new length.
 */
size_t http_parse_unescape(char *s);

/*
 * The route for method and path (HEAD is GET's), its "{id}" segment into
 * param (HTTP_PARAM_MAX bytes). When the path exists under other methods
 * only, NULL with their list in allow ("GET, DELETE"), for a 405; NULL
 * with allow "" when no route has the path.
 */
const Route *http_parse_route(const Route *routes, const char *method, const char *path, char *param,
                              char *allow, size_t allowlen);

/*
 * A number of seconds >= 0, in decimal ("1.5", "1e3"; not " 1", "0x10",
 * "inf" or one too small to be told from 0), capped at max: 0 with *out,
 * or -1.
 */
int http_parse_seconds(const char *text, double max, double *out);

/* A decimal integer from lo to hi, digits only: 0 with *out, or -1. */
int http_parse_int(const char *text, long lo, long hi, long *out);

/* 1 when text is a GET /v1/jobs cursor: 1 to 19 digits (no overflow). */
int http_parse_cursor(const char *text);

/* 1 when text may be an Idempotency-Key: 1 to HTTP_KEY_MAX bytes. */
int http_parse_idempotency_key(const char *text);

/*
 * RFC 7240's Prefer, a list of preferences: "respond-async" sets *async;
 * "wait=N" sets *wait, N seconds as http_parse_seconds reads them, capped
 * at max (else *wait is -1). Others, parameters after ';' and a wait that
 * is no number are ignored, as the RFC asks. Returns 1 when either is
 * there. text may be NULL (no header).
 */
int http_parse_prefer(const char *text, double max, int *async, double *wait);

/* "Authorization: Bearer KEY" (the scheme in any case): KEY, its leading
 * spaces skipped, inside text; NULL for another scheme or none. */
const char *http_parse_bearer(const char *text);

/* 1 when a Content-Type is application/x-ndjson, parameters allowed. */
int http_parse_ndjson(const char *type);

/*
 * What a request's header block says of where its body ends, gathered a
 * header at a time (every line, duplicates included, as libmicrohttpd
 * keeps them) and judged once they are all in. libmicrohttpd 0.9.75 reads
 * the first Content-Length or Transfer-Encoding and ignores the rest,
 * where a proxy in front may read another: two requests where poold sees
 * one. RFC 9112 asks for a 400 and a closed connection instead.
 */
typedef struct HttpFraming {
    int lengths;        /* Content-Length headers */
    int codings;        /* Transfer-Encoding headers */
    int bad_name;       /* a field name that is not a token: "Content-Length :"
                         * reaches us as the name "Content-Length " */
    int bad_length;     /* a Content-Length that is not 1*DIGIT */
} HttpFraming;

/* Counts one header line into f. */
void http_parse_framing_add(HttpFraming *f, const char *name, const char *value);

/* NULL when f's framing is unambiguous; else why not, for the 400. */
const char *http_parse_framing(const HttpFraming *f);

#endif
