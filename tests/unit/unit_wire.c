/*
 * unit_wire.c: framing (wire_put, wire_next, wire_buf_reserve) and task
 * claims (wire_claim).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "harness.h"
#include "worker/wire.h"

/* Checks that the next frame of b has this header and payload. */
#define EXPECT_FRAME(b, kind, slot, mode, seq, aux, payload)                  \
    wire_test_frame(__FILE__, __LINE__, (b), (kind), (slot), (mode), (seq), (aux), (payload))

static void
wire_test_frame(const char *file, int line, WireBuf *b, uint32_t kind, uint32_t slot,
                uint32_t mode, uint64_t seq, uint64_t aux, const char *want)
{
    WireHeader h;
    const char *payload = NULL;
    int rc = wire_next(b, &h, &payload);

    if (rc != 1)
        harness_fail(file, line, "wire_next returned %d, expected 1", rc);
    if (h.kind != kind || h.slot != slot || h.mode != mode || h.seq != seq || h.aux != aux)
        harness_fail(file, line, "header {kind %u slot %u mode %u seq %llu aux %llu}, expected "
                     "{kind %u slot %u mode %u seq %llu aux %llu}",
                     h.kind, h.slot, h.mode, (unsigned long long)h.seq,
                     (unsigned long long)h.aux, kind, slot, mode, (unsigned long long)seq,
                     (unsigned long long)aux);
    if (h.len != strlen(want) || (h.len && memcmp(payload, want, h.len) != 0))
        harness_fail(file, line, "payload \"%.*s\", expected \"%s\"", (int)h.len,
                     payload ? payload : "", want);
}

static void
wire_test_put(WireBuf *b, uint32_t kind, uint32_t slot, uint32_t mode, uint64_t seq,
              uint64_t aux, const char *payload)
{
    WireHeader h = {.len = (uint32_t)strlen(payload), .kind = kind, .slot = slot,
                    .mode = mode, .seq = seq, .aux = aux};

    CHECK_INT(wire_put(b, &h, payload), 0);
}

/* Appends raw bytes to b, as a read() would. */
static void
wire_test_feed(WireBuf *b, const void *bytes, size_t n)
{
    CHECK_INT(wire_buf_reserve(b, n), 0);
    CHECK(b->cap - b->len >= n);
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
}

TEST(test_wire_round_trip_several_frames)
{
    WireBuf b = {0};
    WireHeader h;
    const char *payload;

    wire_test_put(&b, WIRE_TASK, 0, WIRE_MODE_APPLY, 1, 0, "[\"pow\",[2,3],{}]");
    wire_test_put(&b, WIRE_TASK, 5, WIRE_MODE_MAP, 2, 0, "[\"fib\",[1,2,3],null]");
    wire_test_put(&b, WIRE_RESULT, 5, 2, 2, 1, "[{\"r\":1},{\"e\":{}},{\"e\":{}}]");
    wire_test_put(&b, WIRE_RESULT, 7, 0, 0xfffffffffull, 0, ""); /* an empty payload */
    wire_test_put(&b, WIRE_TASK, 3, WIRE_MODE_STARMAP, UINT64_MAX, UINT64_MAX - 1, "x");
    EXPECT_FRAME(&b, WIRE_TASK, 0, WIRE_MODE_APPLY, 1, 0, "[\"pow\",[2,3],{}]");
    EXPECT_FRAME(&b, WIRE_TASK, 5, WIRE_MODE_MAP, 2, 0, "[\"fib\",[1,2,3],null]");
    EXPECT_FRAME(&b, WIRE_RESULT, 5, 2, 2, 1, "[{\"r\":1},{\"e\":{}},{\"e\":{}}]");
    EXPECT_FRAME(&b, WIRE_RESULT, 7, 0, 0xfffffffffull, 0, "");
    EXPECT_FRAME(&b, WIRE_TASK, 3, WIRE_MODE_STARMAP, UINT64_MAX, UINT64_MAX - 1, "x");
    CHECK_INT(wire_next(&b, &h, &payload), 0); /* nothing left */
    CHECK_INT(b.off, b.len);
    wire_buf_free(&b);
    CHECK(b.data == NULL);
    CHECK_INT(b.len, 0);
    CHECK_INT(b.cap, 0);
}

