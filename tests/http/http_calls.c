/*
 * http_calls.c: POST /v1/apply, /v1/map and /v1/starmap against a real
 * poold with two workers, and every error status those calls can give.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "harness.h"

static Server srv;

/* Checks an RFC 9457 answer with the given status. */
static void
check_problem(const Resp *r, long status)
{
    CHECK_STR(resp_header(r, "Content-Type"), "application/problem+json");
    CHECK(r->json != NULL);
    CHECK_INT(json_integer_value(jpath(r->json, "status")), status);
    CHECK(json_is_string(jpath(r->json, "type")));
    CHECK(json_is_string(jpath(r->json, "title")));
    CHECK(json_is_string(jpath(r->json, "detail")));
}

TEST(test_apply_pow_returns_the_seed_result)
{
    Resp r;

    post(&srv, "/v1/apply", "{\"func\":\"pow\",\"args\":[10,10]}", 200, &r);
    CHECK_STR(resp_header(&r, "Content-Type"), "application/json");
    CHECK_STR(r.body, "{\"result\":10000000000}");
    resp_free(&r);
}

TEST(test_apply_binds_keyword_arguments)
{
    Resp r;

    post(&srv, "/v1/apply", "{\"func\":\"pow\",\"args\":[2],\"kwds\":{\"exp\":10}}", 200, &r);
    CHECK_INT(json_integer_value(jpath(r.json, "result")), 1024);
    resp_free(&r);
}

TEST(test_apply_negative_exponent_answers_a_real)
{
    Resp r;

    post(&srv, "/v1/apply", "{\"func\":\"pow\",\"args\":[2,-2]}", 200, &r);
    CHECK(json_is_real(jpath(r.json, "result")));
    CHECK(json_real_value(jpath(r.json, "result")) == 0.25);
    resp_free(&r);
}

TEST(test_apply_builtins_answer)
{
    Resp r;

    post(&srv, "/v1/apply", "{\"func\":\"echo\",\"args\":[{\"a\":[1,\"x\",null]}]}", 200, &r);
    CHECK_STR(r.body, "{\"result\":{\"a\":[1,\"x\",null]}}");
    resp_free(&r);
    post(&srv, "/v1/apply", "{\"func\":\"sum\",\"args\":[[1,2,3,4]]}", 200, &r);
    CHECK_INT(json_integer_value(jpath(r.json, "result")), 10);
    resp_free(&r);
    post(&srv, "/v1/apply", "{\"func\":\"fib\",\"args\":[92]}", 200, &r);
    CHECK_STR(r.body, "{\"result\":7540113804746346429}");
    resp_free(&r);
    post(&srv, "/v1/apply", "{\"func\":\"sha256\",\"args\":[\"abc\"]}", 200, &r);
    CHECK_STR(json_string_value(jpath(r.json, "result")),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    resp_free(&r);
    post(&srv, "/v1/apply", "{\"func\":\"sleep\",\"args\":[0.05]}", 200, &r);
    CHECK(json_real_value(jpath(r.json, "result")) == 0.05);
    resp_free(&r);
    post(&srv, "/v1/apply", "{\"func\":\"calc\",\"args\":[2]}", 200, &r);
    CHECK_INT(json_integer_value(jpath(r.json, "result")), 1024);
    resp_free(&r);
}

/* A real is written the shortest way that reads back as the same double,
 * as Python writes it: echo 0.1 answers 0.1, not 0.10000000000000001, in
 * every answer that carries results. */
TEST(test_calls_reals_are_written_the_shortest_way_back)
{
    char path[128];
    Resp r;

    post(&srv, "/v1/apply", "{\"func\":\"echo\",\"args\":[0.1]}", 200, &r);
    CHECK_STR(r.body, "{\"result\":0.1}");
    resp_free(&r);
    post(&srv, "/v1/apply", "{\"func\":\"sum\",\"args\":[[0.1,0.2]]}", 200, &r);
    CHECK_STR(r.body, "{\"result\":0.30000000000000004}");
    resp_free(&r);
    post(&srv, "/v1/map", "{\"func\":\"echo\",\"iterable\":[0.1,1e16,1.5e-7,100.0,{\"x\":[2.5]},\"0.1\",-0.0]}", 200,
         &r);
    CHECK_STR(r.body, "{\"results\":[0.1,1e+16,1.5e-07,100.0,{\"x\":[2.5]},\"0.1\",-0.0]}");
    resp_free(&r);
    post(&srv, "/v1/imap", "{\"func\":\"echo\",\"iterable\":[0.1]}", 200, &r);
    CHECK_STR(r.body, "{\"index\":0,\"result\":0.1}\n");
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/jobs/%s/result?timeout=10",
             job_submit(&srv, "/v1/apply_async", "{\"func\":\"echo\",\"args\":[0.7]}"));
    CHECK(req(&srv, "GET", path, NULL, &r) == 0);
    CHECK_STR(r.body, "{\"result\":0.7}");
    resp_free(&r);
}

