/* jscan.c: see jscan.h. */
#include "core/jscan.h"

#include <stdlib.h>
#include <string.h>

#define JSCAN_MAX_DEPTH 32  /* arrays within an item; deeper is deferred */
#define JSCAN_MAX_REAL 24   /* characters of a real it vouches for: with an
                             * exponent of two digits, far from overflow */
#define JSCAN_MAX_INT 18    /* digits of an integer: below 2^63 */

typedef struct Scan {
    const unsigned char *base, *p, *end;
} Scan;

static int
is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static void
skip_ws(Scan *s)
{
    while (s->p < s->end && is_ws(*s->p))
        s->p++;
}

static int
hex(unsigned char c)
{
    if (is_digit(c))
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

/* The escape at p (a backslash) that jansson reads as the text says: its
 * length, or 0 to defer (\u0000 and lone surrogates jansson may refuse or
 * read otherwise). */
static size_t
scan_escape(const unsigned char *p, const unsigned char *end)
{
    unsigned cp = 0;

    if (end - p < 2)
        return 0;
    if (p[1] != 'u')
        return p[1] && strchr("\"\\/bfnrt", p[1]) ? 2 : 0;
    if (end - p < 6)
        return 0;
    for (int k = 2; k < 6; k++) {
        int h = hex(p[k]);
        if (h < 0)
            return 0;
        cp = cp << 4 | (unsigned)h;
    }
    return cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF) ? 0 : 6;
}

/* The UTF-8 sequence at p (a byte past ASCII): its length when it is the
 * shortest form of a scalar value, else 0 to defer. */
static size_t
scan_utf8(const unsigned char *p, const unsigned char *end)
{
    unsigned c = *p, cp, min;
    size_t n;

    if ((c & 0xE0) == 0xC0)
        n = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0)
        n = 3, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0)
        n = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t k = 1; k < n; k++) {
        if ((p[k] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (p[k] & 0x3F);
    }
    return cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ? 0 : n;
}

/* A string from its opening quote, checked: UTF-8 in its shortest form,
 * no control character, the simple escapes, and \u escapes of anything
 * but NUL and surrogates (those are jansson's to judge). */
static int
scan_string(Scan *s)
{
    const unsigned char *p = s->p + 1, *end = s->end;

    while (p < end) {
        size_t n = 1;
        if (*p == '"') {
            s->p = p + 1;
            return JSCAN_OK;
        }
        if (*p < 0x20)
            return JSCAN_DEFER;
        if (*p == '\\')
            n = scan_escape(p, end);
        else if (*p >= 0x80)
            n = scan_utf8(p, end);
        if (n == 0)
            return JSCAN_DEFER;
        p += n;
    }
    return JSCAN_DEFER; /* never closed */
}

/* A number, RFC 8259's grammar, small enough that jansson reads it
 * without overflow. */
static int
scan_number(Scan *s)
{
    const unsigned char *p = s->p, *end = s->end, *exp;
    int real = 0;
    size_t digits;

    if (*p == '-')
        p++;
    if (p == end || !is_digit(*p))
        return JSCAN_DEFER;
    if (*p == '0')
        p++;
    else
        while (p < end && is_digit(*p))
            p++;
    digits = (size_t)(p - s->p) - (*s->p == '-');
    if (p < end && *p == '.') {
        real = 1;
        if (++p == end || !is_digit(*p))
            return JSCAN_DEFER;
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        real = 1;
        if (++p < end && (*p == '+' || *p == '-'))
            p++;
        exp = p;
        while (p < end && is_digit(*p))
            p++;
        if (p == exp || p - exp > 2)
            return JSCAN_DEFER;
    }
    if (real ? (size_t)(p - s->p) > JSCAN_MAX_REAL : digits > JSCAN_MAX_INT)
        return JSCAN_DEFER;
    s->p = p;
    return JSCAN_OK;
}

static int
scan_word(Scan *s, const char *word)
{
    size_t n = strlen(word);

    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return JSCAN_DEFER;
    s->p += n;
    return JSCAN_OK;
}

static int scan_array(Scan *s, int depth, JscanItems *top, size_t max_items);

static int
scan_value(Scan *s, int depth)
{
    if (s->p == s->end || depth > JSCAN_MAX_DEPTH)
        return JSCAN_DEFER;
    switch (*s->p) {
    case '[': return scan_array(s, depth, NULL, 0);
    case '"': return scan_string(s);
    case 't': return scan_word(s, "true");
    case 'f': return scan_word(s, "false");
    case 'n': return scan_word(s, "null");
    case '-':
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return scan_number(s);
    default: return JSCAN_DEFER; /* an object, or no JSON at all */
    }
}

/* Notes where the next item of the top array begins. */
static int
note_start(Scan *s, JscanItems *top, size_t *cap)
{
    if (top->n == *cap) {
        size_t grown = *cap ? *cap * 2 : 1024;
        uint32_t *starts = realloc(top->starts, grown * sizeof(*starts));
        if (!starts)
            return JSCAN_NOMEM;
        top->starts = starts;
        *cap = grown;
    }
    top->starts[top->n++] = (uint32_t)(s->p - s->base);
    return JSCAN_OK;
}

/* An array from its "["; top, for the outer one, gets its items. */
static int
scan_array(Scan *s, int depth, JscanItems *top, size_t max_items)
{
    size_t cap = 0;
    int rc = JSCAN_OK;

    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') {
        if (top)
            top->close = (size_t)(s->p - s->base);
        s->p++;
        return JSCAN_OK;
    }
    for (;;) {
        skip_ws(s);
        if (top && (top->n == max_items || (rc = note_start(s, top, &cap)) != JSCAN_OK))
            return top->n == max_items ? JSCAN_DEFER : rc; /* too many: the full parse says how many */
        if ((rc = scan_value(s, depth + 1)) != JSCAN_OK)
            return rc;
        skip_ws(s);
        if (s->p == s->end)
            return JSCAN_DEFER;
        if (*s->p == ']') {
            if (top)
                top->close = (size_t)(s->p - s->base);
            s->p++;
            return JSCAN_OK;
        }
        if (*s->p++ != ',')
            return JSCAN_DEFER;
    }
}