TEST(test_wire_large_payload_round_trip)
{
    WireBuf b = {0};
    size_t n = 1 << 20;
    char *big = malloc(n + 1);

    CHECK(big != NULL);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    big[n] = '\0';
    wire_test_put(&b, WIRE_RESULT, 1, 0, 9, 0, big);
    CHECK(b.cap >= sizeof(WireHeader) + n);
    EXPECT_FRAME(&b, WIRE_RESULT, 1, 0, 9, 0, big);
    free(big);
    wire_buf_free(&b);
}

TEST(test_wire_partial_frame_needs_more)
{
    WireBuf src = {0}, b = {0};
    WireHeader h;
    const char *payload;
    size_t total;

    /* Two frames, fed into b one byte at a time. */
    wire_test_put(&src, WIRE_TASK, 2, WIRE_MODE_MAP, 11, 0, "[\"fib\",[10],null]");
    wire_test_put(&src, WIRE_TASK, 3, WIRE_MODE_APPLY, 12, 0, "[\"echo\",[1],{}]");
    total = src.len;
    size_t first = sizeof(WireHeader) + strlen("[\"fib\",[10],null]");
    for (size_t i = 0; i < first; i++) {
        CHECK_INT(wire_next(&b, &h, &payload), 0);
        CHECK_INT(b.off, 0); /* nothing consumed while incomplete */
        wire_test_feed(&b, src.data + i, 1);
    }
    EXPECT_FRAME(&b, WIRE_TASK, 2, WIRE_MODE_MAP, 11, 0, "[\"fib\",[10],null]");
    CHECK_INT(wire_next(&b, &h, &payload), 0);
    /* The second arrives as header-and-a-bit, then the rest. */
    wire_test_feed(&b, src.data + first, sizeof(WireHeader) + 3);
    CHECK_INT(wire_next(&b, &h, &payload), 0);
    wire_test_feed(&b, src.data + first + sizeof(WireHeader) + 3,
                   total - first - sizeof(WireHeader) - 3);
    EXPECT_FRAME(&b, WIRE_TASK, 3, WIRE_MODE_APPLY, 12, 0, "[\"echo\",[1],{}]");
    CHECK_INT(wire_next(&b, &h, &payload), 0);
    wire_buf_free(&src);
    wire_buf_free(&b);
}

TEST(test_wire_bad_kind_rejected)
{
    static const uint32_t kinds[] = {0, 6, 7, UINT32_MAX};

    for (size_t i = 0; i < ARRAY_LEN(kinds); i++) {
        WireBuf b = {0};
        WireHeader h;
        const char *payload;

        wire_test_put(&b, kinds[i], 0, 0, 1, 0, "abc");
        CHECK_INT(wire_next(&b, &h, &payload), -1);
        CHECK_INT(b.off, 0);
        wire_buf_free(&b);
    }
}

TEST(test_wire_bad_kind_rejected_before_payload)
{
    WireBuf b = {0};
    WireHeader h = {.len = 100, .kind = 9}, got;
    const char *payload;

    /* The header alone is enough to know the bytes are not a frame. */
    wire_test_feed(&b, &h, sizeof(h));
    CHECK_INT(wire_next(&b, &got, &payload), -1);
    wire_buf_free(&b);
}

TEST(test_wire_oversize_len_rejected)
{
    WireBuf b = {0};
    WireHeader h = {.len = WIRE_MAX_PAYLOAD + 1, .kind = WIRE_RESULT, .seq = 1}, got;
    const char *payload;

    wire_test_feed(&b, &h, sizeof(h));
    CHECK_INT(wire_next(&b, &got, &payload), -1);
    wire_buf_free(&b);
    h.len = UINT32_MAX;
    wire_test_feed(&b, &h, sizeof(h));
    CHECK_INT(wire_next(&b, &got, &payload), -1);
    wire_buf_free(&b);
    /* Exactly the limit is a frame still on its way, not garbage. */
    h.len = WIRE_MAX_PAYLOAD;
    wire_test_feed(&b, &h, sizeof(h));
    CHECK_INT(wire_next(&b, &got, &payload), 0);
    wire_buf_free(&b);
}

