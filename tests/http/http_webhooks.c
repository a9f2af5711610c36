/*
 * http_webhooks.c: callback and error_callback against a real receiver on
 * 127.0.0.1 (tests/lib/recv.c): what is posted, and where, for each way a
 * job ends, signed as Standard Webhooks sign (checked with nettle,
 * independently); targets refused when aimed inward; a callback
 * redelivered by hand; deliveries never in the way of sync calls. Retries,
 * time-outs and restarts are http_webhooks_retries.c's.
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"
#include "recv.h"

TEST(test_webhooks_a_success_posts_job_succeeded_signed)
{
    Receiver rv = {0};
    Server s;
    char body[256], wid[80];
    const char *id;
    json_t *payload, *cb;

    recv_start(&rv);
    recv_server_start(&s, NULL);
    snprintf(body, sizeof(body), "{\"func\":\"pow\",\"args\":[2,10],\"callback\":\"%s\"}", recv_url(&rv, "/ok"));
    id = job_submit(&s, "/v1/apply_async", body);
    CHECK(recv_await(&rv, 1, 10));
    Hit *h = &rv.hits[0];
    CHECK_STR(h->path, "/ok");
    CHECK(strncmp(h->type, "application/json", 16) == 0);
    snprintf(wid, sizeof(wid), "msg_%s", id);
    CHECK_STR(h->id, wid);
    CHECK(labs(atol(h->ts) - (long)time(NULL)) < 30);
    recv_check_signature(h);
    payload = json_loads(h->body, 0, NULL);
    CHECK_STR(json_string_value(jpath(payload, "type")), "job.succeeded");
    CHECK(json_is_string(jpath(payload, "timestamp")));
    CHECK_STR(json_string_value(jpath(payload, "data.id")), id);
    CHECK_STR(json_string_value(jpath(payload, "data.status")), "succeeded");
    CHECK_INT(json_integer_value(jpath(payload, "data.result")), 1024);
    json_decref(payload);
    CHECK((cb = recv_await_callback(&s, id, 1)) != NULL);
    CHECK(json_is_true(json_object_get(cb, "delivered")));
    CHECK_INT(json_integer_value(json_object_get(cb, "attempts")), 1);
    CHECK_INT(json_integer_value(json_object_get(cb, "last_status")), 200);
    json_decref(cb);
    usleep(200 * 1000);
    CHECK_INT(recv_count(&rv), 1); /* once */
    server_stop(&s);
    recv_stop(&rv);
}

TEST(test_webhooks_failures_go_to_error_callback_or_else_to_callback)
{
    Receiver rv = {0};
    Server s;
    char body[400];
    json_t *p;
    int seen_err = 0, seen_timeout = 0, seen_plain = 0;

    recv_start(&rv);
    recv_server_start(&s, NULL);
    char ok[128];
    snprintf(ok, sizeof(ok), "%s", recv_url(&rv, "/ok")); /* recv_url's buffer is one */
    snprintf(body, sizeof(body), "{\"func\":\"pow\",\"args\":[10,100],\"callback\":\"%s\",\"error_callback\":\"%s\"}",
             ok, recv_url(&rv, "/err"));
    job_submit(&s, "/v1/apply_async", body);
    snprintf(body, sizeof(body), "{\"func\":\"sleep\",\"args\":[5],\"timeout\":0.2,\"callback\":\"%s\"}",
             recv_url(&rv, "/only"));
    job_submit(&s, "/v1/apply_async", body);
    snprintf(body, sizeof(body), "{\"func\":\"fib\",\"args\":[-1],\"callback\":\"%s\"}", recv_url(&rv, "/plain"));
    job_submit(&s, "/v1/apply_async", body);
    CHECK(recv_await(&rv, 3, 10));
    for (int i = 0; i < 3; i++) {
        p = json_loads(rv.hits[i].body, 0, NULL);
        const char *type = json_string_value(jpath(p, "type")) ?: "";
        if (strcmp(rv.hits[i].path, "/err") == 0 && strcmp(type, "job.failed") == 0 &&
            strcmp(json_string_value(jpath(p, "data.error.type")) ?: "", "OverflowError") == 0)
            seen_err++;
        if (strcmp(rv.hits[i].path, "/only") == 0 && strcmp(type, "job.timed_out") == 0)
            seen_timeout++;
        if (strcmp(rv.hits[i].path, "/plain") == 0 && strcmp(type, "job.failed") == 0)
            seen_plain++;
        json_decref(p);
    }
    CHECK_INT(seen_err, 1);
    CHECK_INT(seen_timeout, 1);
    CHECK_INT(seen_plain, 1);
    server_stop(&s);
    recv_stop(&rv);
}

