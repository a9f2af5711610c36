/*
 * http_faults.c: the pool under real faults: long tasks beside short ones,
 * workers killed with SIGKILL, clients that hang up, the fork server
 * killed, and stop signals. Each test starts its own poold.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"

TEST(test_faults_short_tasks_do_not_wait_behind_a_long_one)
{
    static const char *const args[] = {"--processes", "2", NULL};
    Server s;
    Resp r;
    double t0, took;

    server_start(&s, args);
    /* Written ahead two by two, eight to a worker, the 0.1 s items would
     * queue behind the 3 s one on its worker (3.7 s in all); taken back by
     * the idle worker, the whole map takes the 3 s of the long item. */
    t0 = now_seconds();
    CHECK(req(&s, "POST", "/v1/map",
              "{\"func\":\"sleep\",\"chunksize\":1,\"iterable\":"
              "[3,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1]}", &r) == 0);
    took = now_seconds() - t0;
    CHECK_INT(r.status, 200);
    CHECK_INT(json_array_size(jpath(r.json, "results")), 16);
    resp_free(&r);
    if (took >= 3.5)
        fprintf(stderr, "    took %.2f s\n", took);
    CHECK(took < 3.5);
    server_stop(&s);
}

TEST(test_faults_dead_workers_unstarted_tasks_run_on_its_replacement)
{
    static const char *const args[] = {"--processes", "1", NULL};
    BgCall c = {.path = "/v1/map",
              .body = "{\"func\":\"sleep\",\"chunksize\":1,\"on_error\":\"collect\","
                      "\"iterable\":[5,0.1,0.1,0.1,0.1,0.1]}"};
    Server s;
    pthread_t t;
    int victim = 0;

    server_start(&s, args);
    c.s = &s;
    CHECK(pthread_create(&t, NULL, bg_call_run, &c) == 0);
    CHECK(await_pool_number(&s, "queue.running", 1, 5)); /* the 5 s item runs */
    victim = worker_in_state(&s, "busy");
    CHECK(victim > 0);
    CHECK(kill(victim, SIGKILL) == 0);
    pthread_join(t, NULL);
    CHECK_INT(c.r.status, 200);
    /* Only the item that was running is lost; the five written ahead to
     * the dead worker ran on its replacement. */
    CHECK_STR(json_string_value(jpath(c.r.json, "results.0.error.type")), "WorkerLost");
    CHECK_INT(json_integer_value(jpath(c.r.json, "results.0.error.status")), 502);
    for (int i = 1; i <= 5; i++) {
        char path[32];
        snprintf(path, sizeof(path), "results.%d", i);
        CHECK(json_real_value(jpath(c.r.json, path)) == 0.1);
    }
    resp_free(&c.r);
    server_stop(&s);
}

TEST(test_faults_client_that_hangs_up_cancels_its_work)
{
    static const char *const args[] = {"--processes", "1", NULL};
    static const char body[] = "{\"func\":\"sleep\",\"chunksize\":1,\"iterable\":[3,3,3,3,3,3,3,3,3,3]}";
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char head[256];
    Server s;
    Resp r;
    int fd;

    server_start(&s, args);
    a.sin_port = htons((uint16_t)s.port);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    snprintf(head, sizeof(head), "POST /v1/map HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
             strlen(body));
    CHECK(send(fd, head, strlen(head), 0) > 0);
    CHECK(send(fd, body, strlen(body), 0) > 0);
    CHECK(await_pool_number(&s, "queue.running", 1, 5));
    close(fd); /* the client goes away: 30 s of sleeps for nobody */
    CHECK(await_pool_number(&s, "queue.running", 0, 2));
    CHECK_INT(pool_number(&s, "queue.queued"), 0);
    CHECK_INT(pool_number(&s, "queue.sent"), 0);
    /* The pool is free for the next call at once. */
    double t0 = now_seconds();
    for (int ok = 0; !ok && now_seconds() - t0 < 3; usleep(20 * 1000)) {
        CHECK(req(&s, "POST", "/v1/apply", "{\"func\":\"echo\",\"args\":[1]}", &r) == 0);
        ok = r.status == 200;
        resp_free(&r);
    }
    CHECK(now_seconds() - t0 < 1.5);
    server_stop(&s);
}