TEST(test_apply_overflow_is_422)
{
    Resp r;

    post(&srv, "/v1/apply", "{\"func\":\"pow\",\"args\":[10,100]}", 422, &r);
    check_problem(&r, 422);
    CHECK_STR(json_string_value(jpath(r.json, "func")), "pow");
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "OverflowError");
    resp_free(&r);
    post(&srv, "/v1/apply", "{\"func\":\"fib\",\"args\":[93]}", 422, &r);
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "OverflowError");
    resp_free(&r);
}

TEST(test_apply_rejected_arguments_are_422)
{
    Resp r;

    post(&srv, "/v1/apply", "{\"func\":\"pow\",\"args\":[\"ten\",2]}", 422, &r);
    check_problem(&r, 422);
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "TypeError");
    resp_free(&r);
    post(&srv, "/v1/apply", "{\"func\":\"sleep\",\"args\":[-1]}", 422, &r);
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "ValueError");
    resp_free(&r);
    post(&srv, "/v1/apply", "{\"func\":\"sleep\",\"args\":[\"long\"]}", 422, &r);
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "TypeError");
    resp_free(&r);
    post(&srv, "/v1/apply", "{\"func\":\"pow\",\"args\":[1,2,3]}", 422, &r);
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "TypeError");
    resp_free(&r);
}

TEST(test_apply_unknown_function_is_404)
{
    Resp r;

    post(&srv, "/v1/apply", "{\"func\":\"no_such_function\"}", 404, &r);
    check_problem(&r, 404);
    CHECK(strstr(json_string_value(jpath(r.json, "detail")), "no_such_function") != NULL);
    resp_free(&r);
}

TEST(test_calls_bad_bodies_are_400)
{
    static const char *const bodies[] = {
        "{not json", "", "[1,2]", "\"pow\"", "{\"args\":[1]}", "{\"func\":3}",
        "{\"func\":\"pow\",\"args\":{}}", "{\"func\":\"pow\",\"kwds\":[]}",
        "{\"func\":\"pow\",\"args\":[1,2],\"colour\":1}", "{\"func\":\"pow\",\"func\":\"echo\"}",
    };
    Resp r;

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        post(&srv, "/v1/apply", bodies[i], 400, &r);
        check_problem(&r, 400);
        resp_free(&r);
    }
    static const char *const maps[] = {
        "{\"func\":\"echo\"}", "{\"func\":\"echo\",\"iterable\":{}}",
        "{\"func\":\"echo\",\"iterable\":[1],\"chunksize\":0}",
        "{\"func\":\"echo\",\"iterable\":[1],\"chunksize\":-3}",
        "{\"func\":\"echo\",\"iterable\":[1],\"chunksize\":1.5}",
        "{\"func\":\"echo\",\"iterable\":[1],\"on_error\":\"ignore\"}",
    };
    for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
        post(&srv, "/v1/map", maps[i], 400, &r);
        check_problem(&r, 400);
        resp_free(&r);
    }
}

