/*
 * http_events.c: GET /v1/events, the Server-Sent Events stream: a job's
 * events in order, each with its id; the job and type filters; resuming
 * with Last-Event-ID, and the gap event when the ring has moved past it;
 * a reader that stops reading holds no more of poold's memory and slows
 * no call; five hundred readers at once; the key as ?access_token=.
 *
 * Streams are read on raw sockets, so a test decides when (and whether)
 * to read.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "client.h"
#include "harness.h"
#include "rawhttp.h"

/* A stream being read: what came so far. */
typedef struct Sse {
    int fd;
    char *text;
    size_t len, cap;
} Sse;

/* Opens GET path with the extra header lines (each ending "\r\n"). */
static void
sse_open(Sse *e, const Server *s, const char *path, const char *headers)
{
    char req[1024];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n%s\r\n",
                     path, headers ? headers : "");

    memset(e, 0, sizeof(*e));
    e->fd = raw_connect(NULL, s->port);
    CHECK(e->fd >= 0);
    CHECK_INT(raw_send(e->fd, req, (size_t)n), 0);
}

/* Reads what is there, waiting up to seconds for more; 0 once closed. */
static int
sse_pump(Sse *e, double seconds)
{
    struct pollfd p = {.fd = e->fd, .events = POLLIN};
    char buf[65536];
    ssize_t n;

    if (poll(&p, 1, (int)(seconds * 1000)) <= 0)
        return 1;
    if ((n = read(e->fd, buf, sizeof(buf))) <= 0)
        return 0;
    if (e->len + (size_t)n + 1 > e->cap) {
        e->cap = (e->len + (size_t)n + 1) * 2;
        e->text = realloc(e->text, e->cap);
    }
    memcpy(e->text + e->len, buf, (size_t)n);
    e->len += (size_t)n;
    e->text[e->len] = '\0';
    return 1;
}

/* Reads until what came holds needle, for up to seconds; 1 if it did. */
static int
sse_until(Sse *e, const char *needle, double seconds)
{
    double end = now_seconds() + seconds;
    size_t from = 0, n = strlen(needle);

    for (;;) {
        if (e->text && strstr(e->text + from, needle))
            return 1;
        /* Only what is new is searched again: a stream may be megabytes. */
        from = e->len > n ? e->len - n : 0;
        if (now_seconds() >= end || !sse_pump(e, 0.1))
            return e->text && strstr(e->text + from, needle);
    }
}

static void
sse_close(Sse *e)
{
    if (e->fd >= 0)
        close(e->fd);
    free(e->text);
    e->text = NULL;
}

/* The id: line of the first event of type `type` for job id, 0 if none. */
static unsigned long long
sse_id_of(const Sse *e, const char *type, const char *job)
{
    char want[128];
    const char *at = e->text;

    snprintf(want, sizeof(want), "event: %s\n", type);
    while (at && (at = strstr(at, want))) {
        const char *id = at, *data = strstr(at, "data: ");
        while (id > e->text && strncmp(id, "id: ", 4) != 0)
            id--;
        if (data && (!job || (strstr(data, job) && strstr(data, job) < strchr(data, '\n'))))
            return strtoull(id + 4, NULL, 10);
        at += strlen(want);
    }
    return 0;
}

static void
start(Server *s, const char *const *more)
{
    const char *args[16] = {"--processes", "2", "--store", "memory"};
    int n = 4;

    for (; more && *more; more++)
        args[n++] = *more;
    args[n] = NULL;
    server_start(s, args);
}

TEST(a_jobs_events_come_in_order_each_with_an_id)
{
    Server s;
    Sse e;
    const char *id;
    unsigned long long created, started, done;

    start(&s, NULL);
    sse_open(&e, &s, "/v1/events", NULL);
    CHECK(sse_until(&e, ": poold events", 5));
    CHECK(strstr(e.text, "HTTP/1.1 200"));
    CHECK(strstr(e.text, "Content-Type: text/event-stream"));
    id = job_submit(&s, "/v1/apply_async", "{\"func\": \"sleep\", \"args\": [0.2]}");
    char end[64];
    snprintf(end, sizeof(end), "\"job\":\"%s\"", id);
    CHECK(sse_until(&e, "event: job.succeeded", 10));
    created = sse_id_of(&e, "job.created", id);
    started = sse_id_of(&e, "job.started", id);
    done = sse_id_of(&e, "job.succeeded", id);
    CHECK(created > 0 && started > created && done > started);
    CHECK(strstr(e.text, end));
    CHECK(strstr(e.text, "\"worker\":\"ForkPoolWorker-"));
    sse_close(&e);
    server_stop(&s);
}

