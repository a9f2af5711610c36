/* log.c: see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

int log_level = LOG_INFO;

static const char *const log_names[] = {"error", "warn", "info", "debug"};

int
log_level_parse(const char *name)
{
    for (int i = 0; i < (int)(sizeof(log_names) / sizeof(log_names[0])); i++)
        if (strcmp(name, log_names[i]) == 0)
            return i;
    return -1;
}

void
log_write(int level, const char *file, int line, const char *func, int errnum,
          const char *fmt, ...)
{
    char msg[1024], stamp[32], why[160] = "";
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
    fprintf(stderr, "%s.%03ldZ %-5s %s%s (%s:%d %s)\n", stamp,
            (long)(tv.tv_usec / 1000), log_names[level], msg, why,
            base ? base + 1 : file, line, func);
}