TEST(test_map_seed_example_runs_in_parallel)
{
    Resp r;
    double t0 = now_seconds(), took;

    post(&srv, "/v1/map", "{\"func\":\"calc\",\"iterable\":[1,2,5,10],\"chunksize\":1}", 200, &r);
    took = now_seconds() - t0;
    CHECK_STR(r.body, "{\"results\":[1,1024,9765625,10000000000]}");
    /* Four one-second items on two workers: about 2 s, never the 4 s of
     * one worker. The window is generous: this tests parallelism. */
    if (took < 1.8 || took > 3.5)
        fprintf(stderr, "    took %.2f s\n", took);
    CHECK(took >= 1.8 && took <= 3.5);
    resp_free(&r);
}

TEST(test_map_default_chunksize_runs_in_parallel)
{
    Resp r;
    double t0 = now_seconds(), took;

    /* Python's default: ceil(4 / (4 * 2)) = 1 item per task. */
    post(&srv, "/v1/map", "{\"func\":\"calc\",\"iterable\":[1,2,3,4]}", 200, &r);
    took = now_seconds() - t0;
    CHECK_STR(r.body, "{\"results\":[1,1024,59049,1048576]}");
    CHECK(took >= 1.8 && took <= 3.5);
    resp_free(&r);
}

TEST(test_map_keeps_input_order_over_20000_items)
{
    enum { N = 20000 };
    char *body = malloc(N * 8 + 64);
    size_t off = 0;
    Resp r;

    off += (size_t)sprintf(body + off, "{\"func\":\"echo\",\"iterable\":[");
    for (int i = 0; i < N; i++)
        off += (size_t)sprintf(body + off, "%s%d", i ? "," : "", N - i);
    sprintf(body + off, "]}");
    for (int chunksize = 0; chunksize <= 7; chunksize += 7) {
        char *b = body;
        char *with_cs = NULL;
        if (chunksize) { /* an odd chunksize, so the last chunk is short */
            with_cs = malloc(strlen(body) + 32);
            sprintf(with_cs, "{\"chunksize\":%d,%s", chunksize, body + 1);
            b = with_cs;
        }
        post(&srv, "/v1/map", b, 200, &r);
        json_t *res = jpath(r.json, "results");
        CHECK_INT(json_array_size(res), N);
        for (int i = 0; i < N; i++)
            if (json_integer_value(json_array_get(res, (size_t)i)) != N - i)
                CHECK_INT(json_integer_value(json_array_get(res, (size_t)i)), N - i);
        resp_free(&r);
        free(with_cs);
    }
    free(body);
}

TEST(test_map_empty_iterable_is_empty_list)
{
    Resp r;

    post(&srv, "/v1/map", "{\"func\":\"calc\",\"iterable\":[]}", 200, &r);
    CHECK_STR(r.body, "{\"results\":[]}");
    resp_free(&r);
    post(&srv, "/v1/starmap", "{\"func\":\"pow\",\"iterable\":[]}", 200, &r);
    CHECK_STR(r.body, "{\"results\":[]}");
    resp_free(&r);
}

TEST(test_map_raise_reports_the_failing_item)
{
    Resp r;

    post(&srv, "/v1/map", "{\"func\":\"fib\",\"iterable\":[1,2,-5,4],\"chunksize\":2}", 422, &r);
    check_problem(&r, 422);
    CHECK_INT(json_integer_value(jpath(r.json, "index")), 2);
    CHECK_STR(json_string_value(jpath(r.json, "func")), "fib");
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "ValueError");
    resp_free(&r);
}

/* Under "raise" the answer names the failed item with the lowest index,
 * whichever chunk comes back first: fib(93) (past 64 bits) at 1, never
 * fib(-1) at 2, though each runs on a worker of its own. */
