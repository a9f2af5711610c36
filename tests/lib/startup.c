/* startup.c: see startup.h. */
#include "startup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"
#include "server.h"

/* Runs $POOLD_BIN with the extra arguments; its stderr into out (len
 * bytes at most), its length returned, its wait status in *st. */
static size_t
startup_run(const char *extra, char *out, size_t len, int *st)
{
    const char *bin = getenv("POOLD_BIN") ? getenv("POOLD_BIN") : "build/poold";
    char cmd[2048];
    size_t n;
    FILE *f;

    snprintf(cmd, sizeof(cmd), "%s --port 0 %s 2>&1 >/dev/null", bin, extra);
    CHECK((f = popen(cmd, "r")) != NULL);
    n = fread(out, 1, len - 1, f);
    out[n] = '\0';
    *st = pclose(f);
    /* All of stderr, not its first line: a sanitizer's report follows the
     * message, and says more than "not one line" would. */
    poold_output_check(extra, out);
    return n;
}

void
expect_startup_error(const char *extra, const char *want)
{
    char out[8192];
    int st;
    size_t n = startup_run(extra, out, sizeof(out), &st);

    if (!strstr(out, want) || !n || strchr(out, '\n') != out + n - 1)
        fprintf(stderr, "    %s -> %s", extra, out);
    CHECK(n > 0 && strchr(out, '\n') == out + n - 1); /* one line */
    CHECK(WIFEXITED(st));
    CHECK_INT(WEXITSTATUS(st), 2);
    CHECK(strstr(out, want) != NULL);
}

void
expect_exit(const char *extra, int status, const char *want)
{
    char out[16384];
    int st;

    startup_run(extra, out, sizeof(out), &st);
    if (!strstr(out, want))
        fprintf(stderr, "    %s -> %s", extra, out);
    CHECK(WIFEXITED(st));
    CHECK_INT(WEXITSTATUS(st), status);
    CHECK(strstr(out, want) != NULL);
}
