/*
 * fuzz_http_parse.c: what a request's path, query values and headers say
 * (server/http/http_parse.c): the percent-decoding of the path and each query
 * value, the route a path matches, ?timeout= and ?limit= and ?cursor=,
 * Prefer, Idempotency-Key, Authorization, an NDJSON Content-Type, and a
 * header line's say in the request's framing.
 *
 * The input, up to its first NUL, is each of those in turn, as the C
 * string MHD would hand on. Each reader must stay inside it, and say what
 * a reader written from the rules in http_parse.h says: the decoding
 * what a plain decoder makes of it, a route one whose pattern, its "{id}"
 * put back, is the path, a number one the text spells.
 */
#include <ctype.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "http/http_parse.h"

/* Never called: routes are matched here, not run. */
static void
fuzz_handler(HttpReq *r)
{
    (void)r;
}

/* The routes' shapes (handlers/routes.c): literal paths, a "{id}" in the
 * middle or at the end, one path under two methods. */
static const Route fuzz_routes[] = {
    {"POST", "/v1/apply", fuzz_handler, HTTP_BODY_JSON, NULL, 0},
    {"GET", "/v1/jobs", fuzz_handler, HTTP_BODY_ANY, NULL, 0},
    {"GET", "/v1/jobs/{id}", fuzz_handler, HTTP_BODY_ANY, NULL, 0},
    {"DELETE", "/v1/jobs/{id}", fuzz_handler, HTTP_BODY_ANY, NULL, 0},
    {"GET", "/v1/jobs/{id}/result", fuzz_handler, HTTP_BODY_ANY, NULL, 0},
    {"POST", "/v1/jobs/{id}/callback", fuzz_handler, HTTP_BODY_ANY, NULL, 0},
    {"GET", "/healthz", fuzz_handler, HTTP_BODY_ANY, NULL, 1},
    {NULL, NULL, NULL, 0, NULL, 0},
};

static int
fuzz_hex(int c)
{
    return isdigit(c) ? c - '0' : isxdigit(c) ? tolower(c) - 'a' + 10 : -1;
}

static void
fuzz_unescape(const char *in)
{
    size_t n = strlen(in), len;
    char *got = strdup(in), *want = malloc(n + 1), *w = want;

    FUZZ_CHECK(got && want);
    for (size_t i = 0; i < n;) {
        int hi = in[i] == '%' ? fuzz_hex((unsigned char)in[i + 1]) : -1;
        int lo = hi >= 0 ? fuzz_hex((unsigned char)in[i + 2]) : -1;
        if (hi >= 0 && lo >= 0 && hi * 16 + lo != 0) {
            *w++ = (char)(hi * 16 + lo);
            i += 3;
        } else {
            *w++ = in[i++];
        }
    }
    *w = '\0';
    len = http_parse_unescape(got);
    FUZZ_CHECK(len == (size_t)(w - want) && len <= n);
    FUZZ_CHECK(memcmp(got, want, len + 1) == 0);
    FUZZ_CHECK(strlen(got) == len); /* no NUL made: "%00" stays */
    free(got);
    free(want);
}

/* The route's pattern with param in place of its "{id}" is path. */
static int
fuzz_route_fits(const Route *rt, const char *path, const char *param)
{
    const char *id = strstr(rt->pattern, "{id}");
    size_t pre = id ? (size_t)(id - rt->pattern) : strlen(rt->pattern), plen = strlen(param);

    if (!id)
        return strcmp(rt->pattern, path) == 0;
    return plen > 0 && plen < HTTP_PARAM_MAX && !strchr(param, '/') && strncmp(path, rt->pattern, pre) == 0 &&
           strncmp(path + pre, param, plen) == 0 && strcmp(path + pre + plen, id + 4) == 0;
}

static void
fuzz_route(const char *path)
{
    static const char *const methods[] = {"GET", "HEAD", "POST", "DELETE", "BREW"};

    for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
        const char *asked = strcmp(methods[m], "HEAD") == 0 ? "GET" : methods[m];
        char param[HTTP_PARAM_MAX] = "", allow[64];
        const Route *rt = http_parse_route(fuzz_routes, methods[m], path, param, allow, sizeof(allow));
        int matched = 0;

        if (rt) {
            FUZZ_CHECK(strcmp(rt->method, asked) == 0);
            FUZZ_CHECK(fuzz_route_fits(rt, path, param));
            continue;
        }
        /* Refused: no route of this path has the method asked, and allow
         * names the methods of those that have the path. */
        FUZZ_CHECK(strlen(allow) < sizeof(allow));
        for (const Route *r = fuzz_routes; r->method; r++) {
            const Route one[2] = {*r, {NULL, NULL, NULL, 0, NULL, 0}};
            char p[HTTP_PARAM_MAX] = "", a[64];
            if (http_parse_route(one, r->method, path, p, a, sizeof(a)) != one)
                continue;
            matched = 1;
            FUZZ_CHECK(strcmp(r->method, asked) != 0);
            FUZZ_CHECK(strstr(allow, r->method) != NULL);
        }
        FUZZ_CHECK(matched || allow[0] == '\0');
    }
}

