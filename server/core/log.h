/*
 * log.h: one line per event on stderr, with a timestamp, the level, the
 * source location and key=value fields written by the caller.
 *
 * The macros test the level before evaluating their arguments (as Redis's
 * serverLog does), so a debug line costs one comparison when it is off.
 * Thread-safe: each line is a single stdio call, and stdio locks its stream.
 */
#ifndef POOLD_LOG_H
#define POOLD_LOG_H

enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

extern int log_level;
extern int log_json;   /* --log-format json: one JSON object a line */

/* Returns the level for a name ("error", "warn", "info", "debug"), or -1. */
int log_level_parse(const char *name);

void log_write(int level, const char *file, int line, const char *func,
               int errnum, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#define log_msg(level, ...)                                                   \
    do {                                                                      \
        if ((level) <= log_level)                                             \
            log_write((level), __FILE__, __LINE__, __func__, 0, __VA_ARGS__); \
    } while (0)

/* errnum is passed explicitly (captured by the caller right after the
 * failing call), as nginx does, so nothing in between can clobber it. */
#define log_errno(level, errnum, ...)                                         \
    do {                                                                      \
        if ((level) <= log_level)                                             \
            log_write((level), __FILE__, __LINE__, __func__, (errnum),        \
                      __VA_ARGS__);                                           \
    } while (0)

#endif
