/*
 * jtext.c: see jtext.h. jansson has no hook for how it writes a real:
 * the text it writes is rewritten, each real token parsed back (strtod
 * gives back the very double "%.17g" wrote) and written again the short
 * way. Only when the text holds a real: found by a scan of the text, no
 * copy, so an answer without one pays next to nothing.
 */
#include "core/jtext.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
jtext_real(double d, char *buf)
{
    char sci[40], digits[24] = {'0'};
    int prec, ndig = 0, exp10, n = 0;
    const char *p, *e;

    /* 15 significant digits read back exactly when any 15 or fewer do
     * (DBL_DIG), and then their trailing zeros are all that is too many;
     * a subnormal, with fewer bits, may need fewer still: each is tried. */
    for (prec = d != 0 && fabs(d) < DBL_MIN ? 0 : 14; prec < 16; prec++) {
        snprintf(sci, sizeof(sci), "%.*e", prec, d);
        if (strtod(sci, NULL) == d)
            break;
    }
    if (prec == 16)
        snprintf(sci, sizeof(sci), "%.*e", prec, d);
    p = sci + (sci[0] == '-');
    if (!(e = strchr(p, 'e'))) /* not finite: JSON has no such number, and callers pass none */
        return snprintf(buf, JTEXT_REAL_MAX, "%s", sci);
    for (const char *c = p; c < e && ndig < (int)sizeof(digits); c++)
        if (*c != '.')
            digits[ndig++] = *c;
    if (ndig == 0) /* "%e" always writes a digit: a guard for the analyzer */
        ndig = 1;
    while (ndig > 1 && digits[ndig - 1] == '0')
        ndig--;
    exp10 = (int)strtol(e + 1, NULL, 10);
    if (sci[0] == '-')
        buf[n++] = '-';
    if (exp10 < -4 || exp10 >= 16) { /* d.ddde+XX */
        buf[n++] = digits[0];
        if (ndig > 1) {
            buf[n++] = '.';
            memcpy(buf + n, digits + 1, (size_t)ndig - 1);
            n += ndig - 1;
        }
        return n + snprintf(buf + n, JTEXT_REAL_MAX - (size_t)n, "e%c%02d", exp10 < 0 ? '-' : '+',
                            exp10 < 0 ? -exp10 : exp10);
    }
    if (exp10 < 0) { /* 0.000ddd */
        n += snprintf(buf + n, JTEXT_REAL_MAX - (size_t)n, "0.%.*s%.*s", -exp10 - 1, "0000", ndig, digits);
        return n;
    }
    for (int i = 0; i <= exp10 || i < ndig; i++) {
        if (i == exp10 + 1)
            buf[n++] = '.';
        buf[n++] = i < ndig ? digits[i] : '0';
    }
    if (ndig <= exp10 + 1) { /* a whole number: ".0" says it is a real */
        buf[n++] = '.';
        buf[n++] = '0';
    }
    buf[n] = '\0';
    return n;
}

/* The next real token of text at or after at, outside strings (its
 * length in *len), or NULL. jansson writes each real with a '.' or an 'e'
 * in it, an integer with neither. */
static const char *
jtext_next_real(const char *at, size_t *len)
{
    while (*at) {
        if (*at == '"') {
            for (at++; *at && *at != '"'; at++)
                if (*at == '\\' && at[1])
                    at++;
            at += *at == '"';
        } else if (*at == '-' || (*at >= '0' && *at <= '9')) {
            size_t n = strspn(at, "-+.0123456789eE");
            if (strcspn(at, ".eE") < n) {
                *len = n;
                return at;
            }
            at += n;
        } else {
            at++;
        }
    }
    return NULL;
}

/* Appends len bytes to *out (*n used of *cap). 0, or -1 out of memory. */
static int
jtext_put(char **out, size_t *n, size_t *cap, const char *s, size_t len)
{
    if (*n + len + 1 > *cap) {
        size_t grown = *cap * 2 > *n + len + 1 ? *cap * 2 : *n + len + 1;
        char *p = realloc(*out, grown);
        if (!p)
            return -1;
        *out = p;
        *cap = grown;
    }
    memcpy(*out + *n, s, len);
    *n += len;
    (*out)[*n] = '\0';
    return 0;
}

/* text (taken) with each real token, the first at real, written again by
 * jtext_real. NULL out of memory. */
static char *
jtext_rewrite(char *text, const char *real, size_t len)
{
    size_t n = 0, cap = strlen(text) + 64;
    char *out = malloc(cap), buf[JTEXT_REAL_MAX];
    const char *at = text;
    int ok = out != NULL;

    for (; ok && real; real = jtext_next_real(at, &len)) {
        ok = jtext_put(&out, &n, &cap, at, (size_t)(real - at)) == 0 &&
             jtext_put(&out, &n, &cap, buf, (size_t)jtext_real(strtod(real, NULL), buf)) == 0;
        at = real + len;
    }
    ok = ok && jtext_put(&out, &n, &cap, at, strlen(at)) == 0;
    free(text);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

char *
jtext_dumps(const json_t *v, size_t flags)
{
    char *text = json_dumps(v, flags);
    const char *real;
    size_t len = 0;

    /* Most answers hold no real: a text with no '.' and no 'e' at all
     * (strcspn is vectorized) holds none, and one whose reals, if any,
     * are all in strings goes back as it is, after one more pass. */
    if (!text || !text[strcspn(text, ".eE")] || !(real = jtext_next_real(text, &len)))
        return text;
    return jtext_rewrite(text, real, len);
}