TEST(test_map_raise_names_the_lowest_failing_index_every_time)
{
    Resp r;

    for (int i = 0; i < 20; i++) {
        post(&srv, "/v1/map", "{\"func\":\"fib\",\"iterable\":[10,93,-1],\"chunksize\":1}", 422, &r);
        CHECK_INT(json_integer_value(jpath(r.json, "index")), 1);
        CHECK_STR(json_string_value(jpath(r.json, "error.type")), "OverflowError");
        resp_free(&r);
    }
}

/* An earlier item that fails late still wins over a later one that fails
 * at once: item 0 runs past its timeout (504) while item 1 is refused
 * (422) straight away; the answer waits for item 0. */
TEST(test_map_raise_waits_for_an_earlier_item_that_fails_later)
{
    Resp r;

    post(&srv, "/v1/map", "{\"func\":\"sleep\",\"iterable\":[2,-1],\"chunksize\":1,\"timeout\":0.3}", 504, &r);
    check_problem(&r, 504);
    CHECK_INT(json_integer_value(jpath(r.json, "index")), 0);
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "TimedOut");
    resp_free(&r);
    CHECK(await_idle_workers(&srv, 2, 10)); /* the stopped worker's replacement */
}

/* ...but never for a later one: the answer comes when item 0 fails, with
 * item 1 still asleep on the other worker. */
TEST(test_map_raise_does_not_wait_for_later_items)
{
    Resp r;
    double t0 = now_seconds();

    post(&srv, "/v1/map", "{\"func\":\"sleep\",\"iterable\":[-1,2],\"chunksize\":1}", 422, &r);
    CHECK(now_seconds() - t0 < 1.5);
    CHECK_INT(json_integer_value(jpath(r.json, "index")), 0);
    resp_free(&r);
    CHECK(await_idle_workers(&srv, 2, 10));
}

TEST(test_map_collect_puts_errors_in_place)
{
    Resp r;

    post(&srv, "/v1/map", "{\"func\":\"fib\",\"iterable\":[10,-1,93,20],\"on_error\":\"collect\"}", 200, &r);
    CHECK_INT(json_array_size(jpath(r.json, "results")), 4);
    CHECK_INT(json_integer_value(jpath(r.json, "results.0")), 55);
    CHECK_STR(json_string_value(jpath(r.json, "results.1.error.type")), "ValueError");
    CHECK_INT(json_integer_value(jpath(r.json, "results.1.error.status")), 422);
    CHECK_STR(json_string_value(jpath(r.json, "results.2.error.type")), "OverflowError");
    CHECK_INT(json_integer_value(jpath(r.json, "results.3")), 6765);
    resp_free(&r);
}

TEST(test_starmap_spreads_each_item_as_arguments)
{
    Resp r;

    post(&srv, "/v1/starmap", "{\"func\":\"pow\",\"iterable\":[[2,3],[3,2],[10,10],[2,-1]]}", 200, &r);
    CHECK_STR(r.body, "{\"results\":[8,9,10000000000,0.5]}");
    resp_free(&r);
    post(&srv, "/v1/starmap", "{\"func\":\"pow\",\"iterable\":[[2,3],5]}", 400, &r);
    check_problem(&r, 400);
    resp_free(&r);
    post(&srv, "/v1/starmap", "{\"func\":\"pow\",\"iterable\":[[2,3],[2]]}", 422, &r);
    CHECK_INT(json_integer_value(jpath(r.json, "index")), 1);
    CHECK_STR(json_string_value(jpath(r.json, "error.type")), "TypeError");
    resp_free(&r);
}

/* A map's items are sliced from the body's text when the scanner takes
 * them (jscan.h) and parsed with the body when it does not: the answers,
 * and the errors, are the same either way. */
