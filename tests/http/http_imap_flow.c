/*
 * http_imap_flow.c: how an imap stream flows: bounded memory with an
 * NDJSON body of a million items, buffersize's window, a stream that
 * waits for room in the queue (and costs no CPU meanwhile), results past
 * --max-spill, a line past --max-body and a rest without end, a client
 * that hangs up stopping the work, and a stream cut by shutdown. The results and the refusals are http_imap.c's.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "client.h"
#include "harness.h"
#include "lines.h"
#include "rawhttp.h"

static void
start(Server *s, const char *processes)
{
    const char *args[] = {"--processes", processes, NULL};

    server_start(s, args);
}

/* --- bounds --- */

/* A million NDJSON items, made as curl asks for them; samples poold's RSS
 * as it goes. */
typedef struct Million {
    long next, total;
    int pid;
    long rss_max;
} Million;

static size_t
million_gen(char *buf, size_t max, void *ctx)
{
    Million *m = ctx;
    size_t off = 0;

    if (m->next < 0) {
        off = (size_t)snprintf(buf, max, "{\"func\":\"echo\",\"chunksize\":16}\n");
        m->next = 0;
    }
    while (m->next < m->total && off + 24 < max) {
        off += (size_t)snprintf(buf + off, max - off, "%ld\n", m->next);
        if (++m->next % 20000 == 0) {
            long kib = rss_kib(m->pid);
            if (kib > m->rss_max)
                m->rss_max = kib;
        }
    }
    return off;
}

TEST(test_imap_a_million_ndjson_items_stream_through_in_bounded_memory)
{
    Server s;
    Million m = {.next = -1, .total = 1000000};
    Lines l = {.path = "/v1/imap", .gen = million_gen, .gen_ctx = &m, .timeout = 600};
    long most, idle;
    Resp r;

    start(&s, "2");
    /* Warm up: the first calls grow the allocator's arenas once. */
    post(&s, "/v1/map", "{\"func\":\"echo\",\"iterable\":[1,2,3,4,5,6,7,8]}", 200, &r);
    resp_free(&r);
    idle = rss_kib(s.pid);
    m.pid = l.rss_pid = s.pid;
    m.rss_max = l.rss_max = idle;
    CHECK_INT(lines_post(&s, &l), CURLE_OK);
    CHECK_INT(l.status, 200);
    CHECK_INT(l.count, 1000000);
    CHECK(l.in_order);
    CHECK_INT(json_integer_value(jpath(l.last, "result")), 999999);
    most = m.rss_max > l.rss_max ? m.rss_max : l.rss_max;
    if (rss_kib(s.pid) > most)
        most = rss_kib(s.pid);
    fprintf(stderr, "    RSS idle %ld KiB, at most %ld KiB uploading, %ld KiB reading\n", idle, m.rss_max,
            l.rss_max);
    /* AddressSanitizer keeps freed memory in quarantine: its RSS says
     * nothing about ours. Holding the million lines, or the items, would
     * cost 30 to 80 MiB: the bound is well under either. */
    if (!getenv("POOLD_SANITIZED") || strcmp(getenv("POOLD_SANITIZED"), "1") != 0)
        CHECK(most - idle < 16 * 1024);
    lines_free(&l);
    server_stop(&s);
}

TEST(test_imap_buffersize_bounds_the_items_in_flight)
{
    Server s;
    Lines l = {.path = "/v1/imap_unordered",
               .body = "{\"func\":\"sleep\",\"iterable\":[0.3,0.3,0.3,0.3,0.3,0.3],\"buffersize\":2}"};
    double t0;

    start(&s, "4");
    t0 = now_seconds();
    CHECK_INT(lines_post(&s, &l), CURLE_OK);
    CHECK_INT(l.count, 6);
    /* Two at a time on four workers: three rounds, not two. */
    CHECK(now_seconds() - t0 >= 0.85);
    lines_free(&l);
    server_stop(&s);
}

/* --- the queue, idleness --- */

