/*
 * harness.h: a small test runner in the manner of beanstalkd's ct. Each
 * TEST runs in its own forked child, so a crash or a failed CHECK counts as
 * one failure and the rest go on. The run ends with the line
 * "N passed, N failed" alone, and exits non-zero on any failure.
 */
#ifndef POOLD_HARNESS_H
#define POOLD_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*HarnessFn)(void);

void harness_add(const char *name, HarnessFn fn);
/* Runs every test (or those named on the command line, less those named
 * after a '-'); returns the exit status for main. */
int harness_run(int argc, char **argv);
void harness_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

#define TEST(name)                                                            \
    static void name(void);                                                   \
    __attribute__((constructor)) static void name##_register(void)            \
    {                                                                         \
        harness_add(#name, name);                                             \
    }                                                                         \
    static void name(void)

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond))                                                          \
            harness_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);             \
    } while (0)

#define CHECK_INT(a, b)                                                       \
    do {                                                                      \
        long long a_ = (long long)(a), b_ = (long long)(b);                   \
        if (a_ != b_)                                                         \
            harness_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", \
                         #a, a_, #b, b_);                                     \
    } while (0)

#define CHECK_STR(a, b)                                                       \
    do {                                                                      \
        const char *a_ = (a), *b_ = (b);                                      \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                \
            harness_fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", \
                         #a, a_ ? a_ : "(null)", b_ ? b_ : "(null)");          \
    } while (0)

#endif
