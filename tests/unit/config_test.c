/* config_test.c: see config_test.h. */
#include "config_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

const char *const config_test_envs[] = {
    "POOLD_HOST", "POOLD_PORT", "POOLD_PROCESSES", "POOLD_MAX_BODY", "POOLD_MAX_QUEUE",
    "POOLD_MAX_CONNECTIONS", "POOLD_HTTP_THREADS", "POOLD_STORE", "POOLD_LOG_LEVEL",
};
const size_t config_test_nenvs = sizeof(config_test_envs) / sizeof(config_test_envs[0]);

static int
config_test_argc(char **argv)
{
    int n = 0;

    while (argv[n])
        n++;
    return n;
}

/* Runs config_parse on argv; whatever it prints goes into *printed (caller
 * frees) when printed is not NULL. */
int
config_test_parse(Config *c, char **argv, char *err, size_t errlen, char **printed)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buf, &size);
    int rc;

    CHECK(out != NULL);
    err[0] = '\0';
    rc = config_parse(c, config_test_argc(argv), argv, out, err, errlen);
    fclose(out);
    if (printed)
        *printed = buf;
    else
        free(buf);
    return rc;
}

void
config_test_rejected(const char *file, int line, const char *want, char **argv)
{
    Config c;
    char err[256];
    int rc = config_test_parse(&c, argv, err, sizeof(err), NULL);

    if (rc != SVC_EINVAL)
        harness_fail(file, line, "config_parse returned %d, expected SVC_EINVAL", rc);
    if (err[0] == '\0' || strchr(err, '\n'))
        harness_fail(file, line, "err \"%s\" is not one non-empty line", err);
    if (want && !strstr(err, want))
        harness_fail(file, line, "err \"%s\" does not mention \"%s\"", err, want);
}