TEST(test_faults_fork_server_death_answers_calls_and_exits_nonzero)
{
    static const char *const args[] = {"--processes", "1", NULL};
    BgCall c = {.path = "/v1/apply", .body = "{\"func\":\"sleep\",\"args\":[10]}"};
    Server s;
    pthread_t t;
    int fs, st = 0;
    double t0;

    server_start(&s, args);
    c.s = &s;
    CHECK(pthread_create(&t, NULL, bg_call_run, &c) == 0);
    CHECK(await_pool_number(&s, "queue.running", 1, 5));
    fs = parent_pid(worker_in_state(&s, "busy"));
    CHECK(fs > 0 && fs != s.pid);
    t0 = now_seconds();
    CHECK(kill(fs, SIGKILL) == 0);
    pthread_join(t, NULL);
    CHECK(now_seconds() - t0 < 3); /* not after the 10 s sleep */
    CHECK_INT(c.r.status, 502);
    resp_free(&c.r);
    /* poold cannot replace workers any more: it stops, and says so. */
    s.expect_exit = 6;
    for (double end = now_seconds() + 10; now_seconds() < end; usleep(20 * 1000))
        if (waitpid(s.pid, &st, WNOHANG) == s.pid) {
            server_reaped(&s, st);
            break;
        }
    CHECK_INT(s.pid, 0);
    CHECK(WIFEXITED(st));
    CHECK_INT(WEXITSTATUS(st), 6);
}

TEST(test_faults_second_stop_signal_exits_at_once)
{
    static const char *const args[] = {"--processes", "1", NULL};
    BgCall c = {.path = "/v1/apply", .body = "{\"func\":\"sleep\",\"args\":[20]}"};
    Server s;
    pthread_t t;
    int st = 0;
    double t0;

    server_start(&s, args);
    c.s = &s;
    CHECK(pthread_create(&t, NULL, bg_call_run, &c) == 0);
    CHECK(await_pool_number(&s, "queue.running", 1, 5));
    kill(s.pid, SIGTERM); /* graceful: would wait for the 20 s task */
    usleep(200 * 1000);
    t0 = now_seconds();
    kill(s.pid, SIGINT);
    CHECK(waitpid(s.pid, &st, 0) == s.pid);
    s.expect_exit = 1;
    server_reaped(&s, st);
    CHECK(now_seconds() - t0 < 2);
    CHECK(WIFEXITED(st));
    CHECK_INT(WEXITSTATUS(st), 1);
    pthread_join(t, NULL);
    resp_free(&c.r);
}

TEST(test_faults_sigterm_runs_the_queue_before_exiting)
{
    static const char *const args[] = {"--processes", "1", "--max-queue", "100", NULL};
    BgCall c = {.path = "/v1/map",
              .body = "{\"func\":\"sleep\",\"chunksize\":1,\"iterable\":[0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2]}"};
    Server s;
    pthread_t t;
    int st;

    server_start(&s, args);
    c.s = &s;
    CHECK(pthread_create(&t, NULL, bg_call_run, &c) == 0);
    CHECK(await_pool_number(&s, "queue.queued", 4, 5)); /* 8 written ahead, 4 queued */
    st = server_stop(&s);
    pthread_join(t, NULL);
    /* Accepted work is finished, not thrown away (Pool.close + join). */
    CHECK_INT(c.r.status, 200);
    CHECK_INT(json_array_size(jpath(c.r.json, "results")), 12);
    resp_free(&c.r);
    CHECK(WIFEXITED(st));
    CHECK_INT(WEXITSTATUS(st), 0);
}

TEST(test_faults_graceful_stop_replaces_a_worker_that_dies)
{
    static const char *const args[] = {"--processes", "1", NULL};
    static const char body[] = "{\"func\":\"sleep\",\"args\":[3]}";
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    BgCall c = {.path = "/v1/map",
              .body = "{\"func\":\"echo\",\"chunksize\":1,\"iterable\":[1,2,3,4,5]}"};
    char head[256];
    Server s;
    pthread_t t;
    int fd, st;

    server_start(&s, args);
    c.s = &s;
    a.sin_port = htons((uint16_t)s.port);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    snprintf(head, sizeof(head), "POST /v1/apply HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    CHECK(send(fd, head, strlen(head), 0) > 0);
    CHECK(await_pool_number(&s, "queue.running", 1, 5));
    CHECK(pthread_create(&t, NULL, bg_call_run, &c) == 0);
    CHECK(await_pool_number(&s, "queue.sent", 5, 5));
    kill(s.pid, SIGTERM);
    usleep(200 * 1000);
    close(fd); /* the running call's client leaves: its worker is killed */
    pthread_join(t, NULL);
    /* The worker was replaced and the accepted map still ran. */
    CHECK_INT(c.r.status, 200);
    CHECK_STR(c.r.body, "{\"results\":[1,2,3,4,5]}");
    resp_free(&c.r);
    CHECK(waitpid(s.pid, &st, 0) == s.pid);
    server_reaped(&s, st);
    CHECK(WIFEXITED(st));
    CHECK_INT(WEXITSTATUS(st), 0);
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