TEST(test_wire_put_oversize_rejected)
{
    WireBuf b = {0};
    WireHeader h = {.len = WIRE_MAX_PAYLOAD + 1, .kind = WIRE_TASK};

    CHECK_INT(wire_put(&b, &h, ""), -1);
    CHECK_INT(b.len, 0);
    wire_buf_free(&b);
}

TEST(test_wire_reserve_compaction_keeps_unconsumed)
{
    WireBuf b = {0};
    WireHeader h;
    const char *payload;
    char filler[1000];
    size_t cap, left;

    memset(filler, 'f', sizeof(filler) - 1);
    filler[sizeof(filler) - 1] = '\0';
    wire_test_put(&b, WIRE_TASK, 1, WIRE_MODE_APPLY, 1, 0, filler);
    wire_test_put(&b, WIRE_TASK, 2, WIRE_MODE_MAP, 2, 0, "[\"fib\",[5],null]");
    /* A third frame, only partly arrived. */
    {
        WireHeader h3 = {.len = 4, .kind = WIRE_RESULT, .slot = 3, .seq = 3};
        wire_test_feed(&b, &h3, sizeof(h3));
        wire_test_feed(&b, "[]", 2);
    }
    EXPECT_FRAME(&b, WIRE_TASK, 1, WIRE_MODE_APPLY, 1, 0, filler);
    CHECK(b.off > 0);
    cap = b.cap;
    left = b.len - b.off;
    /* More than the tail has free, less than the whole buffer: compacts in
     * place without growing. */
    CHECK_INT(wire_buf_reserve(&b, cap - left - 1), 0);
    CHECK_INT(b.off, 0);
    CHECK_INT(b.len, left);
    CHECK_INT(b.cap, cap);
    EXPECT_FRAME(&b, WIRE_TASK, 2, WIRE_MODE_MAP, 2, 0, "[\"fib\",[5],null]");
    CHECK_INT(wire_next(&b, &h, &payload), 0);
    wire_test_feed(&b, "{}", 2);
    EXPECT_FRAME(&b, WIRE_RESULT, 3, 0, 3, 0, "[]{}");
    wire_buf_free(&b);
}

TEST(test_wire_reserve_grows_and_keeps_unconsumed)
{
    WireBuf b = {0};
    size_t cap;

    wire_test_put(&b, WIRE_TASK, 1, WIRE_MODE_APPLY, 1, 0, "first");
    wire_test_put(&b, WIRE_TASK, 2, WIRE_MODE_APPLY, 2, 0, "second");
    EXPECT_FRAME(&b, WIRE_TASK, 1, WIRE_MODE_APPLY, 1, 0, "first");
    cap = b.cap;
    CHECK_INT(wire_buf_reserve(&b, cap * 4), 0);
    CHECK(b.cap - b.len >= cap * 4);
    CHECK_INT(b.off, 0);
    EXPECT_FRAME(&b, WIRE_TASK, 2, WIRE_MODE_APPLY, 2, 0, "second");
    wire_buf_free(&b);
}

TEST(test_wire_reserve_all_consumed_starts_over)
{
    WireBuf b = {0};
    size_t cap;

    wire_test_put(&b, WIRE_TASK, 1, WIRE_MODE_APPLY, 1, 0, "only");
    EXPECT_FRAME(&b, WIRE_TASK, 1, WIRE_MODE_APPLY, 1, 0, "only");
    cap = b.cap;
    CHECK_INT(wire_buf_reserve(&b, 1), 0);
    CHECK_INT(b.off, 0);
    CHECK_INT(b.len, 0);
    CHECK_INT(b.cap, cap);
    wire_buf_free(&b);
}

TEST(test_wire_claim_started_wins_once)
{
    WireClaim c = {.word = WIRE_CLAIM_WORD(7, WIRE_CLAIM_SENT)};

    CHECK_INT(wire_claim(&c, 7, WIRE_CLAIM_STARTED), 1);
    CHECK(c.word == WIRE_CLAIM_WORD(7, WIRE_CLAIM_STARTED));
    /* The dispatcher comes too late to steal it, and so does a second start. */
    CHECK_INT(wire_claim(&c, 7, WIRE_CLAIM_STOLEN), 0);
    CHECK_INT(wire_claim(&c, 7, WIRE_CLAIM_STARTED), 0);
    CHECK(c.word == WIRE_CLAIM_WORD(7, WIRE_CLAIM_STARTED));
}