TEST(test_imap_a_stream_longer_than_max_queue_waits_for_room)
{
    static const char *const args[] = {"--processes", "1", "--max-queue", "3", NULL};
    Server s;
    Lines l = {.path = "/v1/imap", .body = "{\"func\":\"echo\",\"iterable\":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,"
                                           "15,16,17,18,19,20,21,22,23,24,25,26,27,28,29]}"};
    static char nums[31][8];
    const char *lines[40];
    LinesText t = {.lines = lines};
    Lines nd = {.path = "/v1/imap_unordered", .gen = lines_text, .gen_ctx = &t};

    lines[0] = "{\"func\":\"echo\"}";
    for (int i = 1; i <= 30; i++) {
        snprintf(nums[i], sizeof(nums[i]), "%u", (unsigned)i % 1000u);
        lines[i] = nums[i];
    }
    lines[31] = NULL;
    server_start(&s, args);
    CHECK_INT(lines_post(&s, &l), CURLE_OK);
    CHECK_INT(l.status, 200);
    CHECK_INT(l.count, 30);
    CHECK(l.in_order);
    CHECK(!json_object_get(l.last, "final"));
    CHECK_INT(lines_post(&s, &nd), CURLE_OK);
    CHECK_INT(nd.status, 200);
    CHECK_INT(nd.count, 30);
    CHECK(!json_object_get(nd.last, "final"));
    lines_free(&l);
    lines_free(&nd);
    server_stop(&s);
}

/* A request whose stream runs on another thread, to watch poold meanwhile. */
typedef struct LinesJob {
    const Server *s;
    Lines *l;
} LinesJob;

static void *
lines_post_run(void *arg)
{
    LinesJob *j = arg;

    lines_post(j->s, j->l);
    return NULL;
}

/* Submits async jobs until told to stop: they take the queue's room. */
typedef struct Rival {
    const Server *s;
    int stop;
    long accepted;
} Rival;

static void *
rival_run(void *arg)
{
    Rival *rv = arg;
    Resp r;

    while (!__atomic_load_n(&rv->stop, __ATOMIC_ACQUIRE)) {
        if (req(rv->s, "POST", "/v1/apply_async", "{\"func\":\"sleep\",\"args\":[0.005]}", &r) == 0 &&
            r.status == 202)
            rv->accepted++;
        resp_free(&r);
    }
    return NULL;
}

TEST(test_imap_a_stream_waits_out_a_queue_that_others_keep_full)
{
    static const char *const args[] = {"--processes", "1", "--max-queue", "1", NULL};
    Lines l = {.path = "/v1/imap", .body = "{\"func\":\"sleep\",\"iterable\":[0.01,0.01,0.01,0.01,0.01,"
                                           "0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,"
                                           "0.01,0.01,0.01],\"buffersize\":1}"};
    Rival rv;
    pthread_t th[2];
    Server s;

    LinesJob job = {&s, &l};
    pthread_t st;

    server_start(&s, args);
    rv = (Rival){.s = &s};
    CHECK(pthread_create(&st, NULL, lines_post_run, &job) == 0);
    CHECK(await_pool_number(&s, "queue.running", 1, 5)); /* begun: then the rivals come */
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&th[i], NULL, rival_run, &rv) == 0);
    pthread_join(st, NULL);
    __atomic_store_n(&rv.stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    CHECK(rv.accepted > 0);
    /* Started, it is never cut by the queue: it waits for room. */
    CHECK_INT(l.status, 200);
    CHECK_INT(l.count, 20);
    CHECK(l.in_order);
    CHECK(!json_object_get(l.last, "final"));
    lines_free(&l);
    server_stop(&s);
}

TEST(test_imap_a_waiting_stream_costs_no_cpu)
{
    Server s;
    Lines l = {.path = "/v1/imap", .body = "{\"func\":\"sleep\",\"iterable\":[0.1,2.5]}"};
    LinesJob job = {&s, &l};
    pthread_t th;
    double cpu0;

    start(&s, "2");
    CHECK(pthread_create(&th, NULL, lines_post_run, &job) == 0);
    CHECK(await_pool_number(&s, "queue.running", 1, 5)); /* the first line is out, the 2.5 s item runs */
    usleep(300 * 1000);
    cpu0 = cpu_seconds(s.pid);
    sleep_seconds(1.5);
    /* Its connection sleeps, suspended: no thread spins for it. */
    CHECK(cpu_seconds(s.pid) - cpu0 < 0.1);
    pthread_join(th, NULL);
    CHECK_INT(l.count, 2);
    lines_free(&l);
    server_stop(&s);
}

/* --- hang-ups and stops --- */

TEST(test_imap_a_client_that_hangs_up_mid_stream_stops_the_work)
{
    Server s;
    Lines l = {.path = "/v1/imap", .hang_up_after = 1,
               .body = "{\"func\":\"sleep\",\"iterable\":[0.1,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5]}"};
    double t0;

    start(&s, "2");
    lines_post(&s, &l);
    CHECK_INT(l.count, 1);
    t0 = now_seconds();
    /* The workers running 5 s each are killed at once, nothing else
     * starts: left alone they would run for 5 s more. */
    CHECK(await_pool_number(&s, "queue.running", 0, 5));
    CHECK(await_pool_number(&s, "queue.queued", 0, 1));
    CHECK(now_seconds() - t0 < 1.0);
    CHECK(await_idle_workers(&s, 2, 5));
    lines_free(&l);
    server_stop(&s);
}

