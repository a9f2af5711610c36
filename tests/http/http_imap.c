/*
 * http_imap.c: imap and imap_unordered, streamed as NDJSON: lines that come
 * as the items finish, in order or not, bounded memory with an NDJSON body
 * of a million items, and a client that hangs up stopping the work.
 */
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

/* --- a client that reads the answer a line at a time --- */

typedef struct Lines {
    /* the request */
    const char *path;
    const char *body;        /* a JSON body, or NULL for gen's NDJSON */
    size_t (*gen)(char *buf, size_t max, void *ctx); /* the next line(s); 0 ends */
    void *gen_ctx;
    long hang_up_after;      /* lines read before the client hangs up; 0 never */
    double timeout;          /* seconds; 0 for 120 */
    int keep;                /* keep every line in `lines` */
    int rss_pid;             /* sample this process's RSS as lines come */
    long rss_max;            /* KiB, the most seen */
    /* the answer */
    long status;
    char type[64];
    json_t *lines;           /* the parsed lines, when keep */
    size_t count;            /* lines read */
    json_t *last;            /* the last line */
    double first_at;         /* seconds from the request to the first line */
    long next_index;         /* imap: the index the next line should have */
    int in_order;            /* every "index" was the one expected */
    char *problem;           /* the body, when it was not a stream */
    /* the reader's */
    double began;
    char *partial;
    size_t plen;
} Lines;

static long rss_kib(int pid);

static void
lines_take(Lines *l, const char *text, size_t len)
{
    json_t *j = json_loadb(text, len, 0, NULL);

    if (l->rss_pid && l->count % 20000 == 0 && rss_kib(l->rss_pid) > l->rss_max)
        l->rss_max = rss_kib(l->rss_pid);
    if (l->count++ == 0)
        l->first_at = now_seconds() - l->began;
    if (json_object_get(j, "index")) { /* a final line has none */
        if (json_integer_value(json_object_get(j, "index")) != l->next_index)
            l->in_order = 0;
        l->next_index++;
    }
    if (l->keep && j)
        json_array_append(l->lines, j);
    json_decref(l->last);
    l->last = j;
}

static size_t
lines_write(char *data, size_t size, size_t n, void *ctx)
{
    Lines *l = ctx;
    size_t len = size * n, off = 0;

    if (strncmp(l->type, "application/x-ndjson", 20) != 0) { /* a problem: keep it whole */
        l->problem = realloc(l->problem, l->plen + len + 1);
        memcpy(l->problem + l->plen, data, len);
        l->plen += len;
        l->problem[l->plen] = '\0';
        return len;
    }
    while (off < len) {
        char *nl = memchr(data + off, '\n', len - off);
        size_t piece = nl ? (size_t)(nl - (data + off)) : len - off;
        l->partial = realloc(l->partial, l->plen + piece + 1);
        memcpy(l->partial + l->plen, data + off, piece);
        l->plen += piece;
        off += piece + (nl != NULL);
        if (!nl)
            break;
        lines_take(l, l->partial, l->plen);
        l->plen = 0;
        if (l->hang_up_after && (long)l->count >= l->hang_up_after)
            return 0; /* curl aborts and closes the connection */
    }
    return len;
}

static size_t
lines_header(char *data, size_t size, size_t n, void *ctx)
{
    Lines *l = ctx;

    if (size * n > 14 && strncasecmp(data, "Content-Type: ", 14) == 0)
        snprintf(l->type, sizeof(l->type), "%.*s", (int)(size * n - 14), data + 14);
    return size * n;
}

static size_t
lines_read(char *buf, size_t size, size_t n, void *ctx)
{
    Lines *l = ctx;

    return l->gen(buf, size * n, l->gen_ctx);
}

/* Runs the request; the answer is in l. Returns curl's code. */
static CURLcode
lines_post(const Server *s, Lines *l)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hl = curl_slist_append(NULL, "Expect:");
    char url[256];
    CURLcode rc;

    l->lines = json_array();
    l->in_order = 1;
    l->began = now_seconds();
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->port, l->path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, lines_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, l);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, lines_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, l);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)((l->timeout > 0 ? l->timeout : 120) * 1000));
    if (l->body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, l->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(l->body));
    } else {
        hl = curl_slist_append(hl, "Content-Type: application/x-ndjson");
        hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
        curl_easy_setopt(h, CURLOPT_READFUNCTION, lines_read);
        curl_easy_setopt(h, CURLOPT_READDATA, l);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &l->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    return rc;
}

static void
lines_free(Lines *l)
{
    json_decref(l->lines);
    json_decref(l->last);
    free(l->partial);
    free(l->problem);
}

/* An NDJSON body from a list of lines (the call first). */
typedef struct Text {
    const char *const *lines;
    size_t at;
} Text;

