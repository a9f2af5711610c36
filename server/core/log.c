/* log.c: see log.h. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <jansson.h>

int log_level = LOG_INFO;
int log_json;

static const char *const log_names[] = {"error", "warn", "info", "debug"};

int
log_level_parse(const char *name)
{
    for (int i = 0; i < (int)(sizeof(log_names) / sizeof(log_names[0])); i++)
        if (strcmp(name, log_names[i]) == 0)
            return i;
    return -1;
}

/* One JSON object: ts, level, msg, src, and each key=value word of the
 * message (job=…, pid=…, worker=…) as a field of its own, a number when it
 * reads as one, so that a log pipeline can filter on them. */
static void
log_write_json(const char *ts, int level, const char *msg, const char *why, const char *file, int line,
               const char *func)
{
    char text[1200], src[160], word[256];
    json_t *o;
    char *out;

    snprintf(text, sizeof(text), "%s%s", msg, why);
    snprintf(src, sizeof(src), "%s:%d %s", file, line, func);
    for (int tries = 0; !(o = json_pack("{s:s, s:s, s:s, s:s}", "ts", ts, "level", log_names[level], "msg", text,
                                        "src", src)); tries++) {
        if (tries) /* out of memory: nothing to write with */
            return;
        for (char *c = text; *c; c++) /* not UTF-8 (a client's URL, say): keep the line, mark the bytes */
            if ((unsigned char)*c >= 0x80)
                *c = '?';
    }
    for (const char *p = msg; *p;) {
        size_t n = strcspn(p, " ");
        const char *eq = memchr(p, '=', n);
        if (eq && eq > p && n < sizeof(word) && strspn(p, "abcdefghijklmnopqrstuvwxyz_") == (size_t)(eq - p) &&
            !json_object_get(o, (memcpy(word, p, (size_t)(eq - p)), word[eq - p] = '\0', word))) {
            char *end;
            memcpy(word, p, n);
            word[n] = '\0';
            word[eq - p] = '\0';
            /* "pid=12:" or "pid=12," ends a clause, not the value. */
            while (n > (size_t)(eq - p) + 1 && strchr(",:;)", word[n - 1]))
                word[--n] = '\0';
            const char *val = word + (eq - p) + 1;
            long long num = strtoll(val, &end, 10);
            double real = *end == '.' ? strtod(val, &end) : 0;
            json_object_set_new(o, word, !*val || *end ? json_string(val)
                                         : strchr(val, '.') ? json_real(real) : json_integer(num));
        }
        p += n;
        p += strspn(p, " ");
    }
    if ((out = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(10)))) {
        fprintf(stderr, "%s\n", out);
        free(out);
    }
    json_decref(o);
}

/*
 * msg as the text log writes it: a byte that is not printable ASCII (a
 * control byte, DEL, or past 0x7f) as \n, \r, \t or \xNN, and a backslash
 * doubled, so that what a client wrote (a URL's %0a, a terminal's escape
 * sequence) can neither forge a line nor reach the terminal; the JSON log
 * escapes the same bytes. msg itself when it needs none (out: 4 bytes a
 * byte of msg, and 1).
 */
static const char *
log_escape(const char *msg, char *out)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)msg;
    char *o = out;

    while (*p >= 0x20 && *p < 0x7f && *p != '\\')
        p++;
    if (!*p)
        return msg;
    for (p = (const unsigned char *)msg; *p; p++) {
        if (*p >= 0x20 && *p < 0x7f && *p != '\\') {
            *o++ = (char)*p;
            continue;
        }
        *o++ = '\\';
        if (*p == '\\' || *p == '\n' || *p == '\r' || *p == '\t') {
            *o++ = *p == '\n' ? 'n' : *p == '\r' ? 'r' : *p == '\t' ? 't' : '\\';
            continue;
        }
        *o++ = 'x';
        *o++ = hex[*p >> 4];
        *o++ = hex[*p & 15];
    }
    *o = '\0';
    return out;
}

void
log_write(int level, const char *file, int line, const char *func, int errnum,
          const char *fmt, ...)
{
    char msg[1024], stamp[32], why[160] = "", escaped[4 * sizeof(msg) + 1];
    struct timeval tv;
    struct tm tm;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    if (errnum) {
        char buf[128];
        /* GNU strerror_r may return a static string instead of filling buf. */
        const char *s = strerror_r(errnum, buf, sizeof(buf));
        snprintf(why, sizeof(why), ": %s", s);
    }
    const char *base = strrchr(file, '/');
    char ts[64];
    snprintf(ts, sizeof(ts), "%.31s.%03dZ", stamp, (int)(tv.tv_usec / 1000) % 1000);
    if (log_json)
        log_write_json(ts, level, msg, why, base ? base + 1 : file, line, func);
    else
        fprintf(stderr, "%s %-5s %s%s (%s:%d %s)\n", ts, log_names[level], log_escape(msg, escaped), why,
                base ? base + 1 : file, line, func);
}