TEST(test_wire_claim_stolen_blocks_start)
{
    WireClaim c = {.word = WIRE_CLAIM_WORD(9, WIRE_CLAIM_SENT)};

    CHECK_INT(wire_claim(&c, 9, WIRE_CLAIM_STOLEN), 1);
    CHECK(c.word == WIRE_CLAIM_WORD(9, WIRE_CLAIM_STOLEN));
    CHECK_INT(wire_claim(&c, 9, WIRE_CLAIM_STARTED), 0);
    CHECK(c.word == WIRE_CLAIM_WORD(9, WIRE_CLAIM_STOLEN));
}

TEST(test_wire_claim_stale_seq_fails)
{
    WireClaim c = {.word = WIRE_CLAIM_WORD(8, WIRE_CLAIM_SENT)};
    WireClaim idle = {WIRE_CLAIM_WORD(0, WIRE_CLAIM_FREE)};

    /* The slot was reused for task 8: task 7's worker must not take it. */
    CHECK_INT(wire_claim(&c, 7, WIRE_CLAIM_STARTED), 0);
    CHECK_INT(wire_claim(&c, 9, WIRE_CLAIM_STARTED), 0);
    CHECK(c.word == WIRE_CLAIM_WORD(8, WIRE_CLAIM_SENT));
    CHECK_INT(wire_claim(&c, 8, WIRE_CLAIM_STARTED), 1);
    /* A free slot holds no task to claim. */
    CHECK_INT(wire_claim(&idle, 0, WIRE_CLAIM_STARTED), 0);
    CHECK(idle.word == WIRE_CLAIM_WORD(0, WIRE_CLAIM_FREE));
}

/* Many threads race for the same claim: exactly one may win each round. */
#define WIRE_TEST_THREADS 8
#define WIRE_TEST_ROUNDS 2000

static WireClaim wire_test_race_claim;
static int wire_test_race_wins[WIRE_TEST_ROUNDS];
static pthread_barrier_t wire_test_barrier;

static void *
wire_test_racer(void *arg)
{
    int to = (int)(intptr_t)arg % 2 ? WIRE_CLAIM_STOLEN : WIRE_CLAIM_STARTED;

    for (uint64_t seq = 1; seq <= WIRE_TEST_ROUNDS; seq++) {
        pthread_barrier_wait(&wire_test_barrier); /* the word is set to SENT */
        if (wire_claim(&wire_test_race_claim, seq, to))
            __atomic_add_fetch(&wire_test_race_wins[seq - 1], 1, __ATOMIC_RELAXED);
        pthread_barrier_wait(&wire_test_barrier); /* everyone has tried */
        pthread_barrier_wait(&wire_test_barrier); /* the next word is set */
    }
    return NULL;
}

TEST(test_wire_claim_race_has_one_winner)
{
    pthread_t th[WIRE_TEST_THREADS];

    CHECK_INT(pthread_barrier_init(&wire_test_barrier, NULL, WIRE_TEST_THREADS + 1), 0);
    __atomic_store_n(&wire_test_race_claim.word, WIRE_CLAIM_WORD(1, WIRE_CLAIM_SENT),
                     __ATOMIC_RELEASE);
    for (intptr_t i = 0; i < WIRE_TEST_THREADS; i++)
        CHECK_INT(pthread_create(&th[i], NULL, wire_test_racer, (void *)i), 0);
    for (uint64_t seq = 1; seq <= WIRE_TEST_ROUNDS; seq++) {
        pthread_barrier_wait(&wire_test_barrier);
        pthread_barrier_wait(&wire_test_barrier);
        __atomic_store_n(&wire_test_race_claim.word, WIRE_CLAIM_WORD(seq + 1, WIRE_CLAIM_SENT),
                         __ATOMIC_RELEASE);
        pthread_barrier_wait(&wire_test_barrier);
    }
    for (int i = 0; i < WIRE_TEST_THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&wire_test_barrier);
    for (int r = 0; r < WIRE_TEST_ROUNDS; r++)
        if (wire_test_race_wins[r] != 1)
            harness_fail(__FILE__, __LINE__, "round %d had %d winners, expected 1", r,
                         wire_test_race_wins[r]);
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
