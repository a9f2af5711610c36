/*
 * unit_events.c: the event stream's ring and readers (server/events/),
 * without HTTP: filters, frames read whole or in pieces as small as a
 * caller's buffer, a reader that fell behind the ring told of its gap,
 * an id of another run, and a sleeping reader woken by news.
 */
#include <string.h>
#include <unistd.h>

#include "events/events_impl.h"
#include "harness.h"

static int wakes;

static void
count_wake(void *ctx)
{
    (void)ctx;
    __atomic_add_fetch(&wakes, 1, __ATOMIC_RELAXED);
}

static void
start(size_t ring)
{
    EventsOptions o = {.ring = ring, .heartbeat = 60};

    CHECK_INT(events_init(&o), SVC_OK);
}

/* Everything the reader has now, read max bytes at a time. */
static size_t
drain(EventsReader *r, char *out, size_t cap, size_t max)
{
    size_t len = 0;
    ssize_t n;

    while (len + max < cap && (n = events_read(r, out + len, max, 0)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    return len;
}

TEST(test_events_filters_name_types_or_prefixes)
{
    char why[200];

    CHECK_INT(events_filter_check("job.*", why, sizeof(why)), SVC_OK);
    CHECK_INT(events_filter_check("job.succeeded,worker.exited", why, sizeof(why)), SVC_OK);
    CHECK_INT(events_filter_check("*", why, sizeof(why)), SVC_OK);
    CHECK_INT(events_filter_check(NULL, why, sizeof(why)), SVC_OK);
    CHECK_INT(events_filter_check("job.nope", why, sizeof(why)), SVC_EINVAL);
    CHECK_INT(events_filter_check("job.succeeded,", why, sizeof(why)), SVC_EINVAL);
    CHECK(strstr(why, "names no event"));
}

TEST(test_events_frames_come_whole_or_in_pieces_and_in_order)
{
    EventsFilter all = {0}, one = {.types = "job.succeeded", .job = "abc"};
    char whole[8192], pieces[8192];
    EventsReader *a, *b, *c;

    start(64);
    a = events_open(&all, 0, 0, count_wake, NULL);
    b = events_open(&all, 0, 0, count_wake, NULL);
    c = events_open(&one, 0, 0, count_wake, NULL);
    events_publish(EV_JOB_CREATED, "abc", json_pack("{s:s}", "func", "echo"));
    events_publish(EV_JOB_SUCCEEDED, "abc", json_pack("{s:f}", "duration", 0.1));
    events_publish(EV_JOB_SUCCEEDED, "other", NULL);
    drain(a, whole, sizeof(whole), 4096);
    drain(b, pieces, sizeof(pieces), 7); /* a frame cut in many reads */
    CHECK_STR(pieces, whole);
    CHECK(strncmp(whole, "retry: 2000\n: poold events\n\n", 28) == 0);
    CHECK(strstr(whole, "event: job.created\ndata: {\"func\":\"echo\",\"type\":\"job.created\",\"job\":\"abc\""));
    CHECK(strstr(whole, "event: job.created") < strstr(whole, "event: job.succeeded"));
    CHECK(strstr(whole, "\"duration\":0.1,")); /* each real the shortest way back, as answers */
    drain(c, pieces, sizeof(pieces), 4096);
    CHECK(strstr(pieces, "event: job.succeeded") && !strstr(pieces, "job.created") && !strstr(pieces, "other"));
    /* Nothing more: the reader sleeps, and news wakes it (on the waker). */
    wakes = 0;
    CHECK_INT(events_read(a, whole, sizeof(whole), 0), EVENTS_WAIT);
    events_publish(EV_WORKER_STARTED, NULL, NULL);
    events_publish(EV_WORKER_EXITED, NULL, NULL);
    for (int i = 0; i < 200 && !__atomic_load_n(&wakes, __ATOMIC_RELAXED); i++)
        usleep(5000);
    usleep(50000);
    CHECK_INT(__atomic_load_n(&wakes, __ATOMIC_RELAXED), 3); /* each sleeper once, not once an event */
    CHECK(events_read(a, whole, sizeof(whole), 0) > 0);
    CHECK_INT(events_read(a, whole, sizeof(whole), 1), EVENTS_END); /* stopping */
    events_close(a);
    events_close(b);
    events_close(c);
    CHECK_INT(events_readers(), 0);
    events_free();
}

TEST(test_events_a_reader_behind_the_ring_is_told_its_gap)
{
    EventsFilter all = {0};
    char text[65536];
    EventsReader *late, *other;
    uint64_t first;

    start(16);
    first = events_state.first;
    for (int i = 0; i < 40; i++)
        events_publish(EV_JOB_SUCCEEDED, "j", NULL);
    late = events_open(&all, 1, first + 1, count_wake, NULL); /* read 2 of 40 */
    drain(late, text, sizeof(text), 4096);
    CHECK(strstr(text, "event: stream.gap\ndata: {\"type\":\"stream.gap\",\"missed\":22,"));
    CHECK(strstr(text, "stream.gap") < strstr(text, "id: "));
    /* 16 events follow, the ring's. */
    int n = 0;
    for (const char *at = text; (at = strstr(at, "\nid: ")); at++)
        n++;
    CHECK_INT(n, 16);
    /* An id from before this run: a gap of unknown size, then the ring. */
    other = events_open(&all, 1, 5, count_wake, NULL);
    drain(other, text, sizeof(text), 4096);
    CHECK(strstr(text, "\"missed\":null"));
    events_close(late);
    events_close(other);
    CHECK_INT((int)__atomic_load_n(&events_state.counts[EV_STREAM_GAP], __ATOMIC_RELAXED), 2);
    events_free();
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