TEST(a_map_job_tells_its_progress_and_a_failure_its_error)
{
    Server s;
    Sse e;
    const char *id;

    start(&s, NULL);
    sse_open(&e, &s, "/v1/events?type=job.*", NULL);
    CHECK(sse_until(&e, ": poold events", 5));
    job_submit(&s, "/v1/map_async", "{\"func\": \"sleep\", \"iterable\": [0.3, 0.3, 0.3, 0.3], \"chunksize\": 1}");
    CHECK(sse_until(&e, "event: job.progress", 10));
    CHECK(sse_until(&e, "event: job.succeeded", 10));
    id = job_submit(&s, "/v1/apply_async", "{\"func\": \"pow\", \"args\": [\"boom\", 2]}");
    CHECK(sse_until(&e, "event: job.failed", 10));
    CHECK(sse_id_of(&e, "job.failed", id) > 0);
    CHECK(strstr(e.text, "TypeError"));
    CHECK(!strstr(e.text, "event: pool.stats") && !strstr(e.text, "event: worker."));
    sse_close(&e);
    server_stop(&s);
}

TEST(filters_by_job_and_by_type)
{
    Server s;
    Sse one, ended;
    const char *id;
    char path[128], mine[64];

    start(&s, NULL);
    id = job_submit(&s, "/v1/apply_async", "{\"func\": \"sleep\", \"args\": [0.5]}");
    snprintf(mine, sizeof(mine), "%s", id);
    snprintf(path, sizeof(path), "/v1/events?job=%s", mine);
    sse_open(&one, &s, path, "Last-Event-ID: 0\r\n");
    sse_open(&ended, &s, "/v1/events?type=job.succeeded,worker.*", NULL);
    CHECK(sse_until(&ended, ": poold events", 5));
    job_submit(&s, "/v1/apply_async", "{\"func\": \"echo\", \"args\": [7]}");
    CHECK(sse_until(&one, "event: job.succeeded", 10));
    CHECK(sse_until(&ended, "event: job.succeeded", 10));
    CHECK(sse_until(&ended, mine, 10)); /* the slower job's end too */
    /* One job's stream holds its events and no other's. */
    for (const char *at = one.text; (at = strstr(at, "\"job\":\"")); at += 7)
        CHECK(strncmp(at + 7, mine, 32) == 0);
    CHECK(!strstr(ended.text, "event: job.created") && !strstr(ended.text, "event: job.started"));
    sse_close(&one);
    sse_close(&ended);
    /* A type that names nothing is a 400. */
    Resp r;
    CHECK_INT(req(&s, "GET", "/v1/events?type=job.nope", NULL, &r), 0);
    check_problem(r.status, resp_header(&r, "Content-Type"), r.json, 400);
    resp_free(&r);
    server_stop(&s);
}

TEST(last_event_id_resumes_and_a_gap_is_told)
{
    const char *more[] = {"--events-ring", "16", NULL};
    Server s;
    Sse e, again, late;
    const char *id;
    char hdr[64];
    unsigned long long created;

    start(&s, more);
    sse_open(&e, &s, "/v1/events?type=job.*", NULL);
    CHECK(sse_until(&e, ": poold events", 5));
    id = job_submit(&s, "/v1/apply_async", "{\"func\": \"echo\", \"args\": [1]}");
    CHECK(sse_until(&e, "event: job.succeeded", 10));
    created = sse_id_of(&e, "job.created", id);
    CHECK(created > 0);
    sse_close(&e);
    /* From the event after created: started and succeeded, not created. */
    snprintf(hdr, sizeof(hdr), "Last-Event-ID: %llu\r\n", created);
    sse_open(&again, &s, "/v1/events?type=job.*", hdr);
    CHECK(sse_until(&again, "event: job.succeeded", 5));
    CHECK(!strstr(again.text, "event: job.created") && strstr(again.text, "event: job.started"));
    CHECK(!strstr(again.text, "stream.gap"));
    sse_close(&again);
    /* Twenty jobs later (sixty events), the ring of sixteen has moved on. */
    for (int i = 0; i < 20; i++)
        job_submit(&s, "/v1/apply_async", "{\"func\": \"echo\", \"args\": [1]}");
    CHECK(await_pool_number(&s, "queue.running", 0, 5));
    sleep_seconds(0.3);
    sse_open(&late, &s, "/v1/events", hdr);
    CHECK(sse_until(&late, "event: stream.gap", 5));
    CHECK(strstr(late.text, "\"missed\":"));
    CHECK(sse_until(&late, "event: job.succeeded", 5)); /* then what the ring holds */
    sse_close(&late);
    server_stop(&s);
}

