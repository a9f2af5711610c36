/*
 * http_imap.c: imap and imap_unordered, streamed as NDJSON: the results,
 * in order or as they finish, each line as soon as it may go; failed items
 * as error lines; the requests refused before the stream begins, as
 * problems (bad calls, chunksize, a full queue). The flow of a stream
 * (windows, waiting for room, memory, hang-ups, cuts) is http_imap_flow.c.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "client.h"
#include "harness.h"
#include "lines.h"

static void
start(Server *s, const char *processes)
{
    const char *args[] = {"--processes", processes, NULL};

    server_start(s, args);
}

/* --- order and timing --- */

TEST(test_imap_writes_each_line_as_soon_as_those_before_it_are_done)
{
    Server s;
    Lines l = {.path = "/v1/imap", .body = "{\"func\":\"sleep\",\"iterable\":[0.2,1.5,0.2,0.2]}", .keep = 1};
    double t0;

    start(&s, "2");
    t0 = now_seconds();
    CHECK_INT(lines_post(&s, &l), CURLE_OK);
    CHECK_INT(l.status, 200);
    CHECK_STR(l.type, "application/x-ndjson\r\n");
    CHECK_INT(l.count, 4);
    CHECK(l.in_order);
    /* Item 0 is out at ~0.2 s, long before the slow item 1 ends at 1.5 s. */
    CHECK(l.first_at < 0.9);
    CHECK(now_seconds() - t0 >= 1.5);
    CHECK(json_number_value(jpath(l.lines, "1.result")) == 1.5);
    lines_free(&l);
    server_stop(&s);
}

TEST(test_imap_unordered_writes_in_completion_order)
{
    Server s;
    Lines l = {.path = "/v1/imap_unordered", .body = "{\"func\":\"sleep\",\"iterable\":[1.2,0.1,0.1]}", .keep = 1};

    start(&s, "2");
    CHECK_INT(lines_post(&s, &l), CURLE_OK);
    CHECK_INT(l.status, 200);
    CHECK_INT(l.count, 3);
    CHECK_INT(json_integer_value(jpath(l.lines, "2.index")), 0);
    CHECK(l.first_at < 0.8);
    lines_free(&l);
    server_stop(&s);
}

TEST(test_imap_a_failed_item_is_an_error_line_and_the_stream_goes_on)
{
    Server s;
    Lines l = {.path = "/v1/imap", .body = "{\"func\":\"fib\",\"iterable\":[10,-1,\"x\",12],\"chunksize\":2}", .keep = 1};

    start(&s, "2");
    CHECK_INT(lines_post(&s, &l), CURLE_OK);
    CHECK_INT(l.status, 200);
    CHECK_INT(l.count, 4);
    CHECK(l.in_order);
    CHECK_INT(json_integer_value(jpath(l.lines, "0.result")), 55);
    CHECK_STR(json_string_value(jpath(l.lines, "1.error.type")), "ValueError");
    CHECK_INT(json_integer_value(jpath(l.lines, "1.error.status")), 422);
    CHECK_STR(json_string_value(jpath(l.lines, "2.error.type")), "TypeError");
    CHECK_INT(json_integer_value(jpath(l.lines, "3.result")), 144);
    lines_free(&l);
    server_stop(&s);
}

TEST(test_imap_fifty_thousand_items_stream_completely)
{
    Server s;
    Lines l = {.path = "/v1/imap"};
    json_t *items = json_array(), *call;
    char *body;

    for (int i = 0; i < 50000; i++)
        json_array_append_new(items, json_integer(i));
    call = json_pack("{s:s, s:o}", "func", "echo", "iterable", items);
    body = json_dumps(call, JSON_COMPACT);
    json_decref(call);
    l.body = body;
    start(&s, "2");
    CHECK_INT(lines_post(&s, &l), CURLE_OK);
    CHECK_INT(l.status, 200);
    CHECK_INT(l.count, 50000);
    CHECK(l.in_order);
    CHECK_INT(json_integer_value(jpath(l.last, "result")), 49999);
    lines_free(&l);
    free(body);
    server_stop(&s);
}

/* --- requests --- */

