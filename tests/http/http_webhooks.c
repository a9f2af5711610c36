/*
 * http_webhooks.c: callback and error_callback against a real receiver on
 * 127.0.0.1 (libmicrohttpd, in this process): what is posted, signed as
 * Standard Webhooks sign (checked here with nettle, independently), retried
 * with one webhook-id, timed out, refused when aimed inward, redelivered by
 * hand and after a restart, and never in the way of sync calls.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <microhttpd.h>
#include <sqlite3.h>
#include <nettle/base64.h>
#include <nettle/hmac.h>

#include "client.h"
#include "harness.h"

#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

/* --- the receiver --- */

typedef struct Hit {
    char path[64], id[128], ts[32], sig[128], type[64];
    char *body;
    double at;             /* when it came (now_seconds) */
} Hit;

typedef struct Receiver {
    struct MHD_Daemon *d;
    int port;
    pthread_mutex_t lock;
    const int *statuses;   /* answers in turn, the last one repeated; NULL: 200 */
    double delay;          /* seconds before each answer (the first `slow` ones) */
    int slow;              /* how many answers are delayed; -1 for all */
    const char *header[2]; /* one header every answer carries, or NULL */
    Hit hits[256];
    int nhits, open, most_open;
} Receiver;

typedef struct Upload {
    char *body;
    size_t len;
} Upload;

