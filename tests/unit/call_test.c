/* call_test.c: see call_test.h. */
#include "call_test.h"

#include <stdio.h>
#include <string.h>

#include "harness.h"

const CallLimits call_test_lim = {.processes = 2, .max_items = 10000000};
Registry *call_test_reg;

int
call_test_parse(const char *body, CallOp op, Call **out, CallError *err)
{
    /* JSON_ALLOW_NUL so that call.c's own check of "\u0000" is reached. */
    json_t *j = json_loads(body, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    int rc;

    CHECK(j != NULL);
    memset(err, 0, sizeof(*err));
    rc = call_parse(j, op, call_test_reg, &call_test_lim, out, err);
    json_decref(j); /* the Call keeps its own references */
    return rc;
}

int
call_test_main(const char *name, int argc, char **argv)
{
    int rc;

    if (!(call_test_reg = registry_new()) || builtins_register(call_test_reg) != SVC_OK) {
        fprintf(stderr, "%s: cannot build the registry\n", name);
        return 1;
    }
    rc = harness_run(argc, argv);
    registry_free(call_test_reg);
    return rc;
}
