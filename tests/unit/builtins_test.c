/* builtins_test.c: see builtins_test.h. */
#include "builtins_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "worker/wire.h"
#include "worker/worker.h"

Registry *builtins_test_reg;

char *
builtins_test_frame(const char *named, uint32_t mode)
{
    const char *end = named[0] == '[' && named[1] == '"' ? strchr(named + 2, '"') : NULL;
    char name[32], *frame;
    const RegistryFn *fn;

    if (mode == WIRE_MODE_APPLY_BODY || !end || (size_t)(end - named - 2) >= sizeof(name))
        return strdup(named);
    memcpy(name, named + 2, (size_t)(end - named - 2));
    name[end - named - 2] = '\0';
    if (!(fn = registry_find(builtins_test_reg, name)) || !(frame = malloc(strlen(end) + 16)))
        return strdup(named);
    sprintf(frame, "[%u%s", fn->id, end + 1);
    return frame;
}

json_t *
builtins_test_run(const char *file, int line, const char *payload, uint32_t mode,
                  size_t nitems, uint32_t *fails, uint64_t *first)
{
    size_t len = 0;
    json_t *outs;
    char *frame = builtins_test_frame(payload, mode), *text;

    *fails = UINT32_MAX;
    *first = UINT64_MAX;
    CHECK(frame != NULL);
    text = worker_execute(builtins_test_reg, frame, strlen(frame), mode, NULL, &len, fails, first);
    free(frame);
    if (!text)
        harness_fail(file, line, "%s: worker_execute returned NULL", payload);
    if (len != strlen(text))
        harness_fail(file, line, "%s: len %zu, but the text is %zu bytes", payload, len,
                     strlen(text));
    outs = json_loadb(text, len, 0, NULL);
    if (!json_is_array(outs) || json_array_size(outs) != nitems)
        harness_fail(file, line, "%s: outcomes %s, expected an array of %zu", payload, text,
                     nitems);
    /* wire.h: bare values when nothing failed, outcomes otherwise. Check
     * that, then give the callers outcomes either way. */
    for (size_t i = 0; i < nitems; i++) {
        json_t *o = json_array_get(outs, i);
        int outcome = json_is_object(o) && json_object_size(o) == 1 &&
                      (json_object_get(o, "r") || json_object_get(o, "e"));
        if (*fails > 0 && !outcome)
            harness_fail(file, line, "%s: entry %zu of %s is not an outcome", payload, i, text);
        if (*fails == 0)
            json_array_set_new(outs, i, json_pack("{s:O}", "r", o));
    }
    free(text);
    return outs;
}

void
builtins_test_value(const char *file, int line, const char *what, const json_t *outcome,
                    const json_t *want)
{
    const json_t *r = json_object_get(outcome, "r");
    char *got = json_dumps(outcome, JSON_COMPACT | JSON_ENCODE_ANY);
    char *exp = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);

    if (!r || json_object_size(outcome) != 1 || !json_equal(r, want) ||
        json_typeof(r) != json_typeof(want))
        harness_fail(file, line, "%s: outcome %s, expected {\"r\":%s}", what, got ? got : "?",
                     exp ? exp : "?");
    free(got);
    free(exp);
}

void
builtins_test_failure(const char *file, int line, const char *what, const json_t *outcome,
                      const char *type)
{
    const json_t *e = json_object_get(outcome, "e");
    const char *t = json_string_value(json_object_get(e, "type"));
    const char *m = json_string_value(json_object_get(e, "message"));
    char *got = json_dumps(outcome, JSON_COMPACT | JSON_ENCODE_ANY);

    if (json_object_get(outcome, "r") || !t || strcmp(t, type) != 0 || !m || !m[0])
        harness_fail(file, line, "%s: outcome %s, expected a %s with a message", what,
                     got ? got : "?", type);
    free(got);
}

void
builtins_test_apply(const char *file, int line, const char *payload, const char *want,
                    const char *type)
{
    uint32_t fails;
    uint64_t first;
    json_t *outs = builtins_test_run(file, line, payload, WIRE_MODE_APPLY, 1, &fails, &first);

    if (want) {
        json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
        if (!w)
            harness_fail(file, line, "bad expected JSON %s", want);
        builtins_test_value(file, line, payload, json_array_get(outs, 0), w);
        json_decref(w);
    } else {
        builtins_test_failure(file, line, payload, json_array_get(outs, 0), type);
    }
    if (fails != (want ? 0u : 1u) || first != 0)
        harness_fail(file, line, "%s: fails %u first %llu, expected fails %u first 0", payload,
                     fails, (unsigned long long)first, want ? 0u : 1u);
    json_decref(outs);
}

int
builtins_test_main(int argc, char **argv, const char *prog)
{
    int rc;

    if (!(builtins_test_reg = registry_new()) || builtins_register(builtins_test_reg) != SVC_OK) {
        fprintf(stderr, "%s: cannot build the registry\n", prog);
        return 1;
    }
    rc = harness_run(argc, argv);
    registry_free(builtins_test_reg);
    return rc;
}