TEST(test_imap_request_errors_before_the_stream_are_problems)
{
    Server s;
    Resp r;

    start(&s, "1");
    post(&s, "/v1/imap", "{\"func\":\"nope\",\"iterable\":[1]}", 404, &r);
    CHECK_STR(resp_header(&r, "Content-Type"), "application/problem+json");
    resp_free(&r);
    post(&s, "/v1/imap", "{\"func\":\"echo\",\"iterable\":[1],\"on_error\":\"raise\"}", 400, &r);
    resp_free(&r);
    post(&s, "/v1/imap_unordered", "{\"func\":\"echo\",\"iterable\":[1],\"buffersize\":0}", 400, &r);
    CHECK_STR(json_string_value(jpath(r.json, "field")), "buffersize");
    resp_free(&r);
    post(&s, "/v1/imap", "not json", 400, &r);
    resp_free(&r);
    /* Python's imap over nothing yields nothing: an empty stream. */
    post(&s, "/v1/imap", "{\"func\":\"echo\",\"iterable\":[]}", 200, &r);
    CHECK_INT(r.len, 0);
    resp_free(&r);
    server_stop(&s);
}

TEST(test_imap_ndjson_body_streams_its_items)
{
    Server s;
    const char *in[] = {"{\"func\":\"echo\",\"chunksize\":2}", "1", "\"two\"", "", "[3,\"]\"]", "{\"four\":4}", "5", NULL};
    LinesText t = {in, 0};
    Lines l = {.path = "/v1/imap", .gen = lines_text, .gen_ctx = &t, .keep = 1};

    start(&s, "2");
    CHECK_INT(lines_post(&s, &l), CURLE_OK);
    CHECK_INT(l.status, 200);
    CHECK_INT(l.count, 5); /* the blank line is no item */
    CHECK(l.in_order);
    CHECK_STR(json_string_value(jpath(l.lines, "1.result")), "two");
    CHECK_STR(json_string_value(jpath(l.lines, "2.result.1")), "]");
    CHECK_INT(json_integer_value(jpath(l.lines, "3.result.four")), 4);
    CHECK_INT(json_integer_value(jpath(l.lines, "4.result")), 5);
    lines_free(&l);
    server_stop(&s);
}

TEST(test_imap_ndjson_call_line_errors_are_problems)
{
    Server s;
    const char *nofunc[] = {"{\"func\":\"nope\"}", "1", NULL};
    const char *iterable[] = {"{\"func\":\"echo\",\"iterable\":[1]}", NULL};
    const char *empty[] = {NULL};
    const char *const *bodies[] = {nofunc, iterable, empty};
    long want[] = {404, 400, 400};

    start(&s, "1");
    for (int i = 0; i < 3; i++) {
        LinesText t = {bodies[i], 0};
        Lines l = {.path = "/v1/imap_unordered", .gen = lines_text, .gen_ctx = &t};
        CHECK_INT(lines_post(&s, &l), CURLE_OK);
        CHECK_INT(l.status, want[i]);
        CHECK(l.problem && strstr(l.problem, "\"status\":") != NULL);
        lines_free(&l);
    }
    server_stop(&s);
}

TEST(test_imap_a_line_that_is_not_json_ends_the_stream_after_the_items_before_it)
{
    Server s;
    const char *in[] = {"{\"func\":\"echo\"}", "1", "2", "{bad", "4", NULL};
    LinesText t = {in, 0};
    Lines l = {.path = "/v1/imap", .gen = lines_text, .gen_ctx = &t, .keep = 1};

    start(&s, "2");
    CHECK_INT(lines_post(&s, &l), CURLE_OK);
    CHECK_INT(l.status, 200);
    CHECK_INT(l.count, 3);
    CHECK_INT(json_integer_value(jpath(l.lines, "1.result")), 2);
    CHECK(json_is_true(jpath(l.last, "final")));
    CHECK_INT(json_integer_value(jpath(l.last, "error.status")), 400);
    lines_free(&l);
    /* The same when the good items had not filled a chunk yet: they run. */
    const char *in5[] = {"{\"func\":\"echo\",\"chunksize\":5}", "1", "2", "3", "{bad", NULL};
    LinesText t5 = {in5, 0};
    Lines l5 = {.path = "/v1/imap", .gen = lines_text, .gen_ctx = &t5, .keep = 1};
    CHECK_INT(lines_post(&s, &l5), CURLE_OK);
    CHECK_INT(l5.status, 200);
    CHECK_INT(l5.count, 4);
    CHECK_INT(json_integer_value(jpath(l5.lines, "2.result")), 3);
    CHECK_INT(json_integer_value(jpath(l5.last, "error.status")), 400);
    lines_free(&l5);
    /* A bad first item: nothing ran, a plain 400. */
    const char *in0[] = {"{\"func\":\"echo\"}", "{bad", "2", NULL};
    LinesText t0 = {in0, 0};
    Lines l0 = {.path = "/v1/imap", .gen = lines_text, .gen_ctx = &t0};
    CHECK_INT(lines_post(&s, &l0), CURLE_OK);
    CHECK_INT(l0.status, 400);
    CHECK(strncmp(l0.type, "application/problem+json", 24) == 0);
    lines_free(&l0);
    server_stop(&s);
}