static size_t
text_gen(char *buf, size_t max, void *ctx)
{
    Text *t = ctx;
    size_t len;

    if (!t->lines[t->at])
        return 0;
    len = strlen(t->lines[t->at]);
    if (len + 1 > max)
        return 0;
    memcpy(buf, t->lines[t->at++], len);
    buf[len] = '\n';
    return len + 1;
}

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
    Text t = {in, 0};
    Lines l = {.path = "/v1/imap", .gen = text_gen, .gen_ctx = &t, .keep = 1};

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
        Text t = {bodies[i], 0};
        Lines l = {.path = "/v1/imap_unordered", .gen = text_gen, .gen_ctx = &t};
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
    Text t = {in, 0};
    Lines l = {.path = "/v1/imap", .gen = text_gen, .gen_ctx = &t, .keep = 1};

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
    Text t5 = {in5, 0};
    Lines l5 = {.path = "/v1/imap", .gen = text_gen, .gen_ctx = &t5, .keep = 1};
    CHECK_INT(lines_post(&s, &l5), CURLE_OK);
    CHECK_INT(l5.status, 200);
    CHECK_INT(l5.count, 4);
    CHECK_INT(json_integer_value(jpath(l5.lines, "2.result")), 3);
    CHECK_INT(json_integer_value(jpath(l5.last, "error.status")), 400);
    lines_free(&l5);
    /* A bad first item: nothing ran, a plain 400. */
    const char *in0[] = {"{\"func\":\"echo\"}", "{bad", "2", NULL};
    Text t0 = {in0, 0};
    Lines l0 = {.path = "/v1/imap", .gen = text_gen, .gen_ctx = &t0};
    CHECK_INT(lines_post(&s, &l0), CURLE_OK);
    CHECK_INT(l0.status, 400);
    CHECK(strncmp(l0.type, "application/problem+json", 24) == 0);
    lines_free(&l0);
    server_stop(&s);
}

/* --- bounds --- */

/* A million NDJSON items, made as curl asks for them; samples poold's RSS
 * as it goes. */
typedef struct Million {
    long next, total;
    int pid;
    long rss_max;
} Million;

static long
rss_kib(int pid)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    if (!(f = fopen(path, "r")))
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = atol(line + 6);
    fclose(f);
    return kib;
}

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

/* --- chunking, the queue, idleness --- */

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
    Text t = {.lines = lines};
    Lines nd = {.path = "/v1/imap", .gen = text_gen, .gen_ctx = &t};

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

TEST(test_imap_a_stream_longer_than_max_queue_waits_for_room)
{
    static const char *const args[] = {"--processes", "1", "--max-queue", "3", NULL};
    Server s;
    Lines l = {.path = "/v1/imap", .body = "{\"func\":\"echo\",\"iterable\":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,"
                                           "15,16,17,18,19,20,21,22,23,24,25,26,27,28,29]}"};
    static char nums[31][8];
    const char *lines[40];
    Text t = {.lines = lines};
    Lines nd = {.path = "/v1/imap_unordered", .gen = text_gen, .gen_ctx = &t};

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

TEST(test_imap_a_full_queue_before_the_stream_is_a_503_problem)
{
    static const char *const args[] = {"--processes", "1", "--max-queue", "2", NULL};
    BgCall c = {.path = "/v1/apply", .body = "{\"func\":\"sleep\",\"args\":[3]}"};
    const char *const lines[] = {"{\"func\":\"echo\"}", "1", "2", NULL};
    Text t = {.lines = lines};
    Lines l = {.path = "/v1/imap", .body = "{\"func\":\"echo\",\"iterable\":[1,2]}"};
    Lines nd = {.path = "/v1/imap", .gen = text_gen, .gen_ctx = &t};
    pthread_t th;
    Server s;

    server_start(&s, args);
    c.s = &s;
    CHECK(pthread_create(&th, NULL, bg_call_run, &c) == 0);
    CHECK(await_pool_number(&s, "queue.running", 1, 5));
    CHECK(fill_queue(&s, 7) > 0); /* what is written ahead, then the queue */
    CHECK_INT(lines_post(&s, &l), CURLE_OK);
    CHECK_INT(l.status, 503);
    CHECK(l.problem && strstr(l.problem, "queue"));
    CHECK_INT(lines_post(&s, &nd), CURLE_OK);
    CHECK_INT(nd.status, 503);
    CHECK(strncmp(nd.type, "application/problem+json", 24) == 0);
    /* The same when the items end before a whole chunk. */
    const char *partial[] = {"{\"func\":\"echo\",\"chunksize\":10}", "1", "2", "3", NULL};
    Text tp = {.lines = partial};
    Lines np = {.path = "/v1/imap", .gen = text_gen, .gen_ctx = &tp};
    CHECK_INT(lines_post(&s, &np), CURLE_OK);
    CHECK_INT(np.status, 503);
    lines_free(&np);
    pthread_join(th, NULL);
    resp_free(&c.r);
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
