/*
 * lines.h: an NDJSON body cut into lines as its pieces arrive.
 *
 * Pure, so that a fuzzer can drive it without a connection: http_stream.c
 * feeds it the pieces libmicrohttpd hands on and passes each line to the
 * route. A line may be cut anywhere between two pieces; the part that
 * came first waits in a buffer the caller owns.
 */
#ifndef POOLD_LINES_H
#define POOLD_LINES_H

#include <stddef.h>

#define LINES_MORE 0     /* the piece ended inside a line: it waits in the buffer */
#define LINES_LINE 1     /* a whole line */
#define LINES_TOOLONG (-1) /* the line would be longer than max bytes */
#define LINES_NOMEM (-2)

/*
 * Takes bytes of data[0, n) up to and including the first newline, joined
 * to the partial line held in *buf (*len bytes held, *cap allocated;
 * malloc'd, grown here, the caller frees it). *used says how many bytes
 * of data were taken.
 *
 * LINES_LINE: *line and *line_len are the line without its newline
 * (anything else, a "\r" too, is the caller's), borrowed from data or from
 * *buf until the next call; *len is 0 again. LINES_MORE: all of data was
 * taken and waits in *buf. LINES_TOOLONG (the line would pass max bytes)
 * and LINES_NOMEM take nothing.
 */
int lines_next(char **buf, size_t *len, size_t *cap, const char *data, size_t n, size_t max,
               size_t *used, const char **line, size_t *line_len);

#endif