/* --- chunking, and a queue full before the stream --- */

TEST(test_imap_chunksize_defaults_to_one)
{
    Server s;
    /* map's default would make chunks of two (16 / (4 x 2)): item 1 would
     * then wait for item 0. */
    Lines l = {.path = "/v1/imap_unordered", .keep = 1,
               .body = "{\"func\":\"sleep\",\"iterable\":[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}"};
    size_t at0 = 99, at1 = 99, i;
    json_t *line;

    start(&s, "2");
    CHECK_INT(lines_post(&s, &l), CURLE_OK);
    CHECK_INT(l.count, 16);
    json_array_foreach(l.lines, i, line) {
        if (json_integer_value(json_object_get(line, "index")) == 0)
            at0 = i;
        if (json_integer_value(json_object_get(line, "index")) == 1)
            at1 = i;
    }
    CHECK(at1 < at0);
    CHECK_INT(at0, 15);
    lines_free(&l);
    server_stop(&s);
}

TEST(test_imap_a_stream_chunksize_over_ten_thousand_is_a_400)
{
    Server s;
    Lines l = {.path = "/v1/imap", .body = "{\"func\":\"echo\",\"iterable\":[1],\"chunksize\":288230376151711744}"};
    const char *const lines[] = {"{\"func\":\"echo\",\"chunksize\":10001}", "1", NULL};
    LinesText t = {.lines = lines};
    Lines nd = {.path = "/v1/imap", .gen = lines_text, .gen_ctx = &t};

    start(&s, "2");
    CHECK_INT(lines_post(&s, &l), CURLE_OK);
    CHECK_INT(l.status, 400);
    CHECK(l.problem && strstr(l.problem, "chunksize"));
    CHECK_INT(lines_post(&s, &nd), CURLE_OK);
    CHECK_INT(nd.status, 400);
    lines_free(&l);
    lines_free(&nd);
    server_stop(&s);
}

TEST(test_imap_a_full_queue_before_the_stream_is_a_503_problem)
{
    static const char *const args[] = {"--processes", "1", "--max-queue", "2", NULL};
    BgCall c = {.path = "/v1/apply", .body = "{\"func\":\"sleep\",\"args\":[3]}"};
    const char *const lines[] = {"{\"func\":\"echo\"}", "1", "2", NULL};
    LinesText t = {.lines = lines};
    Lines l = {.path = "/v1/imap", .body = "{\"func\":\"echo\",\"iterable\":[1,2]}"};
    Lines nd = {.path = "/v1/imap", .gen = lines_text, .gen_ctx = &t};
    pthread_t th;
    Server s;

    server_start(&s, args);
    c.s = &s;
    CHECK(pthread_create(&th, NULL, bg_call_run, &c) == 0);
    CHECK(await_pool_number(&s, "queue.running", 1, 5));
    CHECK(fill_queue(&s) > 0);
    CHECK_INT(lines_post(&s, &l), CURLE_OK);
    CHECK_INT(l.status, 503);
    CHECK(l.problem && strstr(l.problem, "queue"));
    CHECK_INT(lines_post(&s, &nd), CURLE_OK);
    CHECK_INT(nd.status, 503);
    CHECK(strncmp(nd.type, "application/problem+json", 24) == 0);
    /* The same when the items end before a whole chunk. */
    const char *partial[] = {"{\"func\":\"echo\",\"chunksize\":10}", "1", "2", "3", NULL};
    LinesText tp = {.lines = partial};
    Lines np = {.path = "/v1/imap", .gen = lines_text, .gen_ctx = &tp};
    CHECK_INT(lines_post(&s, &np), CURLE_OK);
    CHECK_INT(np.status, 503);
    lines_free(&np);
    pthread_join(th, NULL);
    resp_free(&c.r);
    lines_free(&l);
    lines_free(&nd);
    server_stop(&s);
}

int
main(int argc, char **argv)
{
    curl_global_init(CURL_GLOBAL_ALL);
    return harness_run(argc, argv);
}
