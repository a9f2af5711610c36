/*
 * http_auth.c: --api-key and --api-key-file: every /v1 route wants
 * "Authorization: Bearer KEY" (401 with WWW-Authenticate otherwise), the
 * probes stay open.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"

static long
status_with(const Server *s, const char *method, const char *path, const char *body, const char *auth, Resp *r)
{
    const char *h[] = {auth, NULL};

    if (req_h(s, method, path, body, auth ? h : NULL, r) != 0)
        return -1;
    return r->status;
}

TEST(test_auth_v1_routes_want_the_key_and_probes_stay_open)
{
    static const char *const args[] = {"--api-key", "k3y-12345678", "--processes", "1", NULL};
    Server s;
    Resp r;

    server_start(&s, args);
    CHECK_INT(status_with(&s, "GET", "/healthz", NULL, NULL, &r), 200);
    resp_free(&r);
    CHECK_INT(status_with(&s, "GET", "/readyz", NULL, NULL, &r), 200);
    resp_free(&r);
    /* No key, a wrong one, one of another scheme: 401, said how. */
    const char *bad[] = {NULL, "Authorization: Bearer k3y-12345679", "Authorization: Bearer k3y-1234567",
                         "Authorization: Basic k3y-12345678", "Authorization: Bearer "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_INT(status_with(&s, "POST", "/v1/apply", "{\"func\":\"echo\",\"args\":[1]}", bad[i], &r), 401);
        CHECK(strstr(resp_header(&r, "Content-Type") ?: "", "application/problem+json"));
        CHECK(strstr(resp_header(&r, "WWW-Authenticate") ?: "", "Bearer"));
        resp_free(&r);
    }
    CHECK_INT(status_with(&s, "GET", "/v1/pool", NULL, NULL, &r), 401);
    resp_free(&r);
    CHECK_INT(status_with(&s, "POST", "/v1/apply", "{\"func\":\"pow\",\"args\":[2,3]}",
                          "Authorization: Bearer k3y-12345678", &r), 200);
    CHECK_INT(json_integer_value(jpath(r.json, "result")), 8);
    resp_free(&r);
    CHECK_INT(status_with(&s, "GET", "/v1/pool", NULL, "Authorization: bearer k3y-12345678", &r), 200);
    resp_free(&r);
    server_stop(&s);
}

TEST(test_auth_keys_come_from_a_file_too)
{
    char path[64] = "/tmp/poold-test-keys-XXXXXX";
    const char *args[] = {"--api-key-file", path, NULL};
    int fd = mkstemp(path);
    Server s;
    Resp r;
    FILE *f;

    CHECK(fd >= 0);
    close(fd);
    CHECK((f = fopen(path, "w")) != NULL);
    fprintf(f, "# one key a line\nfirst-key-0001\n\n  second-key-0002  \n");
    fclose(f);
    server_start(&s, args);
    CHECK_INT(status_with(&s, "GET", "/v1/functions", NULL, "Authorization: Bearer first-key-0001", &r), 200);
    resp_free(&r);
    CHECK_INT(status_with(&s, "GET", "/v1/functions", NULL, "Authorization: Bearer second-key-0002", &r), 200);
    resp_free(&r);
    CHECK_INT(status_with(&s, "GET", "/v1/functions", NULL, "Authorization: Bearer # one key a line", &r), 401);
    resp_free(&r);
    server_stop(&s);
    unlink(path);
}

TEST(test_auth_without_a_key_nothing_is_asked)
{
    Server s;
    Resp r;

    server_start(&s, NULL);
    CHECK_INT(status_with(&s, "GET", "/v1/pool", NULL, NULL, &r), 200);
    resp_free(&r);
    server_stop(&s);
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
