/*
 * http_parse.c: see http_parse.h. The readers of what a request carries
 * besides its body; http.c and the handlers take each value through one
 * of them, so that whatever a client writes there meets a reader a fuzzer
 * has met too.
 */
#include "http/http_parse.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTTP_PARSE_NDJSON "application/x-ndjson"

static int
http_parse_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t
http_parse_unescape(char *s)
{
    char *out = s;

    for (const char *in = s; *in;) {
        int hi = in[0] == '%' ? http_parse_hex(in[1]) : -1, lo = hi >= 0 ? http_parse_hex(in[2]) : -1;
        if (lo >= 0 && (hi || lo)) {
            *out++ = (char)(hi * 16 + lo);
            in += 3;
        } else {
            *out++ = *in++; /* "%00", a stray '%' and the rest stay as they came */
        }
    }
    *out = '\0';
    return (size_t)(out - s);
}

/* Matches path against pattern; a "{id}" segment captures one path segment
 * into param. */
static int
http_parse_match(const char *pattern, const char *path, char *param)
{
    while (*pattern && *path) {
        if (strncmp(pattern, "{id}", 4) == 0) {
            size_t n = strcspn(path, "/");
            if (n == 0 || n >= HTTP_PARAM_MAX)
                return 0;
            memcpy(param, path, n);
            param[n] = '\0';
            pattern += 4;
            path += n;
        } else if (*pattern++ != *path++) {
            return 0;
        }
    }
    return *pattern == '\0' && *path == '\0';
}

const Route *
http_parse_route(const Route *routes, const char *method, const char *path, char *param, char *allow,
                 size_t allowlen)
{
    allow[0] = '\0';
    if (strcmp(method, "HEAD") == 0)
        method = "GET";
    for (const Route *rt = routes; rt->method; rt++) {
        if (!http_parse_match(rt->pattern, path, param))
            continue;
        if (strcmp(rt->method, method) == 0)
            return rt;
        if (!strstr(allow, rt->method)) {
            size_t used = strlen(allow);
            snprintf(allow + used, allowlen - used, "%s%s", used ? ", " : "", rt->method);
        }
    }
    return NULL;
}

int
http_parse_seconds(const char *text, double max, double *out)
{
    char *end;
    double v;

    /* strtod would also take leading space, a sign, hex and "inf". */
    if (!(*text >= '0' && *text <= '9') || strpbrk(text, "xXpP"))
        return -1;
    errno = 0;
    v = strtod(text, &end);
    if (*end || errno || !isfinite(v) || v < 0)
        return -1;
    *out = v > max ? max : v;
    return 0;
}

int
http_parse_int(const char *text, long lo, long hi, long *out)
{
    char *end;
    long v;

    if (!(*text >= '0' && *text <= '9')) /* strtol would take " 5" and "+5" */
        return -1;
    errno = 0;
    v = strtol(text, &end, 10);
    if (*end || errno || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int
http_parse_cursor(const char *text)
{
    size_t n = strspn(text, "0123456789");

    return n > 0 && n <= 19 && text[n] == '\0';
}

int
http_parse_idempotency_key(const char *text)
{
    size_t n = strnlen(text, HTTP_KEY_MAX + 1);

    return n > 0 && n <= HTTP_KEY_MAX;
}

int
http_parse_prefer(const char *text, double max, int *async, double *wait)
{
    *async = 0;
    *wait = -1;
    for (const char *tok = text; tok && *tok; tok += strcspn(tok, ","), tok += *tok == ',') {
        size_t len;
        tok += strspn(tok, " \t");
        len = strcspn(tok, " \t;,"); /* parameters after ';' do not matter here */
        if (len == 13 && strncmp(tok, "respond-async", 13) == 0) {
            *async = 1;
        } else if (len > 5 && strncmp(tok, "wait=", 5) == 0) {
            char value[32];
            double v;
            if (len - 5 < sizeof(value)) {
                memcpy(value, tok + 5, len - 5);
                value[len - 5] = '\0';
                if (http_parse_seconds(value, max, &v) == 0)
                    *wait = v;
            }
        }
    }
    return *async || *wait >= 0;
}

const char *
http_parse_bearer(const char *text)
{
    if (!text || strncasecmp(text, "Bearer ", 7) != 0)
        return NULL;
    return text + 7 + strspn(text + 7, " ");
}

int
http_parse_ndjson(const char *type)
{
    size_t n = strlen(HTTP_PARSE_NDJSON);

    return type && strncasecmp(type, HTTP_PARSE_NDJSON, n) == 0 &&
           (type[n] == '\0' || type[n] == ';' || type[n] == ' ');
}

/* RFC 9110's tchar: what a field name is made of. */
static int
http_parse_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

void
http_parse_framing_add(HttpFraming *f, const char *name, const char *value)
{
    const char *c = name;

    while (http_parse_tchar((unsigned char)*c))
        c++;
    if (*c || c == name)
        f->bad_name = 1;
    if (strcasecmp(name, "Content-Length") == 0) {
        f->lengths++;
        if (!value || !*value || value[strspn(value, "0123456789")])
            f->bad_length = 1;
    } else if (strcasecmp(name, "Transfer-Encoding") == 0) {
        f->codings++;
    }
}

const char *
http_parse_framing(const HttpFraming *f)
{
    if (f->bad_name)
        return "a header's name is not a token (a space before its colon?): the request's framing is ambiguous";
    if (f->lengths > 1)
        return "more than one Content-Length header: the request's framing is ambiguous";
    if (f->codings > 1)
        return "more than one Transfer-Encoding header: the request's framing is ambiguous";
    if (f->lengths && f->codings)
        return "both Content-Length and Transfer-Encoding: the request's framing is ambiguous";
    if (f->bad_length)
        return "Content-Length is not a number of bytes: the request's framing is ambiguous";
    return NULL;
}
