/*
 * fuzz_wire.c: frames cut from bytes as a worker's socket delivers them
 * (server/worker/wire.c).
 *
 * The first byte picks how the rest arrives: in reads of which sizes.
 * Whatever the bytes, wire_next must take whole frames only, in order,
 * each inside what was read, and stop for good at bytes that cannot be a
 * frame. The frames it took, put again with wire_put, must be the very
 * bytes they came from.
 */
#include <string.h>

#include "fuzz.h"
#include "worker/wire.h"

/* The size of the next read: small ones cut headers and payloads at
 * every offset, large ones bring several frames at once. */
static size_t
fuzz_read_size(unsigned *state)
{
    *state = *state * 1103515245u + 12345u;
    switch ((*state >> 16) % 4) {
    case 0: return 1;
    case 1: return 1 + (*state >> 20) % 7;
    case 2: return 1 + (*state >> 20) % sizeof(WireHeader) * 2;
    default: return 1 + (*state >> 18) % 4096;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    WireBuf in = {0}, out = {0};
    WireHeader h;
    const char *payload;
    const uint8_t *bytes = data + 1;
    size_t n = size ? size - 1 : 0, fed = 0, taken = 0;
    unsigned state = size ? data[0] : 0;
    int rc = 0;

    while (fed < n && rc >= 0) {
        size_t k = fuzz_read_size(&state);
        if (k > n - fed)
            k = n - fed;
        FUZZ_CHECK(wire_buf_reserve(&in, k) == 0);
        FUZZ_CHECK(in.cap - in.len >= k && in.off <= in.len);
        memcpy(in.data + in.len, bytes + fed, k);
        in.len += k;
        fed += k;
        while ((rc = wire_next(&in, &h, &payload)) == 1) {
            FUZZ_CHECK(h.kind >= WIRE_TASK && h.kind <= WIRE_STARTED && h.len <= WIRE_MAX_PAYLOAD);
            FUZZ_CHECK(payload >= in.data && payload + h.len <= in.data + in.len);
            FUZZ_CHECK(in.off <= in.len);
            taken += sizeof(h) + h.len;
            FUZZ_CHECK(wire_put(&out, &h, payload) == 0);
        }
    }
    /* What was taken is the input's first bytes, frame for frame. */
    FUZZ_CHECK(out.len == taken && taken <= n);
    FUZZ_CHECK(taken == 0 || memcmp(out.data, bytes, taken) == 0);
    if (rc < 0) {
        /* A bad header, named by its own fields, where the frames ended;
         * and it stays refused. */
        memcpy(&h, bytes + taken, sizeof(h));
        FUZZ_CHECK(h.kind < WIRE_TASK || h.kind > WIRE_STARTED || h.len > WIRE_MAX_PAYLOAD);
        FUZZ_CHECK(wire_next(&in, &h, &payload) == -1);
    } else {
        /* Waiting for more: what is left is no whole frame. */
        size_t left = n - taken;
        if (left >= sizeof(h)) {
            memcpy(&h, bytes + taken, sizeof(h));
            FUZZ_CHECK(left - sizeof(h) < h.len);
        }
    }
    wire_buf_free(&in);
    wire_buf_free(&out);
    return 0;
}
