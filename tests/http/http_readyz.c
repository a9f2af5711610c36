/*
 * http_readyz.c: what GET /readyz tells, and to whom. It is open; under
 * --api-key a caller without the key learns what is wrong but not the
 * detail (the store's path, the system's error), which a caller with the
 * key and the log still get. Its Retry-After is said only when true: the
 * rest of a crash loop's backoff, none while poold stops or while the
 * store cannot write.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"

#define KEY "readyz-key-4f1a9c"

/* GET /readyz with the key (auth) or without (NULL). */
static void
readyz(const Server *s, const char *auth, Resp *r)
{
    const char *h[] = {auth, NULL};

    CHECK(req_h(s, "GET", "/readyz", NULL, auth ? h : NULL, r) == 0);
}

static const char *
detail(const Resp *r)
{
    return json_string_value(jpath(r->json, "detail")) ?: "";
}

TEST(test_readyz_tells_a_caller_without_the_key_no_path_and_no_system_error)
{
    char file[64], dir[96], keyed[300];
    const char *args[] = {"--api-key", KEY, "--processes", "1", "--data-dir", dir, NULL};
    Server s;
    Resp r;
    int fd;

    snprintf(file, sizeof(file), "/tmp/poold-test-notadir-XXXXXX");
    CHECK((fd = mkstemp(file)) >= 0);
    close(fd);
    snprintf(dir, sizeof(dir), "%s/data", file); /* under a regular file: the store cannot open */
    server_start(&s, args);
    /* With the key: the whole reason, once the worker is up. */
    for (double end = now_seconds() + 10; now_seconds() < end; usleep(20 * 1000)) {
        readyz(&s, "Authorization: Bearer " KEY, &r);
        snprintf(keyed, sizeof(keyed), "%s", detail(&r));
        resp_free(&r);
        if (strstr(keyed, "job store"))
            break;
    }
    fprintf(stderr, "    with the key: %s\n", keyed);
    CHECK(strstr(keyed, file) != NULL);
    readyz(&s, NULL, &r);
    fprintf(stderr, "    without: %s\n", detail(&r));
    CHECK_INT(r.status, 503);
    CHECK(strstr(resp_header(&r, "Content-Type") ?: "", "application/problem+json"));
    CHECK(strstr(detail(&r), "the job store cannot be written") != NULL);
    CHECK(strstr(detail(&r), file) == NULL);
    CHECK(strstr(detail(&r), strchr(keyed, ':') ?: keyed) == NULL); /* nor what follows the words */
    /* A store that cannot open waits for a restart: no second will do. */
    CHECK(resp_header(&r, "Retry-After") == NULL);
    resp_free(&r);
    readyz(&s, "Authorization: Bearer wrong-key-000", &r);
    CHECK_INT(r.status, 503);
    CHECK(strstr(detail(&r), file) == NULL);
    resp_free(&r);
    server_stop(&s);
    unlink(file);
}

/* While workers crash at start-up, Retry-After is what is left of the
 * backoff (which grows 1, 2, 4 s...), never more than the wait it names. */
TEST(test_readyz_retry_after_is_what_is_left_of_a_crash_loops_backoff)
{
    char flag[64];
    const char *args[] = {"--plugin", test_plugin(), "--processes", "2", NULL};
    Server s;
    Resp r;
    int longest = 0;

    snprintf(flag, sizeof(flag), "/tmp/poold-test-crash-%d", (int)getpid());
    fclose(fopen(flag, "w"));
    setenv("MISBEHAVE_CRASH_AT_START", flag, 1);
    server_start(&s, args);
    unsetenv("MISBEHAVE_CRASH_AT_START");
    for (double end = now_seconds() + 15; longest < 2 && now_seconds() < end; usleep(20 * 1000)) {
        const char *waits;
        readyz(&s, NULL, &r);
        CHECK_INT(r.status, 503);
        if ((waits = strstr(detail(&r), "the next spawn waits "))) {
            int after = atoi(resp_header(&r, "Retry-After") ?: "0");
            CHECK(after >= 1 && after <= atof(waits + 21) + 0.999);
            longest = after > longest ? after : longest;
        }
        resp_free(&r);
    }
    CHECK(longest >= 2);
    unlink(flag);
    server_stop(&s);
}

TEST(test_readyz_says_no_retry_after_while_poold_stops)
{
    static const char *const args[] = {"--processes", "1", "--shutdown-grace", "1.5", NULL};
    BgCall c = {.path = "/v1/apply", .body = "{\"func\":\"sleep\",\"args\":[30]}"};
    Server s;
    pthread_t t;
    Resp r = {0};
    int st;

    server_start(&s, args);
    c.s = &s;
    CHECK(pthread_create(&t, NULL, bg_call_run, &c) == 0);
    CHECK(await_pool_number(&s, "queue.running", 1, 5));
    CHECK(kill(s.pid, SIGTERM) == 0);
    for (double end = now_seconds() + 1; now_seconds() < end; usleep(10 * 1000)) {
        readyz(&s, NULL, &r);
        if (r.status == 503)
            break;
        resp_free(&r);
    }
    CHECK_INT(r.status, 503);
    CHECK(strstr(detail(&r), "shutting down") != NULL);
    CHECK(resp_header(&r, "Retry-After") == NULL);
    resp_free(&r);
    pthread_join(t, NULL);
    resp_free(&c.r);
    CHECK(waitpid(s.pid, &st, 0) == s.pid);
    server_reaped(&s, st);
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