TEST(test_imap_a_client_that_hangs_up_before_any_line_stops_the_work)
{
    Server s;
    Lines l = {.path = "/v1/imap_unordered", .timeout = 0.5,
               .body = "{\"func\":\"sleep\",\"iterable\":[30,30,30,30]}"};

    start(&s, "2");
    CHECK_INT(lines_post(&s, &l), CURLE_OPERATION_TIMEDOUT);
    CHECK_INT(l.count, 0);
    /* Noticed while the connection sleeps, not 30 s later. */
    CHECK(await_pool_number(&s, "queue.running", 0, 3));
    CHECK_INT(pool_number(&s, "queue.queued"), 0);
    CHECK(await_idle_workers(&s, 2, 5));
    lines_free(&l);
    server_stop(&s);
}

/* "1" lines after a call line, `limit` of them, `per` at a time with
 * pause_ms between: an upload that takes its time. */
typedef struct Endless {
    const char *call;
    long sent, limit, per;
    int pause_ms;
} Endless;

static size_t
endless_gen(char *buf, size_t max, void *ctx)
{
    Endless *e = ctx;
    size_t off = 0;
    long upto = e->per ? e->sent + e->per : e->limit;

    if (e->sent == 0)
        off = (size_t)snprintf(buf, max, "%s\n", e->call);
    else if (e->pause_ms)
        usleep((useconds_t)e->pause_ms * 1000);
    while (off + 8 < max && e->sent < e->limit && e->sent < upto) {
        memcpy(buf + off, "1\n", 2);
        off += 2;
        e->sent++;
    }
    return off;
}

TEST(test_imap_results_past_max_spill_end_the_stream_with_413)
{
    Server s;
    const char *args[] = {"--processes", "2", "--max-spill", "300K", NULL};
    /* 40,000 lines every 50 ms: results pile up while the body uploads. */
    Endless e = {.call = "{\"func\":\"echo\",\"chunksize\":64}", .limit = 400000, .per = 40000,
                 .pause_ms = 50};
    Lines l = {.path = "/v1/imap", .gen = endless_gen, .gen_ctx = &e};

    server_start(&s, args);
    CHECK_INT(lines_post(&s, &l), CURLE_OK);
    CHECK_INT(l.status, 200);
    /* The lines held are written, then the reason; the rest of the body
     * was read and dropped. */
    CHECK(l.count > 1000 && l.count < 400000);
    CHECK(l.in_order);
    CHECK(json_is_true(jpath(l.last, "final")));
    CHECK_INT(json_integer_value(jpath(l.last, "error.status")), 413);
    CHECK_STR(json_string_value(jpath(l.last, "error.type")), "TooLarge");
    CHECK_INT(e.sent, 400000);
    lines_free(&l);
    server_stop(&s);
}

/* A line past --max-body, then a rest that does not end: once --max-body
 * of the rest was dropped, the answer goes before the body's end (the
 * results of the items before the line, then a final TooLarge line), and
 * the connection is closed after as much again: the producer is cut. */
TEST(test_imap_a_line_past_max_body_then_no_end_is_answered_and_cut)
{
    Server s;
    const char *args[] = {"--processes", "2", "--max-body", "4096", NULL};
    LinesOverlong o = {.head = "{\"func\":\"echo\"}\n1\n2\n", .overlong = 8192, .limit = (size_t)1 << 40};
    Lines l = {.path = "/v1/imap", .gen = lines_overlong, .gen_ctx = &o, .keep = 1, .timeout = 30};
    CURLcode rc;

    server_start(&s, args);
    rc = lines_post(&s, &l);
    if (l.status != 200)
        fprintf(stderr, "    curl %d, status %ld, %zu lines, %zu bytes sent\n", rc, l.status, l.count, o.sent);
    CHECK_INT(l.status, 200);
    CHECK_INT(l.count, 3);
    CHECK_INT(json_integer_value(jpath(l.lines, "0.result")), 1);
    CHECK_INT(json_integer_value(jpath(l.lines, "1.result")), 2);
    CHECK(json_is_true(jpath(l.last, "final")));
    CHECK_STR(json_string_value(jpath(l.last, "error.type")), "TooLarge");
    CHECK_INT(json_integer_value(jpath(l.last, "error.status")), 413);
    CHECK(rc != CURLE_OPERATION_TIMEDOUT); /* cut: not held until the client gave up */
    lines_free(&l);
    check_still_up(&s);
    server_stop(&s);
}

