/* lines.c: see lines.h. */
#include "http/lines.h"

#include <stdlib.h>
#include <string.h>

int
lines_next(char **buf, size_t *len, size_t *cap, const char *data, size_t n, size_t max,
           size_t *used, const char **line, size_t *line_len)
{
    const char *nl = memchr(data, '\n', n);
    size_t piece = nl ? (size_t)(nl - data) : n;

    *used = 0;
    if (piece > max || *len > max - piece)
        return LINES_TOOLONG;
    if (nl && *len == 0) { /* the common case: whole in one piece, no copy */
        *line = data;
        *line_len = piece;
        *used = piece + 1;
        return LINES_LINE;
    }
    if (*len + piece + 1 > *cap) {
        size_t grown = *cap ? *cap : 1024;
        char *p;
        while (grown < *len + piece + 1)
            grown *= 2;
        if (!(p = realloc(*buf, grown)))
            return LINES_NOMEM;
        *buf = p;
        *cap = grown;
    }
    memcpy(*buf + *len, data, piece);
    *len += piece;
    *used = piece + (nl != NULL);
    if (!nl)
        return LINES_MORE;
    *line = *buf;
    *line_len = *len;
    *len = 0;
    return LINES_LINE;
}
