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

/* 1 to run the test: named on the command line, or no test is. -1 when
 * it is named after a '-', to skip (the contract run leaves out what its
 * proxy cannot carry); 0 when others were named. */
static int
harness_wanted(const char *name, int argc, char **argv)
{
    int chosen = 0, wanted = 0;

    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' && strcmp(argv[i] + 1, name) == 0)
            return -1;
        if (argv[i][0] != '-') {
            chosen = 1;
            wanted |= strcmp(argv[i], name) == 0;
        }
    }
    return !chosen || wanted;
}

int
harness_run(int argc, char **argv)
{
    int passed = 0, failed = 0;

    for (int i = 0; i < harness_count; i++) {
        int st = 0, wanted = harness_wanted(harness_tests[i].name, argc, argv);
        pid_t pid;

        if (wanted < 0)
            printf("skip %s\n", harness_tests[i].name);
        if (wanted <= 0)
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