static enum MHD_Result
recv_access(void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *version,
            const char *data, size_t *size, void **req_cls)
{
    Receiver *rv = cls;
    Upload *u = *req_cls;
    int n, status;
    double delay = 0;

    (void)method, (void)version;
    if (!u) {
        *req_cls = calloc(1, sizeof(Upload));
        return MHD_YES;
    }
    if (*size) {
        u->body = realloc(u->body, u->len + *size + 1);
        memcpy(u->body + u->len, data, *size);
        u->len += *size;
        u->body[u->len] = '\0';
        *size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&rv->lock);
    n = rv->nhits < 256 ? rv->nhits++ : 255;
    Hit *h = &rv->hits[n];
    const char *v;
    snprintf(h->path, sizeof(h->path), "%s", url);
    snprintf(h->id, sizeof(h->id), "%s", (v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-id")) ? v : "");
    snprintf(h->ts, sizeof(h->ts), "%s", (v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-timestamp")) ? v : "");
    snprintf(h->sig, sizeof(h->sig), "%s", (v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-signature")) ? v : "");
    snprintf(h->type, sizeof(h->type), "%s", (v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type")) ? v : "");
    h->body = u->body ? strdup(u->body) : strdup("");
    h->at = now_seconds();
    status = 200;
    if (rv->statuses) {
        int k = 0;
        while (k < n && rv->statuses[k + 1])
            k++;
        status = rv->statuses[k];
    }
    if (rv->slow < 0 || n < rv->slow)
        delay = rv->delay;
    if (++rv->open > rv->most_open)
        rv->most_open = rv->open;
    pthread_mutex_unlock(&rv->lock);
    if (delay > 0)
        usleep((useconds_t)(delay * 1e6));
    pthread_mutex_lock(&rv->lock);
    rv->open--;
    pthread_mutex_unlock(&rv->lock);
    struct MHD_Response *resp = MHD_create_response_from_buffer(2, "ok", MHD_RESPMEM_PERSISTENT);
    if (rv->header[0])
        MHD_add_response_header(resp, rv->header[0], rv->header[1]);
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static void
recv_done(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode toe)
{
    Upload *u = *req_cls;

    (void)cls, (void)c, (void)toe;
    if (u)
        free(u->body);
    free(u);
}

static void
recv_start(Receiver *rv)
{
    const union MHD_DaemonInfo *info;

    pthread_mutex_init(&rv->lock, NULL);
    rv->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                             recv_access, rv, MHD_OPTION_NOTIFY_COMPLETED, recv_done, rv,
                             MHD_OPTION_CONNECTION_LIMIT, 1000u, MHD_OPTION_END);
    if (!rv->d || !(info = MHD_get_daemon_info(rv->d, MHD_DAEMON_INFO_BIND_PORT)))
        harness_fail(__FILE__, __LINE__, "cannot start the receiver");
    rv->port = info->port;
}

static void
recv_stop(Receiver *rv)
{
    if (rv->d)
        MHD_stop_daemon(rv->d);
    rv->d = NULL;
    for (int i = 0; i < rv->nhits; i++)
        free(rv->hits[i].body);
}

static int
recv_count(Receiver *rv)
{
    int n;

    pthread_mutex_lock(&rv->lock);
    n = rv->nhits;
    pthread_mutex_unlock(&rv->lock);
    return n;
}

/* Waits up to `seconds` for n hits; 1 if they came. */
static int
recv_await(Receiver *rv, int n, double seconds)
{
    for (double end = now_seconds() + seconds; now_seconds() < end; usleep(10 * 1000))
        if (recv_count(rv) >= n)
            return 1;
    return recv_count(rv) >= n;
}

/* The receiver's URL for path (static buffer). */
static const char *
recv_url(const Receiver *rv, const char *path)
{
    static char url[128];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", rv->port, path);
    return url;
}

/* --- poold --- */

static void
start(Server *s, const char *const *extra)
{
    const char *args[24] = {"--webhook-allow-host", "127.0.0.1", "--webhook-secret", SECRET,
                            "--webhook-backoff", "0.1", "--processes", "2"};
    int n = 8;

    for (int i = 0; extra && extra[i] && n < 22; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    server_start(s, args);
}

/* Submits body to path; returns the job id (static buffer). */
static const char *
submit(const Server *s, const char *path, const char *body)
{
    static char id[64];
    Resp r;

    post(s, path, body, 202, &r);
    snprintf(id, sizeof(id), "%s", json_string_value(jpath(r.json, "id")) ?: "");
    resp_free(&r);
    return id;
}

/* The job's callback object, once `delivered` or its attempts reach n
 * (new reference), within 10 s; NULL if never. */
static json_t *
await_callback(const Server *s, const char *id, int attempts)
{
    char path[128];

    snprintf(path, sizeof(path), "/v1/jobs/%s", id);
    for (double end = now_seconds() + 10; now_seconds() < end; usleep(20 * 1000)) {
        json_t *j = get_json(s, path), *cb = json_incref(jpath(j, "callback"));
        json_decref(j);
        if (cb && (json_is_true(json_object_get(cb, "delivered")) ||
                   json_integer_value(json_object_get(cb, "attempts")) >= attempts))
            return cb;
        json_decref(cb);
    }
    return NULL;
}

/* Waits up to 5 s until dir's store holds the job's delivery at n
 * attempts (the writer commits a moment after the state changes). */
static int
await_stored_attempts(const char *dir, const char *id, int n)
{
    char path[128];
    int got = -1;

    snprintf(path, sizeof(path), "%s/poold.db", dir);
    for (double end = now_seconds() + 5; got < n && now_seconds() < end; usleep(20 * 1000)) {
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
            sqlite3_prepare_v2(db, "SELECT json_extract(callback, '$.attempts') FROM jobs WHERE id = ?1", -1, &st,
                               NULL) == SQLITE_OK &&
            sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
            got = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    return got >= n;
}

/* Checks hit's signature as a receiver would, with its own HMAC. */
static void
check_signature(const Hit *h)
{
    uint8_t key[64], mac[SHA256_DIGEST_SIZE];
    size_t klen = sizeof(key);
    struct base64_decode_ctx b;
    struct hmac_sha256_ctx ctx;
    char want[64] = "v1,", head[200];
    const char *secret = SECRET + 6;

    base64_decode_init(&b);
    CHECK(base64_decode_update(&b, &klen, key, strlen(secret), secret) && base64_decode_final(&b));
    snprintf(head, sizeof(head), "%s.%s.", h->id, h->ts);
    hmac_sha256_set_key(&ctx, klen, key);
    hmac_sha256_update(&ctx, strlen(head), (const uint8_t *)head);
    hmac_sha256_update(&ctx, strlen(h->body), (const uint8_t *)h->body);
    hmac_sha256_digest(&ctx, sizeof(mac), mac);
    base64_encode_raw(want + 3, sizeof(mac), mac);
    want[3 + BASE64_ENCODE_RAW_LENGTH(sizeof(mac))] = '\0';
    CHECK_STR(h->sig, want);
}

/* --- tests --- */

TEST(test_webhooks_a_success_posts_job_succeeded_signed)
{
    Receiver rv = {0};
    Server s;
    char body[256], wid[80];
    const char *id;
    json_t *payload, *cb;

    recv_start(&rv);
    start(&s, NULL);
    snprintf(body, sizeof(body), "{\"func\":\"pow\",\"args\":[2,10],\"callback\":\"%s\"}", recv_url(&rv, "/ok"));
    id = submit(&s, "/v1/apply_async", body);
    CHECK(recv_await(&rv, 1, 10));
    Hit *h = &rv.hits[0];
    CHECK_STR(h->path, "/ok");
    CHECK(strncmp(h->type, "application/json", 16) == 0);
    snprintf(wid, sizeof(wid), "msg_%s", id);
    CHECK_STR(h->id, wid);
    CHECK(labs(atol(h->ts) - (long)time(NULL)) < 30);
    check_signature(h);
    payload = json_loads(h->body, 0, NULL);
    CHECK_STR(json_string_value(jpath(payload, "type")), "job.succeeded");
    CHECK(json_is_string(jpath(payload, "timestamp")));
    CHECK_STR(json_string_value(jpath(payload, "data.id")), id);
    CHECK_STR(json_string_value(jpath(payload, "data.status")), "succeeded");
    CHECK_INT(json_integer_value(jpath(payload, "data.result")), 1024);
    json_decref(payload);
    CHECK((cb = await_callback(&s, id, 1)) != NULL);
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
    start(&s, NULL);
    char ok[128];
    snprintf(ok, sizeof(ok), "%s", recv_url(&rv, "/ok")); /* recv_url's buffer is one */
    snprintf(body, sizeof(body), "{\"func\":\"pow\",\"args\":[10,100],\"callback\":\"%s\",\"error_callback\":\"%s\"}",
             ok, recv_url(&rv, "/err"));
    submit(&s, "/v1/apply_async", body);
    snprintf(body, sizeof(body), "{\"func\":\"sleep\",\"args\":[5],\"timeout\":0.2,\"callback\":\"%s\"}",
             recv_url(&rv, "/only"));
    submit(&s, "/v1/apply_async", body);
    snprintf(body, sizeof(body), "{\"func\":\"fib\",\"args\":[-1],\"callback\":\"%s\"}", recv_url(&rv, "/plain"));
    submit(&s, "/v1/apply_async", body);
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
    start(&s, NULL);
    snprintf(body, sizeof(body), "{\"func\":\"sleep\",\"args\":[5],\"callback\":\"%s\"}", recv_url(&rv, "/ok"));
    id = submit(&s, "/v1/apply_async", body);
    snprintf(path, sizeof(path), "/v1/jobs/%s", id);
    CHECK(req(&s, "DELETE", path, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    usleep(500 * 1000);
    CHECK_INT(recv_count(&rv), 0);
    server_stop(&s);
    recv_stop(&rv);
}

TEST(test_webhooks_retries_keep_one_webhook_id_until_a_2xx)
{
    static const int statuses[] = {500, 500, 200, 0};
    Receiver rv = {.statuses = statuses};
    Server s;
    char body[256];
    const char *id;
    json_t *cb;

    recv_start(&rv);
    start(&s, NULL);
    snprintf(body, sizeof(body), "{\"func\":\"echo\",\"args\":[7],\"callback\":\"%s\"}", recv_url(&rv, "/flaky"));
    id = submit(&s, "/v1/apply_async", body);
    CHECK((cb = await_callback(&s, id, 3)) != NULL);
    CHECK(json_is_true(json_object_get(cb, "delivered")));
    CHECK_INT(json_integer_value(json_object_get(cb, "attempts")), 3);
    CHECK_INT(json_integer_value(json_object_get(cb, "last_status")), 200);
    json_decref(cb);
    CHECK_INT(recv_count(&rv), 3);
    CHECK_STR(rv.hits[1].id, rv.hits[0].id);
    CHECK_STR(rv.hits[2].id, rv.hits[0].id);
    CHECK_STR(rv.hits[2].body, rv.hits[0].body); /* the same message, signed anew */
    for (int i = 0; i < 3; i++)
        check_signature(&rv.hits[i]);
    server_stop(&s);
    recv_stop(&rv);
}

TEST(test_webhooks_a_receiver_that_never_answers_is_timed_out_and_retried)
{
    static const char *const extra[] = {"--webhook-timeout", "0.5", NULL};
    Receiver rv = {.delay = 3, .slow = 1};
    Server s;
    char body[256];
    const char *id;
    json_t *cb;
    double t0;

    recv_start(&rv);
    start(&s, extra);
    snprintf(body, sizeof(body), "{\"func\":\"echo\",\"args\":[7],\"callback\":\"%s\"}", recv_url(&rv, "/slow"));
    t0 = now_seconds();
    id = submit(&s, "/v1/apply_async", body);
    CHECK((cb = await_callback(&s, id, 2)) != NULL);
    CHECK(json_is_true(json_object_get(cb, "delivered")));
    CHECK_INT(json_integer_value(json_object_get(cb, "attempts")), 2);
    CHECK(now_seconds() - t0 < 2.5); /* the first attempt gave up at 0.5 s, not 3 */
    json_decref(cb);
    server_stop(&s);
    recv_stop(&rv);
}

TEST(test_webhooks_retry_after_is_honoured_and_redirects_are_not_followed)
{
    static const int busy[] = {503, 200, 0};
    static const int moved[] = {302, 0};
    static const char *const extra[] = {"--webhook-max-attempts", "2", NULL};
    Receiver rv = {.statuses = busy, .header = {"Retry-After", "1"}};
    Receiver mv = {.statuses = moved};
    Server s;
    char body[256], loc[128], id[64];
    json_t *cb;

    recv_start(&rv);
    recv_start(&mv);
    snprintf(loc, sizeof(loc), "http://127.0.0.1:%d/elsewhere", rv.port);
    mv.header[0] = "Location";
    mv.header[1] = loc;
    start(&s, extra);
    snprintf(body, sizeof(body), "{\"func\":\"echo\",\"args\":[1],\"callback\":\"%s\"}", recv_url(&rv, "/busy"));
    snprintf(id, sizeof(id), "%s", submit(&s, "/v1/apply_async", body));
    CHECK((cb = await_callback(&s, id, 2)) != NULL);
    CHECK(json_is_true(json_object_get(cb, "delivered")));
    json_decref(cb);
    /* --webhook-backoff is 0.1 s here: the wait is the receiver's 1 s. */
    CHECK(rv.hits[1].at - rv.hits[0].at >= 0.9);

    snprintf(body, sizeof(body), "{\"func\":\"echo\",\"args\":[1],\"callback\":\"%s\"}", recv_url(&mv, "/moved"));
    snprintf(id, sizeof(id), "%s", submit(&s, "/v1/apply_async", body));
    CHECK((cb = await_callback(&s, id, 2)) != NULL);
    CHECK(!json_is_true(json_object_get(cb, "delivered")));
    CHECK_INT(json_integer_value(json_object_get(cb, "last_status")), 302);
    json_decref(cb);
    CHECK_INT(recv_count(&mv), 2);
    CHECK_INT(recv_count(&rv), 2); /* nothing went to the Location */
    server_stop(&s);
    recv_stop(&rv);
    recv_stop(&mv);
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
    start(&s, extra);
    snprintf(body, sizeof(body), "{\"func\":\"echo\",\"args\":[1],\"callback\":\"http://localhost:%d/direct\"}",
             target.port);
    submit(&s, "/v1/apply_async", body);
    CHECK(recv_await(&target, 1, 10));
    CHECK_INT(recv_count(&proxy), 0); /* the guard sees the target's own address */
    server_stop(&s);
    unsetenv("http_proxy");
    unsetenv("ALL_PROXY");
    unsetenv("no_proxy");
    recv_stop(&target);
    recv_stop(&proxy);
}

TEST(test_webhooks_a_job_stays_while_its_delivery_lives_even_with_no_ttl)
{
    static const char *const extra[] = {"--result-ttl", "0", "--webhook-backoff", "1", NULL};
    Receiver rv = {0};
    Server s;
    char body[256], id[64];
    double cpu0;
    json_t *j;

    recv_start(&rv);
    int port = rv.port;
    recv_stop(&rv); /* closed: every attempt fails, the delivery lives on */
    start(&s, extra);
    snprintf(body, sizeof(body), "{\"func\":\"echo\",\"args\":[1],\"callback\":\"http://127.0.0.1:%d/x\"}", port);
    snprintf(id, sizeof(id), "%s", submit(&s, "/v1/apply_async", body));
    usleep(500 * 1000);
    cpu0 = cpu_seconds(s.pid);
    sleep_seconds(1.0);
    CHECK(cpu_seconds(s.pid) - cpu0 < 0.2); /* its clock does not spin over it */
    CHECK((j = job_get(&s, id)) != NULL);  /* kept, not expired */
    CHECK(json_integer_value(jpath(j, "callback.attempts")) >= 1);
    json_decref(j);
    server_stop(&s);
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
    id = submit(&s, "/v1/apply_async", body);
    snprintf(wid, sizeof(wid), "%s", id);
    CHECK((cb = await_callback(&s, wid, 1)) != NULL);
    CHECK(!json_is_true(json_object_get(cb, "delivered")));
    CHECK(strstr(json_string_value(json_object_get(cb, "last_error")) ?: "", "refused") != NULL);
    CHECK(json_is_null(json_object_get(cb, "next_attempt_at"))); /* not retried */
    json_decref(cb);
    usleep(300 * 1000);
    CHECK_INT(recv_count(&rv), 0);
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
    start(&s, NULL);
    snprintf(body, sizeof(body), "{\"func\":\"echo\",\"args\":[1],\"callback\":\"%s\"}", recv_url(&rv, "/slow"));
    for (int i = 0; i < 100; i++)
        submit(&s, "/v1/apply_async", body);
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
    start(&s, extra);
    snprintf(body, sizeof(body), "{\"func\":\"echo\",\"args\":[3],\"callback\":\"%s\"}", recv_url(&rv, "/h"));
    snprintf(id, sizeof(id), "%s", submit(&s, "/v1/apply_async", body));
    CHECK((cb = await_callback(&s, id, 2)) != NULL);
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
    CHECK((cb = await_callback(&s, id, 1)) != NULL);
    CHECK(json_is_true(json_object_get(cb, "delivered")));
    CHECK_INT(json_integer_value(json_object_get(cb, "attempts")), 1);
    json_decref(cb);
    CHECK_INT(recv_count(&rv), 3);
    CHECK_STR(rv.hits[2].id, rv.hits[0].id);
    /* Nothing to redeliver: a job without a callback, an unknown one. */
    const char *plain = submit(&s, "/v1/apply_async", "{\"func\":\"echo\",\"args\":[1]}");
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

TEST(test_webhooks_a_pending_delivery_is_made_after_a_restart)
{
    char dir[64] = "/tmp/poold-test-hooks-XXXXXX", body[256], id[64], port[16];
    Receiver rv = {0};
    Server s;
    json_t *cb;

    CHECK(mkdtemp(dir) != NULL);
    recv_start(&rv);
    snprintf(port, sizeof(port), "%d", rv.port);
    recv_stop(&rv); /* its port, closed: the first attempt fails */
    const char *first[] = {"--data-dir", dir, "--webhook-backoff", "1", NULL};
    start(&s, first);
    snprintf(body, sizeof(body), "{\"func\":\"echo\",\"args\":[5],\"callback\":\"http://127.0.0.1:%s/late\"}", port);
    snprintf(id, sizeof(id), "%s", submit(&s, "/v1/apply_async", body));
    CHECK((cb = await_callback(&s, id, 1)) != NULL);
    CHECK(!json_is_true(json_object_get(cb, "delivered")));
    CHECK(json_is_string(json_object_get(cb, "next_attempt_at")));
    json_decref(cb);
    CHECK(await_stored_attempts(dir, id, 1)); /* on disk, then the crash */
    server_kill(&s, SIGKILL);

    /* The receiver comes back on the same port; so does poold. */
    Receiver again = {0};
    pthread_mutex_init(&again.lock, NULL);
    again.d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD,
                               (uint16_t)atoi(port), NULL, NULL, recv_access, &again, MHD_OPTION_NOTIFY_COMPLETED,
                               recv_done, &again, MHD_OPTION_END);
    CHECK(again.d != NULL);
    start(&s, first);
    CHECK(recv_await(&again, 1, 10));
    CHECK_STR(again.hits[0].path, "/late");
    CHECK((cb = await_callback(&s, id, 2)) != NULL);
    CHECK(json_is_true(json_object_get(cb, "delivered")));
    CHECK_INT(json_integer_value(json_object_get(cb, "attempts")), 2);
    json_decref(cb);
    server_stop(&s);
    recv_stop(&again);
    remove_tree(dir);
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
