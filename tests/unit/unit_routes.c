/*
 * unit_routes.c: the route table and openapi.yaml describe the same API:
 * every route has its path and method in the spec, and every operation
 * in the spec has its route, so the two cannot drift apart.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "handlers.h"
#include "harness.h"

#define MAX_OPS 64

typedef struct Op {
    char method[8];
    char path[96];
} Op;

/* The operations under openapi.yaml's top-level "paths:" (the file is
 * written two spaces a level, as it is). Returns how many, -1 if none. */
static int
spec_ops(Op *ops, int max)
{
    const char *file = getenv("POOLD_OPENAPI") ? getenv("POOLD_OPENAPI") : "openapi.yaml";
    FILE *f = fopen(file, "r");
    char line[512], path[96] = "";
    int n = 0, in_paths = 0;

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (!isspace((unsigned char)line[0]) && line[0] != '#') /* a top-level key */
            in_paths = strncmp(line, "paths:", 6) == 0;
        if (!in_paths)
            continue;
        if (line[0] == ' ' && line[1] == ' ' && line[2] == '/') {
            sscanf(line + 2, "%95[^:]", path);
            continue;
        }
        const char *methods[] = {"get", "post", "delete", "put", "patch"};
        for (int i = 0; i < 5 && n < max; i++) {
            size_t len = strlen(methods[i]);
            if (strncmp(line, "    ", 4) == 0 && line[4] != ' ' && strncmp(line + 4, methods[i], len) == 0 &&
                line[4 + len] == ':') {
                for (size_t k = 0; k <= len; k++)
                    ops[n].method[k] = (char)toupper((unsigned char)methods[i][k]);
                snprintf(ops[n].path, sizeof(ops[n].path), "%s", path);
                n++;
            }
        }
    }
    fclose(f);
    return n;
}

static int
spec_has(const Op *ops, int n, const char *method, const char *path)
{
    for (int i = 0; i < n; i++)
        if (strcmp(ops[i].method, method) == 0 && strcmp(ops[i].path, path) == 0)
            return 1;
    return 0;
}

TEST(test_routes_every_route_is_in_openapi_yaml)
{
    Op ops[MAX_OPS];
    int n = spec_ops(ops, MAX_OPS), routes_n = 0;

    CHECK(n > 0);
    for (const Route *r = routes; r->method; r++, routes_n++)
        if (!spec_has(ops, n, r->method, r->pattern))
            harness_fail(__FILE__, __LINE__, "%s %s is served but not in openapi.yaml", r->method, r->pattern);
    CHECK(routes_n > 10);
}

TEST(test_routes_every_openapi_operation_has_a_route)
{
    Op ops[MAX_OPS];
    int n = spec_ops(ops, MAX_OPS);

    CHECK(n > 0);
    for (int i = 0; i < n; i++) {
        int found = 0;
        for (const Route *r = routes; r->method && !found; r++)
            found = strcmp(r->method, ops[i].method) == 0 && strcmp(r->pattern, ops[i].path) == 0;
        if (!found)
            harness_fail(__FILE__, __LINE__, "%s %s is in openapi.yaml but has no route", ops[i].method,
                         ops[i].path);
    }
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