TEST(test_webhooks_a_cancelled_job_posts_nothing)
{
    Receiver rv = {0};
    Server s;
    char body[256], path[128];
    const char *id;
    Resp r;

    recv_start(&rv);
    recv_server_start(&s, NULL);
    snprintf(body, sizeof(body), "{\"func\":\"sleep\",\"args\":[5],\"callback\":\"%s\"}", recv_url(&rv, "/ok"));
    id = job_submit(&s, "/v1/apply_async", body);
    snprintf(path, sizeof(path), "/v1/jobs/%s", id);
    CHECK(req(&s, "DELETE", path, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    usleep(500 * 1000);
    CHECK_INT(recv_count(&rv), 0);
    server_stop(&s);
    recv_stop(&rv);
}

TEST(test_webhooks_a_proxy_in_the_environment_is_not_used)
{
    Receiver target = {0}, proxy = {0};
    Server s;
    char body[256], env[64];

    recv_start(&target);
    recv_start(&proxy);
    static const char *const extra[] = {"--webhook-allow-host", "localhost", NULL};

    snprintf(env, sizeof(env), "http://127.0.0.1:%d", proxy.port);
    setenv("http_proxy", env, 1); /* poold inherits them */
    setenv("ALL_PROXY", env, 1);
    setenv("no_proxy", "127.0.0.1", 1); /* for this test's own calls to poold */
    recv_server_start(&s, extra);
    snprintf(body, sizeof(body), "{\"func\":\"echo\",\"args\":[1],\"callback\":\"http://localhost:%d/direct\"}",
             target.port);
    job_submit(&s, "/v1/apply_async", body);
    CHECK(recv_await(&target, 1, 10));
    CHECK_INT(recv_count(&proxy), 0); /* the guard sees the target's own address */
    server_stop(&s);
    unsetenv("http_proxy");
    unsetenv("ALL_PROXY");
    unsetenv("no_proxy");
    recv_stop(&target);
    recv_stop(&proxy);
}

TEST(test_webhooks_inward_and_non_http_targets_are_refused)
{
    static const char *const bad[] = {"file:///etc/passwd", "gopher://127.0.0.1/x", "http//nowhere",
                                      "not a url", "ftp://example.com/", NULL};
    static const char *const inward[] = {"http://10.0.0.1/x", "http://169.254.169.254/latest/meta-data",
                                         "http://[::1]:80/x", "http://192.168.1.1/", "http://127.0.0.1:9/x",
                                         "http://127.0.0.1./x", "http://2130706433/x", "http://0x7f000001/x",
                                         "http://127.1/x", "http://[::ffff:127.0.0.1]/x", NULL};
    Receiver rv = {0};
    Server s;
    char body[256], wid[96];
    const char *id;
    json_t *cb;
    Resp r;

    recv_start(&rv);
    server_start(&s, NULL); /* no --webhook-allow-host */
    for (int i = 0; bad[i]; i++) {
        snprintf(body, sizeof(body), "{\"func\":\"echo\",\"args\":[1],\"callback\":\"%s\"}", bad[i]);
        CHECK(req(&s, "POST", "/v1/apply_async", body, &r) == 0);
        if (r.status != 400)
            harness_fail(__FILE__, __LINE__, "%s: %ld, not 400", bad[i], r.status);
        CHECK_STR(json_string_value(jpath(r.json, "field")), "callback");
        resp_free(&r);
    }
    for (int i = 0; inward[i]; i++) {
        snprintf(body, sizeof(body), "{\"func\":\"echo\",\"args\":[1],\"callback\":\"%s\"}", inward[i]);
        CHECK(req(&s, "POST", "/v1/apply_async", body, &r) == 0);
        if (r.status != 422)
            harness_fail(__FILE__, __LINE__, "%s: %ld, not 422", inward[i], r.status);
        resp_free(&r);
    }
    /* A name that resolves inward passes the submit and is refused when
     * the connection shows where it went: nothing reaches the receiver. */
    snprintf(body, sizeof(body), "{\"func\":\"echo\",\"args\":[1],\"callback\":\"http://localhost:%d/x\"}", rv.port);
    id = job_submit(&s, "/v1/apply_async", body);
    snprintf(wid, sizeof(wid), "%s", id);
    CHECK((cb = recv_await_callback(&s, wid, 1)) != NULL);
    CHECK(!json_is_true(json_object_get(cb, "delivered")));
    CHECK(strstr(json_string_value(json_object_get(cb, "last_error")) ?: "", "refused") != NULL);
    CHECK(json_is_null(json_object_get(cb, "next_attempt_at"))); /* not retried */
    json_decref(cb);
    usleep(300 * 1000);
    CHECK_INT(recv_count(&rv), 0);
    server_stop(&s);
    recv_stop(&rv);
}

/* Submits an async echo whose callback is url, and expects 422 with a
 * detail that holds why. */
static void
expect_refused_target(const Server *s, const char *url, const char *why)
{
    char body[256];
    Resp r;

    snprintf(body, sizeof(body), "{\"func\":\"echo\",\"args\":[1],\"callback\":\"%s\"}", url);
    CHECK(req(s, "POST", "/v1/apply_async", body, &r) == 0);
    if (r.status != 422 || !strstr(json_string_value(jpath(r.json, "detail")) ?: "", why))
        harness_fail(__FILE__, __LINE__, "%s: %ld %s, not 422 naming %s", url, r.status, r.body, why);
    resp_free(&r);
}

/* The host's own interface addresses (not loopback) are refused as such,
 * whatever their range, and so are the IANA special-purpose blocks and
 * the IPv4-translated form of loopback; the opt-in that lets the tests
 * deliver to 127.0.0.1 still does. */
TEST(test_webhooks_the_hosts_own_addresses_and_special_purpose_blocks_are_refused)
{
    static const char *const special[] = {"http://192.0.2.1/x", "http://198.51.100.7/x", "http://203.0.113.9/x",
                                          "http://198.19.0.1/x", "http://[2001:db8::1]/x",
                                          "http://[::ffff:0:7f00:1]:9/x", "http://[::ffff:0:127.0.0.1]/x", NULL};
    struct ifaddrs *all = NULL;
    Receiver rv = {0};
    Server s;
    char url[128], body[256];
    int own = 0;
    json_t *cb;

    recv_start(&rv);
    recv_server_start(&s, NULL); /* --webhook-allow-host 127.0.0.1 */
    CHECK(getifaddrs(&all) == 0);
    for (struct ifaddrs *i = all; i; i = i->ifa_next) {
        char text[INET6_ADDRSTRLEN];
        int fam = i->ifa_addr ? i->ifa_addr->sa_family : AF_UNSPEC;
        if ((fam != AF_INET && fam != AF_INET6) || (i->ifa_flags & IFF_LOOPBACK))
            continue;
        const void *a = fam == AF_INET ? (void *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr
                                       : (void *)&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
        CHECK(inet_ntop(fam, a, text, sizeof(text)) != NULL);
        snprintf(url, sizeof(url), fam == AF_INET ? "http://%s:%d/x" : "http://[%s]:%d/x", text, rv.port);
        expect_refused_target(&s, url, "an address of this host");
        own++;
    }
    freeifaddrs(all);
    fprintf(stderr, "    %d address%s of this host refused\n", own, own == 1 ? "" : "es");
    for (int i = 0; special[i]; i++)
        expect_refused_target(&s, special[i], "not a target for callbacks");
    snprintf(body, sizeof(body), "{\"func\":\"echo\",\"args\":[1],\"callback\":\"%s\"}", recv_url(&rv, "/ok"));
    const char *id = job_submit(&s, "/v1/apply_async", body);
    CHECK((cb = recv_await_callback(&s, id, 1)) != NULL);
    CHECK(json_is_true(json_object_get(cb, "delivered")));
    json_decref(cb);
    CHECK_INT(recv_count(&rv), 1);
    server_stop(&s);
    recv_stop(&rv);
}

TEST(test_webhooks_sync_calls_go_on_while_a_hundred_deliveries_wait)
{
    Receiver rv = {.delay = 3, .slow = -1};
    Server s;
    char body[256];
    double t0;
    Resp r;

    recv_start(&rv);
    recv_server_start(&s, NULL);
    snprintf(body, sizeof(body), "{\"func\":\"echo\",\"args\":[1],\"callback\":\"%s\"}", recv_url(&rv, "/slow"));
    for (int i = 0; i < 100; i++)
        job_submit(&s, "/v1/apply_async", body);
    CHECK(recv_await(&rv, 100, 10)); /* all at once, not one after another */
    t0 = now_seconds();
    for (int i = 0; i < 500; i++) {
        post(&s, "/v1/apply", "{\"func\":\"echo\",\"args\":[2]}", 200, &r);
        resp_free(&r);
    }
    /* 500 calls take well under a second here; a pool held up by the
     * receiver would need its 3 s at least. */
    CHECK(now_seconds() - t0 < 2.5);
    CHECK(rv.most_open >= 50);
    server_stop(&s);
    recv_stop(&rv);
}

TEST(test_webhooks_a_callback_is_redelivered_by_hand)
{
    static const char *const extra[] = {"--webhook-max-attempts", "2", NULL};
    static int statuses[] = {500, 500, 200, 0};
    Receiver rv = {.statuses = statuses};
    Server s;
    char body[256], path[128], id[64];
    json_t *cb;
    Resp r;

    recv_start(&rv);
    recv_server_start(&s, extra);
    snprintf(body, sizeof(body), "{\"func\":\"echo\",\"args\":[3],\"callback\":\"%s\"}", recv_url(&rv, "/h"));
    snprintf(id, sizeof(id), "%s", job_submit(&s, "/v1/apply_async", body));
    CHECK((cb = recv_await_callback(&s, id, 2)) != NULL);
    CHECK(!json_is_true(json_object_get(cb, "delivered")));
    CHECK_INT(json_integer_value(json_object_get(cb, "attempts")), 2);
    CHECK_INT(json_integer_value(json_object_get(cb, "last_status")), 500);
    CHECK(json_is_null(json_object_get(cb, "next_attempt_at"))); /* given up: --webhook-max-attempts 2 */
    json_decref(cb);
    usleep(300 * 1000);
    CHECK_INT(recv_count(&rv), 2);
    snprintf(path, sizeof(path), "/v1/jobs/%s/callback", id);
    CHECK(req(&s, "POST", path, NULL, &r) == 0);
    CHECK_INT(r.status, 202);
    resp_free(&r);
    CHECK((cb = recv_await_callback(&s, id, 1)) != NULL);
    CHECK(json_is_true(json_object_get(cb, "delivered")));
    CHECK_INT(json_integer_value(json_object_get(cb, "attempts")), 1);
    json_decref(cb);
    CHECK_INT(recv_count(&rv), 3);
    CHECK_STR(rv.hits[2].id, rv.hits[0].id);
    /* Nothing to redeliver: a job without a callback, an unknown one. */
    const char *plain = job_submit(&s, "/v1/apply_async", "{\"func\":\"echo\",\"args\":[1]}");
    snprintf(path, sizeof(path), "/v1/jobs/%s/result?timeout=10", plain);
    CHECK(req(&s, "GET", path, NULL, &r) == 0); /* ended: the 409 is for having no callback */
    CHECK_INT(r.status, 200);
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/jobs/%s/callback", plain);
    CHECK(req(&s, "POST", path, NULL, &r) == 0);
    CHECK_INT(r.status, 409);
    resp_free(&r);
    CHECK(req(&s, "POST", "/v1/jobs/00000000000000000000000000000000/callback", NULL, &r) == 0);
    CHECK_INT(r.status, 404);
    resp_free(&r);
    server_stop(&s);
    recv_stop(&rv);
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
