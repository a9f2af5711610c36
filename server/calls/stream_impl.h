/*
 * stream_impl.h: a stream's insides, shared by stream.c (the window of
 * chunks on the pool, and the connection's calls) and stream_out.c (the
 * outbox: results turned into lines, held in memory or spilled to disk).
 * Nothing else includes it.
 */
#ifndef POOLD_STREAM_IMPL_H
#define POOLD_STREAM_IMPL_H

#include <pthread.h>
#include <sys/types.h>

#include "calls/stream.h"

#define STREAM_OUT_CAP (256 * 1024) /* outbox bytes held in memory */
#define STREAM_SUBMIT_MAX 64        /* chunks handed to the pool at once */

typedef struct StreamChunk {
    Stream *s;
    size_t first, n;          /* its items */
    int done;                 /* under s->lock */
    PoolResult res;           /* once done; its data is the chunk's */
    struct StreamChunk *next; /* in s->sent (imap) or s->back (unordered) */
} StreamChunk;

struct Stream {
    int refs;                 /* atomic: the connection's, one per chunk */
    pthread_mutex_t lock;     /* guards what is marked "lock" */
    Call *call;
    Pool *pool;
    uint64_t owner;
    int ordered, lines;
    size_t window;            /* items in flight at most: buffersize chunks */

    /* The connection's alone. */
    json_t *pending;          /* lines: items not yet in a chunk */
    size_t next;              /* index of the next item to send */
    size_t inflight;          /* items in chunks whose lines are not out yet
                               * (held ones included) */
    PoolTask *held[STREAM_SUBMIT_MAX]; /* built, not yet taken by the pool */
    StreamChunk *held_ch[STREAM_SUBMIT_MAX];
    size_t nheld, held_items;
    size_t items_out;         /* item lines written */
    Outcome cut_outcome;      /* what the final line says, once cut */
    int no_more;              /* a chunk could not be built: send none after it */
    int submitted;            /* a chunk went to the pool: the stream has begun */
    char cut_type[32], cut_msg[200];
    int input_end;
    int cut;                  /* the final line is written: nothing follows */
    json_t *last;             /* a final line to write once the items read
                               * so far are out (stream_reject) */
    Outcome last_outcome;     /* what it says */
    int ended;                /* stream_read said STREAM_END */
    char *out;                /* the outbox's memory part: the newest lines */
    size_t out_len, out_off, out_cap;
    int spill_fd;             /* older lines, while the client uploads */
    off_t spill_w, spill_r;
    size_t spill_held;        /* this stream's part of stream_spill_total */
    size_t max_spill;

    /* lock */
    StreamChunk *sent, *sent_tail; /* imap: every chunk in flight, in order */
    StreamChunk *back, *back_tail; /* imap_unordered: chunks back, in order of arrival */
    int cancelled;
    int room_wait;            /* a pool_submit_when_room is pending */
    StreamWakeFn wake;
    void *wake_ctx;
};

/* In stream_out.c: the outbox. All on the connection's thread. */
int stream_out_uploading(const Stream *s);   /* the client still sends lines */
size_t stream_out_pending(const Stream *s); /* bytes of lines not yet read */
int stream_out_json(Stream *s, json_t *line); /* appends a line (stolen); -1 on ENOMEM */
/* A final line {"error": {"type", "message", "status"}, "final": true},
 * its status the outcome's. New reference; NULL when out of memory. */
json_t *stream_out_final_line(const char *type, const char *msg, Outcome outcome);
/* Writes the final line that says why the stream ends, once; nothing
 * after it is read, so what still runs is cancelled. */
void stream_out_cut(Stream *s, const char *type, const char *msg, Outcome outcome);
/* The lines of one chunk that came back (or the cut it calls for). */
void stream_out_lines(Stream *s, const StreamChunk *ch);
/* Copies up to max bytes of lines, oldest first; STREAM_ERROR when the
 * spill file fails. */
ssize_t stream_out_copy(Stream *s, char *buf, size_t max);
/* Frees the outbox and gives back its part of the spill budget. */
void stream_out_free(Stream *s);

/* In stream.c. */
void stream_drop_held(Stream *s);        /* chunks built, never sent */

#endif