int
jscan_array(const char *text, size_t len, size_t max_items, JscanItems *items)
{
    Scan s = {(const unsigned char *)text, (const unsigned char *)text, (const unsigned char *)text + len};
    int rc;

    memset(items, 0, sizeof(*items));
    if (len >= UINT32_MAX || len == 0 || *text != '[')
        return JSCAN_DEFER;
    rc = scan_array(&s, 0, items, max_items);
    if (rc == JSCAN_OK && s.p != s.end)
        rc = JSCAN_DEFER;
    if (rc != JSCAN_OK) {
        free(items->starts);
        memset(items, 0, sizeof(*items));
    }
    return rc;
}

size_t
jscan_item_end(const char *text, const JscanItems *items, size_t i)
{
    size_t q = i + 1 < items->n ? items->starts[i + 1] : items->close;

    if (i + 1 < items->n)
        while (text[--q] != ',') /* back over the space after the comma */
            ;
    while (q > items->starts[i] && is_ws((unsigned char)text[q - 1]))
        q--;
    return q;
}

/* --- the walk over the top-level object: skips, does not check --- */

/* From an opening quote past its closing one. */
static int
skip_string(Scan *s)
{
    for (const unsigned char *p = s->p + 1; p < s->end; p++) {
        if (*p == '\\') {
            p++;
        } else if (*p == '"') {
            s->p = p + 1;
            return JSCAN_OK;
        }
    }
    return JSCAN_DEFER;
}

static int
skip_value(Scan *s)
{
    const unsigned char *v = s->p;
    int depth = 0;

    if (s->p == s->end)
        return JSCAN_DEFER;
    if (*s->p == '"')
        return skip_string(s);
    if (*s->p != '[' && *s->p != '{') { /* a number or a word */
        while (s->p < s->end && !is_ws(*s->p) && *s->p != ',' && *s->p != '}' && *s->p != ']')
            s->p++;
        return s->p > v ? JSCAN_OK : JSCAN_DEFER;
    }
    while (s->p < s->end) {
        unsigned char c = *s->p;
        if (c == '"') {
            if (skip_string(s) != JSCAN_OK)
                return JSCAN_DEFER;
            continue;
        }
        s->p++;
        if (c == '[' || c == '{')
            depth++;
        else if ((c == ']' || c == '}') && --depth == 0)
            return JSCAN_OK;
    }
    return JSCAN_DEFER;
}

int
jscan_member(const char *text, size_t len, const char *key, size_t *start, size_t *end)
{
    Scan s = {(const unsigned char *)text, (const unsigned char *)text, (const unsigned char *)text + len};
    size_t klen = strlen(key);
    int found = 0;

    skip_ws(&s);
    if (s.p == s.end || *s.p++ != '{')
        return JSCAN_DEFER;
    for (;;) {
        const unsigned char *k, *v;
        size_t kl;
        skip_ws(&s);
        if (s.p == s.end || *s.p != '"')
            return JSCAN_DEFER;
        k = s.p + 1;
        if (skip_string(&s) != JSCAN_OK)
            return JSCAN_DEFER;
        kl = (size_t)(s.p - 1 - k);
        if (memchr(k, '\\', kl)) /* it might spell the key: jansson decides */
            return JSCAN_DEFER;
        skip_ws(&s);
        if (s.p == s.end || *s.p++ != ':')
            return JSCAN_DEFER;
        skip_ws(&s);
        v = s.p;
        if (skip_value(&s) != JSCAN_OK)
            return JSCAN_DEFER;
        if (kl == klen && memcmp(k, key, klen) == 0) {
            if (found++) /* twice: the full parse refuses it */
                return JSCAN_DEFER;
            *start = (size_t)(v - s.base);
            *end = (size_t)(s.p - s.base);
        }
        skip_ws(&s);
        if (s.p == s.end)
            return JSCAN_DEFER;
        if (*s.p == '}')
            break;
        if (*s.p++ != ',')
            return JSCAN_DEFER;
    }
    s.p++;
    skip_ws(&s);
    return found && s.p == s.end ? JSCAN_OK : JSCAN_DEFER;
}