/* Of a line past --max-body, only the bytes past the limit count as the
 * unwanted rest that makes poold answer before the body's end: a line of
 * --max-body and 400 bytes, then 3,000 more, sent in one piece, leave the
 * answer for the end of the body (with --max-body more, it would go). */
TEST(test_imap_a_line_past_max_body_counts_from_the_limit)
{
    static const char *const args[] = {"--max-body", "4096", "--processes", "1", NULL};
    static const char head[] = "POST /v1/imap HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n";
    enum { LINE = 4096 + 400, REST = 3000 };
    const char *call = "{\"func\":\"echo\"}\n1\n";
    size_t n = strlen(call) + LINE + REST;
    char *piece = malloc(n + 64);
    struct pollfd p;
    Server s;
    RawAnswer a;

    CHECK(piece != NULL);
    int k = sprintf(piece, "%zx\r\n%s", n, call);
    memset(piece + k, 'a', LINE);
    memset(piece + k + LINE, '\n', REST);
    memcpy(piece + k + LINE + REST, "\r\n", 2);
    server_start(&s, args);
    int fd = raw_connect(NULL, s.port);
    CHECK(raw_send(fd, head, strlen(head)) == 0);
    CHECK(raw_send(fd, piece, (size_t)k + LINE + REST + 2) == 0);
    p = (struct pollfd){.fd = fd, .events = POLLIN};
    CHECK_INT(poll(&p, 1, 1000), 0); /* the body has not ended: no answer yet */
    CHECK(raw_send(fd, LIT("0\r\n\r\n")) == 0);
    raw_read(fd, 5, &a);
    CHECK_INT(a.status, 200);
    CHECK(strstr(a.text, "{\"index\":0,\"result\":1}\n") != NULL);
    CHECK(strstr(a.text, "\"type\":\"TooLarge\"") != NULL);
    raw_free(&a);
    close(fd);
    free(piece);
    server_stop(&s);
}

TEST(test_imap_a_client_that_hangs_up_while_uploading_stops_the_work)
{
    Server s;
    /* Two slow items fill the window: poold stops reading, the client
     * gives up. (The body is small: a FIN queued behind body bytes that
     * poold has not read yet can only be seen once they are read.) */
    Endless e = {.call = "{\"func\":\"sleep\",\"buffersize\":2}", .limit = 1000};
    Lines l = {.path = "/v1/imap_unordered", .gen = endless_gen, .gen_ctx = &e, .timeout = 0.7};

    start(&s, "2");
    CHECK_INT(lines_post(&s, &l), CURLE_OPERATION_TIMEDOUT);
    CHECK_INT(l.count, 0);
    CHECK(await_pool_number(&s, "queue.running", 0, 3));
    CHECK_INT(pool_number(&s, "queue.queued"), 0);
    CHECK(await_idle_workers(&s, 2, 5));
    lines_free(&l);
    server_stop(&s);
}

TEST(test_imap_a_stream_cut_by_shutdown_ends_with_a_final_line)
{
    Server s;
    Lines l = {.path = "/v1/imap", .keep = 1,
               .body = "{\"func\":\"sleep\",\"iterable\":[0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2,"
                       "0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2],\"buffersize\":1}"};
    pid_t child;
    int st;

    start(&s, "1");
    /* SIGTERM once the stream has begun. */
    if ((child = fork()) == 0) {
        usleep(500 * 1000);
        kill(s.pid, SIGTERM);
        _exit(0);
    }
    CHECK_INT(lines_post(&s, &l), CURLE_OK);
    waitpid(child, &st, 0);
    CHECK_INT(l.status, 200);
    CHECK(l.count >= 2 && l.count < 20);
    CHECK(l.in_order);
    CHECK(json_is_true(jpath(l.last, "final")));
    CHECK_INT(json_integer_value(jpath(l.last, "error.status")), 503);
    CHECK_STR(json_string_value(jpath(l.last, "error.type")), "ShuttingDown");
    lines_free(&l);
    /* The first SIGTERM stops poold: a clean exit, soon. */
    st = -1;
    for (double end = now_seconds() + 10; now_seconds() < end; usleep(20 * 1000))
        if (waitpid(s.pid, &st, WNOHANG) == s.pid)
            break;
    server_reaped(&s, st);
    CHECK(WIFEXITED(st));
    CHECK_INT(WEXITSTATUS(st), 0);
}

int
main(int argc, char **argv)
{
    curl_global_init(CURL_GLOBAL_ALL);
    return harness_run(argc, argv);
}
