/* harness.c: see harness.h. */
#include "harness.h"

#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HARNESS_MAX 256
#define HARNESS_TIMEOUT 120 /* seconds one test may take before it fails */

static struct {
    const char *name;
    HarnessFn fn;
} harness_tests[HARNESS_MAX];
static int harness_count;

void
harness_add(const char *name, HarnessFn fn)
{
    if (harness_count < HARNESS_MAX)
        harness_tests[harness_count++] = (typeof(harness_tests[0])){name, fn};
}

void
harness_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "    %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static int
harness_wanted(const char *name, int argc, char **argv)
{
    if (argc < 2)
        return 1;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}

int
harness_run(int argc, char **argv)
{
    int passed = 0, failed = 0;

    for (int i = 0; i < harness_count; i++) {
        int st = 0;
        pid_t pid;

        if (!harness_wanted(harness_tests[i].name, argc, argv))
            continue;
        fflush(NULL);
        if ((pid = fork()) == 0) {
            alarm(HARNESS_TIMEOUT);
            harness_tests[i].fn();
            fflush(NULL);
            exit(0);
        }
        waitpid(pid, &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            passed++;
            printf("ok   %s\n", harness_tests[i].name);
        } else {
            failed++;
            if (WIFSIGNALED(st))
                printf("FAIL %s (signal %d%s)\n", harness_tests[i].name, WTERMSIG(st),
                       WTERMSIG(st) == SIGALRM ? ": timed out" : "");
            else
                printf("FAIL %s\n", harness_tests[i].name);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