/* 1 when text is digits only, at most max of them. */
static int
fuzz_digits(const char *text, size_t max)
{
    size_t n = strspn(text, "0123456789");

    return n > 0 && n <= max && text[n] == '\0';
}

/* The value of a text of digits only, counted digit by digit (a reader
 * apart from strtod's and strtol's). */
static long long
fuzz_value(const char *digits)
{
    long long v = 0;

    for (; *digits; digits++)
        v = v * 10 + (*digits - '0');
    return v;
}

static void
fuzz_numbers(const char *text)
{
    double secs = -2;
    long v = -2;
    int ok = http_parse_seconds(text, 300, &secs);

    FUZZ_CHECK(ok == 0 || ok == -1);
    if (ok == 0)
        FUZZ_CHECK(isfinite(secs) && secs >= 0 && secs <= 300 && isdigit((unsigned char)text[0]) &&
                   !strpbrk(text, "xXpP \t"));
    if (fuzz_digits(text, 15)) /* a plain count of seconds is always taken, as it reads */
        FUZZ_CHECK(ok == 0 && secs == (fuzz_value(text) > 300 ? 300 : (double)fuzz_value(text)));

    ok = http_parse_int(text, 1, 1000, &v);
    FUZZ_CHECK(ok == 0 || ok == -1);
    if (ok == 0)
        FUZZ_CHECK(v >= 1 && v <= 1000 && fuzz_digits(text, (size_t)-1));
    if (fuzz_digits(text, 18))
        FUZZ_CHECK((ok == 0) == (fuzz_value(text) >= 1 && fuzz_value(text) <= 1000) &&
                   (ok < 0 || v == fuzz_value(text)));
    else
        FUZZ_CHECK(ok < 0 || text[0] == '0'); /* only leading zeros make a long one fit */

    FUZZ_CHECK(http_parse_cursor(text) == fuzz_digits(text, 19));
    FUZZ_CHECK(http_parse_idempotency_key(text) == (text[0] && strlen(text) <= HTTP_KEY_MAX));
}

static void
fuzz_headers(const char *text)
{
    int async = -1;
    double wait = -2;
    int any = http_parse_prefer(text, 300, &async, &wait);
    const char *key;

    FUZZ_CHECK(async == 0 || async == 1);
    FUZZ_CHECK(wait == -1 || (isfinite(wait) && wait >= 0 && wait <= 300));
    FUZZ_CHECK(any == (async || wait >= 0));
    FUZZ_CHECK(!async || strstr(text, "respond-async"));
    FUZZ_CHECK(wait < 0 || strstr(text, "wait="));
    FUZZ_CHECK(http_parse_prefer(NULL, 300, &async, &wait) == 0 && !async && wait == -1);

    key = http_parse_bearer(text);
    FUZZ_CHECK(!key == (strncasecmp(text, "Bearer ", 7) != 0));
    if (key)
        FUZZ_CHECK(key >= text + 7 && key <= text + strlen(text) && *key != ' ' &&
                   strspn(text + 7, " ") == (size_t)(key - text - 7));

    if (http_parse_ndjson(text))
        FUZZ_CHECK(strncasecmp(text, "application/x-ndjson", 20) == 0 && strchr("; ", text[20]));
    else
        FUZZ_CHECK(strncasecmp(text, "application/x-ndjson", 20) != 0 || !strchr("; ", text[20]));
}

/* The input as a header line, split at its first ':' as MHD splits it:
 * the framing is ambiguous when the name is no token, or is
 * Content-Length with a value other than digits; and once the line comes
 * twice, when it is Content-Length or Transfer-Encoding. */
static void
fuzz_framing(const char *text)
{
    static const char tchars[] = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    char *name = strdup(text), *colon;
    HttpFraming f = {0};
    int ok, framing;

    FUZZ_CHECK(name != NULL);
    if ((colon = strchr(name, ':')))
        *colon = '\0';
    const char *value = colon ? colon + 1 : "";
    framing = strcasecmp(name, "Content-Length") == 0 || strcasecmp(name, "Transfer-Encoding") == 0;
    ok = name[0] && strspn(name, tchars) == strlen(name) &&
         (strcasecmp(name, "Content-Length") != 0 || fuzz_digits(value, (size_t)-1));
    http_parse_framing_add(&f, name, value);
    FUZZ_CHECK((http_parse_framing(&f) == NULL) == ok);
    http_parse_framing_add(&f, name, value);
    FUZZ_CHECK((http_parse_framing(&f) == NULL) == (ok && !framing));
    free(name);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);

    FUZZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    fuzz_unescape(text);
    fuzz_route(text);
    fuzz_numbers(text);
    fuzz_headers(text);
    fuzz_framing(text);
    /* A path or a value as the handlers see it: decoded first. */
    http_parse_unescape(text);
    fuzz_route(text);
    fuzz_numbers(text);
    free(text);
    return 0;
}
