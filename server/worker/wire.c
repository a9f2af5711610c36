/* wire.c: see wire.h. */
#include "worker/wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

void
wire_buf_free(WireBuf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

int
wire_buf_reserve(WireBuf *b, size_t want)
{
    char *grown;
    size_t cap;

    if (b->off > 0 && b->off == b->len) {
        b->off = b->len = 0;  /* all consumed: start over, no copy */
    } else if (b->off > 0 && b->cap - b->len < want) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
    if (b->cap - b->len >= want)
        return 0;
    cap = b->cap ? b->cap : 4096;
    while (cap - b->len < want) {
        if (cap > SIZE_MAX / 2)
            return -1;
        cap *= 2;
    }
    if (!(grown = realloc(b->data, cap)))
        return -1;
    b->data = grown;
    b->cap = cap;
    return 0;
}

int
wire_next(WireBuf *b, WireHeader *h, const char **payload)
{
    size_t avail = b->len - b->off;

    if (avail < sizeof(*h))
        return 0;
    memcpy(h, b->data + b->off, sizeof(*h));
    if (h->kind < WIRE_TASK || h->kind > WIRE_STARTED || h->len > WIRE_MAX_PAYLOAD)
        return -1;
    if (avail - sizeof(*h) < h->len)
        return 0;
    *payload = b->data + b->off + sizeof(*h);
    b->off += sizeof(*h) + h->len;
    return 1;
}

int
wire_put(WireBuf *b, const WireHeader *h, const char *payload)
{
    if (h->len > WIRE_MAX_PAYLOAD || wire_buf_reserve(b, sizeof(*h) + h->len) < 0)
        return -1;
    memcpy(b->data + b->len, h, sizeof(*h));
    if (h->len)
        memcpy(b->data + b->len + sizeof(*h), payload, h->len);
    b->len += sizeof(*h) + h->len;
    return 0;
}

int
wire_write(int fd, const WireHeader *h, const char *payload)
{
    struct iovec iov[2] = {{(void *)h, sizeof(*h)}, {(void *)payload, h->len}};
    struct iovec *v = iov;
    int n = 2;

    while (n > 0) {
        ssize_t w = writev(fd, v, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        while (n > 0 && (size_t)w >= v->iov_len) {
            w -= (ssize_t)v->iov_len;
            v++;
            n--;
        }
        if (n > 0) {
            v->iov_base = (char *)v->iov_base + w;
            v->iov_len -= (size_t)w;
        }
    }
    return 0;
}