TEST(a_reader_that_stops_reading_holds_no_memory_and_slows_no_call)
{
    const char *more[] = {"--result-ttl", "0", "--events-ring", "1024", NULL};
    Server s;
    Sse stuck;
    Resp r;
    long before, after;
    const char *body = "{\"func\": \"echo\", \"args\": [\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"]}";

    start(&s, more);
    sse_open(&stuck, &s, "/v1/events", NULL);
    CHECK(sse_until(&stuck, ": poold events", 5));
    /* Fills the ring, the socket's buffers and poold's allocator first. */
    for (int i = 0; i < 3000; i++)
        job_submit(&s, "/v1/apply_async", body);
    CHECK(await_pool_number(&s, "queue.running", 0, 10));
    before = rss_kib(s.pid);
    for (int i = 0; i < 17000; i++)
        job_submit(&s, "/v1/apply_async", body);
    CHECK(await_pool_number(&s, "queue.running", 0, 10));
    after = rss_kib(s.pid);
    printf("# RSS %ld KiB after 3000 jobs, %ld KiB after 17000 more, one reader not reading\n", before, after);
    /* AddressSanitizer keeps freed memory in quarantine: its RSS says
     * nothing about ours. Unread, 17000 jobs' events are some 13 MiB. */
    if (!getenv("POOLD_SANITIZED") || strcmp(getenv("POOLD_SANITIZED"), "1") != 0)
        CHECK(after - before < 8 * 1024);
    /* A call is answered at once all the while. */
    post(&s, "/v1/apply", "{\"func\": \"echo\", \"args\": [5]}", 200, &r);
    CHECK(r.seconds < 1.0);
    resp_free(&r);
    /* Read at last: it is told what it missed. */
    CHECK(sse_until(&stuck, "event: stream.gap", 20));
    sse_close(&stuck);
    server_stop(&s);
}

TEST(five_hundred_readers_at_once)
{
    enum { N = 500 };
    static Sse e[N];
    Server s;
    int got = 0;

    start(&s, NULL);
    for (int i = 0; i < N; i++)
        sse_open(&e[i], &s, "/v1/events?type=job.succeeded", NULL);
    for (int i = 0; i < N; i++)
        CHECK(sse_until(&e[i], ": poold events", 10));
    job_submit(&s, "/v1/apply_async", "{\"func\": \"echo\", \"args\": [1]}");
    for (int i = 0; i < N; i++)
        got += sse_until(&e[i], "event: job.succeeded", 10);
    CHECK_INT(got, N);
    for (int i = 0; i < N; i++)
        sse_close(&e[i]);
    check_still_up(&s);
    server_stop(&s);
}

TEST(with_an_api_key_the_stream_takes_it_as_a_bearer_or_an_access_token)
{
    const char *more[] = {"--api-key", "sekrit-key-1", NULL};
    Server s;
    Sse none, bearer, token;

    start(&s, more);
    sse_open(&none, &s, "/v1/events", NULL);
    CHECK(sse_until(&none, "HTTP/1.1 401", 5));
    sse_open(&bearer, &s, "/v1/events", "Authorization: Bearer sekrit-key-1\r\n");
    CHECK(sse_until(&bearer, ": poold events", 5));
    sse_open(&token, &s, "/v1/events?access_token=sekrit-key-1", NULL);
    CHECK(sse_until(&token, ": poold events", 5));
    sse_close(&none);
    sse_close(&bearer);
    sse_close(&token);
    /* Only there: another route does not take the key in its query. */
    sse_open(&none, &s, "/v1/pool?access_token=sekrit-key-1", NULL);
    CHECK(sse_until(&none, "HTTP/1.1 401", 5));
    sse_close(&none);
    server_stop(&s);
}

TEST(a_heartbeat_comment_keeps_the_stream_alive_and_metrics_count_events)
{
    const char *more[] = {"--events-heartbeat", "0.2", NULL};
    Server s;
    Sse e;
    Resp r;

    start(&s, more);
    sse_open(&e, &s, "/v1/events?type=job.*", NULL);
    CHECK(sse_until(&e, "\n:\n\n", 3));
    job_submit(&s, "/v1/apply_async", "{\"func\": \"echo\", \"args\": [1]}");
    CHECK(sse_until(&e, "event: job.succeeded", 5));
    sse_close(&e);
    CHECK_INT(req(&s, "GET", "/metrics", NULL, &r), 0);
    CHECK(strstr(r.body, "poold_events_total{type=\"job.succeeded\"} 1"));
    CHECK(strstr(r.body, "poold_events_total{type=\"worker.started\"} 2"));
    resp_free(&r);
    server_stop(&s);
}

int
main(int argc, char **argv)
{
    curl_global_init(CURL_GLOBAL_ALL);
    return harness_run(argc, argv);
}
