/*
 * http_tls.c: --tls-cert and --tls-key serve HTTPS (libmicrohttpd over
 * GnuTLS). The certificate is self-signed, made here with openssl, and the
 * client verifies it as a client would: the chain and the name 127.0.0.1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "client.h"
#include "harness.h"
#include "lines.h"

static char dir[64];
static char cert[96], key[96];

/* A fresh key and self-signed certificate for 127.0.0.1 in dir. */
static void
make_cert(void)
{
    char cmd[512];

    snprintf(dir, sizeof(dir), "/tmp/poold-test-tls-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 2 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1", key, cert);
    CHECK(system(cmd) == 0); /* script/bootstrap installs openssl */
}

/* What a plain-HTTP request to the port gets: the curl error code. */
static CURLcode
plain_request(int port)
{
    CURL *h = curl_easy_init();
    char url[64];
    CURLcode rc;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", port);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 5L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, fwrite);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, stderr);
    rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    return rc;
}

/* poold's exit status when started with args, which must make it fail
 * before serving; its stderr in out. */
static int
start_fails(const char *const *args, char *out, size_t len)
{
    char cmd[1024];
    const char *bin = getenv("POOLD_BIN") ? getenv("POOLD_BIN") : "build/poold";
    size_t o = (size_t)snprintf(cmd, sizeof(cmd), "%s --store memory --port 0", bin);
    FILE *p;
    int st;

    for (int i = 0; args[i] && o < sizeof(cmd); i++)
        o += (size_t)snprintf(cmd + o, sizeof(cmd) - o, " '%s'", args[i]);
    snprintf(cmd + o, sizeof(cmd) - o, " 2>&1");
    p = popen(cmd, "r");
    CHECK(p != NULL);
    out[0] = '\0';
    size_t n = fread(out, 1, len - 1, p);
    out[n] = '\0';
    st = pclose(p);
    poold_output_check(cmd, out);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(test_tls_calls_jobs_and_streams_are_served_over_https)
{
    make_cert();
    const char *args[] = {"--tls-cert", cert, "--tls-key", key, "--processes", "2", NULL};
    Server s;
    Resp r;
    char path[96];

    server_start(&s, args); /* it polls /healthz over https, verified */
    post(&s, "/v1/apply", "{\"func\":\"pow\",\"args\":[2,10]}", 200, &r);
    CHECK_INT(json_integer_value(jpath(r.json, "result")), 1024);
    resp_free(&r);
    post(&s, "/v1/map", "{\"func\":\"echo\",\"iterable\":[1,2,3]}", 200, &r);
    CHECK_INT(json_array_size(jpath(r.json, "results")), 3);
    resp_free(&r);
    /* A long poll suspends the connection and resumes it: under TLS too. */
    post(&s, "/v1/apply_async", "{\"func\":\"sleep\",\"args\":[0.3]}", 202, &r);
    snprintf(path, sizeof(path), "/v1/jobs/%s/result?timeout=5", json_string_value(jpath(r.json, "id")));
    resp_free(&r);
    CHECK_INT(req(&s, "GET", path, NULL, &r), 0);
    CHECK_INT(r.status, 200);
    CHECK(json_real_value(jpath(r.json, "result")) == 0.3);
    resp_free(&r);
    /* A stream's chunks. */
    post(&s, "/v1/imap", "{\"func\":\"echo\",\"iterable\":[1,2,3,4]}", 200, &r);
    CHECK(r.body && strstr(r.body, "{\"index\":3,\"result\":4}"));
    resp_free(&r);
    /* Plain HTTP to the TLS port gets no answer, and poold stays up. */
    CHECK(plain_request(s.port) != CURLE_OK);
    post(&s, "/v1/apply", "{\"func\":\"echo\",\"args\":[7]}", 200, &r);
    resp_free(&r);
    CHECK_INT(WEXITSTATUS(server_stop(&s)), 0);
    remove_tree(dir);
}

/* A handshake that fails gives its place back: many plain-HTTP clients at
 * a TLS port do not use up --max-connections. */
TEST(test_tls_failed_handshakes_do_not_use_up_the_connection_limit)
{
    make_cert();
    const char *args[] = {"--tls-cert", cert, "--tls-key", key, "--max-connections", "4", "--processes", "1", NULL};
    Server s;
    Resp r;

    server_start(&s, args);
    for (int i = 0; i < 20; i++) {
        CURLcode rc = plain_request(s.port);
        /* Closed at once; a place lost would keep it waiting (timed out). */
        CHECK(rc != CURLE_OK && rc != CURLE_OPERATION_TIMEDOUT);
    }
    post(&s, "/v1/apply", "{\"func\":\"echo\",\"args\":[7]}", 200, &r);
    CHECK_STR(r.body, "{\"result\":7}");
    resp_free(&r);
    CHECK_INT(WEXITSTATUS(server_stop(&s)), 0);
    remove_tree(dir);
}

/* What poold writes past libmicrohttpd, it writes through the
 * connection's TLS session (http_raw.c), as it does on a plain socket. A
 * server for each, with --max-body 4096. */
static void
start_small(Server *s)
{
    make_cert();
    const char *args[] = {"--tls-cert", cert, "--tls-key", key, "--max-body", "4096", "--processes", "2", NULL};

    server_start(s, args);
}

static void
stop_small(Server *s)
{
    Resp r;

    post(s, "/v1/apply", "{\"func\":\"echo\",\"args\":[7]}", 200, &r);
    resp_free(&r);
    CHECK_INT(WEXITSTATUS(server_stop(s)), 0);
    remove_tree(dir);
}

/* A body that goes on past --max-body gets its 413 before its end. */
TEST(test_tls_a_body_without_end_past_max_body_is_answered_413)
{
    LinesOverlong body = {.head = "", .overlong = (size_t)1 << 40, .limit = (size_t)1 << 40};
    Lines l = {.path = "/v1/apply", .gen = lines_overlong, .gen_ctx = &body, .timeout = 30};
    Server s;

    start_small(&s);
    CHECK(lines_post(&s, &l) != CURLE_OPERATION_TIMEDOUT); /* cut, not held */
    CHECK_INT(l.status, 413);
    CHECK(strncmp(l.type, "application/problem+json", 24) == 0);
    CHECK(l.problem && strstr(l.problem, "--max-body"));
    lines_free(&l);
    stop_small(&s);
}

/* An NDJSON line past --max-body, then a rest without end: the stream so
 * far and its final line, before the body's end. */
TEST(test_tls_an_ndjson_line_past_max_body_then_no_end_is_answered)
{
    LinesOverlong ndjson = {.head = "{\"func\":\"echo\"}\n1\n2\n", .overlong = 8192, .limit = (size_t)1 << 40};
    Lines l = {.path = "/v1/imap", .gen = lines_overlong, .gen_ctx = &ndjson, .keep = 1, .timeout = 30};
    Server s;

    start_small(&s);
    CHECK(lines_post(&s, &l) != CURLE_OPERATION_TIMEDOUT);
    CHECK_INT(l.status, 200);
    CHECK_INT(l.count, 3);
    CHECK_INT(json_integer_value(jpath(l.lines, "1.result")), 2);
    CHECK_STR(json_string_value(jpath(l.last, "error.type")), "TooLarge");
    lines_free(&l);
    stop_small(&s);
}

/* A Content-Length libmicrohttpd cannot read: poold's 400, not MHD's
 * page (its header block twice). */
TEST(test_tls_an_unreadable_content_length_is_poolds_400)
{
    static const char *const bad_length[] = {"Content-Length: 26x", "Content-Type: application/json", NULL};
    Server s;
    Resp r;

    start_small(&s);
    req_h(&s, "POST", "/v1/apply_async", "{\"func\":\"echo\",\"args\":[1]}", bad_length, &r);
    CHECK_INT(r.status, 400);
    CHECK_STR(resp_header(&r, "Content-Type") ?: "", "application/problem+json");
    CHECK_STR(resp_header(&r, "Connection") ?: "", "close");
    CHECK(r.json && strstr(json_string_value(jpath(r.json, "detail")) ?: "", "ambiguous"));
    resp_free(&r);
    stop_small(&s);
}

TEST(test_tls_a_certificate_it_cannot_use_stops_the_start_with_a_reason)
{
    char out[4096], bad[128];
    FILE *f;

    make_cert();
    const char *lone_cert[] = {"--tls-cert", cert, NULL};
    CHECK_INT(start_fails(lone_cert, out, sizeof(out)), 2);
    CHECK(strstr(out, "--tls-cert and --tls-key go together"));
    const char *missing[] = {"--tls-cert", "/nonexistent/cert.pem", "--tls-key", key, NULL};
    CHECK_INT(start_fails(missing, out, sizeof(out)), 2);
    CHECK(strstr(out, "cannot read /nonexistent/cert.pem"));
    /* Readable but not PEM: the daemon refuses it, poold says so and exits. */
    snprintf(bad, sizeof(bad), "%s/bad.pem", dir);
    CHECK((f = fopen(bad, "w")) != NULL);
    fputs("not a certificate\n", f);
    fclose(f);
    const char *garbage[] = {"--tls-cert", bad, "--tls-key", key, NULL};
    int st = start_fails(garbage, out, sizeof(out));
    CHECK(st != 0 && st != 2);
    CHECK(strstr(out, "certificate"));
    remove_tree(dir);
}

int
main(int argc, char **argv)
{
    curl_global_init(CURL_GLOBAL_ALL);
    return harness_run(argc, argv);
}
