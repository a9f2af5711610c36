/*
 * http_dashboard.c: the dashboard's routes, black-box: the page and its
 * files come from the binary with a Content-Security-Policy that allows
 * nothing outside poold, open even under --api-key (the page asks for the
 * key itself); GET / sends a browser there and no one else; and a job's
 * view carries the arguments the page shows. What the page does in a
 * browser is tests/browser/'s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "client.h"
#include "harness.h"
#include "rawhttp.h"

static void
start(Server *s, int keyed)
{
    const char *plain[] = {"--processes", "1", "--store", "memory", NULL};
    const char *key[] = {"--processes", "1", "--store", "memory", "--api-key", "dash-key-123", NULL};

    server_start(s, keyed ? key : plain);
}

TEST(the_page_and_its_files_come_from_the_binary_with_a_strict_csp)
{
    static const char *const files[][2] = {{"/dashboard", "text/html"},
                                           {"/dashboard/app.js", "text/javascript"},
                                           {"/dashboard/app.css", "text/css"}};
    Server s;
    Resp r;

    start(&s, 1); /* open under a key */
    for (size_t i = 0; i < 3; i++) {
        CHECK_INT(req(&s, "GET", files[i][0], NULL, &r), 0);
        CHECK_INT(r.status, 200);
        CHECK(strncmp(resp_header(&r, "Content-Type"), files[i][1], strlen(files[i][1])) == 0);
        const char *csp = resp_header(&r, "Content-Security-Policy");
        CHECK(csp && strstr(csp, "default-src 'none'") && strstr(csp, "connect-src 'self'"));
        CHECK(!strstr(csp, "http") && !strstr(csp, "unsafe"));
        CHECK(r.len > 100);
        resp_free(&r);
    }
    CHECK_INT(req(&s, "GET", "/dashboard", NULL, &r), 0);
    CHECK(strstr(r.body, "/dashboard/app.js") && !strstr(r.body, "https://"));
    resp_free(&r);
    CHECK_INT(req(&s, "GET", "/dashboard/nothing.js", NULL, &r), 0);
    check_problem(r.status, resp_header(&r, "Content-Type"), r.json, 404);
    resp_free(&r);
    /* The data stays behind the key. */
    CHECK_INT(req(&s, "GET", "/v1/jobs", NULL, &r), 0);
    CHECK_INT(r.status, 401);
    resp_free(&r);
    server_stop(&s);
}

TEST(the_root_sends_a_browser_to_the_dashboard_and_no_one_else)
{
    const char *html[] = {"Accept: text/html,application/xhtml+xml", NULL};
    Server s;
    Resp r;

    start(&s, 0);
    CHECK_INT(req_h(&s, "GET", "/", NULL, html, &r), 0);
    CHECK_INT(r.status, 302);
    CHECK_STR(resp_header(&r, "Location"), "/dashboard");
    resp_free(&r);
    CHECK_INT(req(&s, "GET", "/", NULL, &r), 0);
    check_problem(r.status, resp_header(&r, "Content-Type"), r.json, 404);
    resp_free(&r);
    server_stop(&s);
}

TEST(a_jobs_view_carries_its_request_when_small)
{
    Server s;
    json_t *j;
    const char *id;
    char big[4096];

    start(&s, 0);
    id = job_submit(&s, "/v1/apply_async", "{\"func\": \"echo\", \"args\": [\"hello\"]}");
    CHECK(await_pool_number(&s, "queue.running", 0, 5));
    j = job_get(&s, id);
    CHECK(j);
    CHECK_STR(json_string_value(jpath(j, "request.args.0")), "hello");
    json_decref(j);
    snprintf(big, sizeof(big), "{\"func\": \"echo\", \"args\": [\"%03000d\"]}", 1);
    id = job_submit(&s, "/v1/apply_async", big);
    j = job_get(&s, id);
    CHECK(j && !json_object_get(j, "request"));
    json_decref(j);
    server_stop(&s);
}

int
main(int argc, char **argv)
{
    curl_global_init(CURL_GLOBAL_ALL);
    return harness_run(argc, argv);
}