TEST(test_calls_sliced_and_parsed_items_answer_alike)
{
    static const char *const items = "\"a\\u00e9\\n\\\"\", 1e5, -0, 1.5, true, false, null, [[]], \"\u00fc\", "
                                     "123456789012345678, [1, [2.5, \"x\"]]";
    char sliced[512], parsed[512], bad[128];
    Resp a, b, r;

    snprintf(sliced, sizeof(sliced), "{\"func\":\"echo\",\"chunksize\":2,\"iterable\":[%s]}", items);
    snprintf(parsed, sizeof(parsed), "{\"func\":\"echo\",\"chunksize\":2,\"iterable\":[%s, {}]}", items); /* an object: parsed */
    post(&srv, "/v1/map", sliced, 200, &a);
    post(&srv, "/v1/map", parsed, 200, &b);
    json_t *ra = jpath(a.json, "results"), *rb = jpath(b.json, "results");
    CHECK_INT(json_array_size(ra), 11);
    CHECK_INT(json_array_size(rb), 12);
    json_array_remove(rb, 11);
    CHECK(json_equal(ra, rb));
    resp_free(&a);
    resp_free(&b);
    /* starmap's items must be arrays, whichever way they were read. */
    post(&srv, "/v1/starmap", "{\"func\":\"pow\",\"iterable\":[[2,10],[3 , 2] , [ 4,0 ]]}", 200, &r);
    char *got = json_dumps(jpath(r.json, "results"), JSON_COMPACT);
    CHECK_STR(got, "[1024,9,1]");
    free(got);
    resp_free(&r);
    post(&srv, "/v1/starmap", "{\"func\":\"pow\",\"iterable\":[[2,10],5]}", 400, &r);
    CHECK(strstr(json_string_value(jpath(r.json, "detail")), "item 1 must be an array"));
    resp_free(&r);
    /* Broken JSON in the items, or a second iterable, is jansson's to
     * word, as before. */
    static const char *const broken[] = {"[1,2,]", "[12345678901234567890123]", "[\"\\u0000\"]", "[1]"};
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        snprintf(bad, sizeof(bad), "{\"func\":\"echo\",\"iterable\":%s,\"iterable\":[2]}", broken[i]);
        post(&srv, "/v1/map", bad, 400, &r);
        CHECK(strstr(json_string_value(jpath(r.json, "detail")), "the body is not valid JSON"));
        resp_free(&r);
    }
}

TEST(test_calls_wrong_method_is_405_with_allow)
{
    Resp r;

    CHECK(req(&srv, "GET", "/v1/apply", NULL, &r) == 0);
    CHECK_INT(r.status, 405);
    check_problem(&r, 405);
    CHECK_STR(resp_header(&r, "Allow"), "POST");
    resp_free(&r);
    CHECK(req(&srv, "DELETE", "/v1/pool", NULL, &r) == 0);
    CHECK_INT(r.status, 405);
    CHECK_STR(resp_header(&r, "Allow"), "GET");
    resp_free(&r);
}

TEST(test_calls_unknown_path_is_404)
{
    Resp r;

    CHECK(req(&srv, "GET", "/v1/nothing", NULL, &r) == 0);
    CHECK_INT(r.status, 404);
    check_problem(&r, 404);
    resp_free(&r);
    CHECK(req(&srv, "POST", "/v1/apply/extra", "{}", &r) == 0);
    CHECK_INT(r.status, 404);
    resp_free(&r);
}

TEST(test_calls_connections_are_kept_alive)
{
    Resp r;

    post(&srv, "/v1/apply", "{\"func\":\"echo\",\"args\":[1]}", 200, &r);
    resp_free(&r);
    for (int i = 0; i < 5; i++) {
        post(&srv, "/v1/apply", "{\"func\":\"echo\",\"args\":[1]}", 200, &r);
        CHECK_INT(r.connects, 0); /* the same connection answered */
        resp_free(&r);
        CHECK(req(&srv, "GET", "/healthz", NULL, &r) == 0);
        CHECK_INT(r.connects, 0);
        resp_free(&r);
    }
}

int
main(int argc, char **argv)
{
    static const char *const args[] = {"--processes", "2", NULL};
    int rc;

    server_start(&srv, args);
    rc = harness_run(argc, argv);
    server_stop(&srv);
    return rc;
}
