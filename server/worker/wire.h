/*
 * wire.h: the framing between the dispatcher and its workers.
 *
 * A frame is a fixed header followed by `len` payload bytes on a SOCK_STREAM
 * socketpair (a SEQPACKET record cannot exceed the socket buffer, and results
 * can be large). Both ends are the same binary on the same host, so the
 * header is written in native byte order.
 *
 * A task's payload is the JSON text [id, items, kwds] (or, for
 * WIRE_MODE_APPLY_BODY, an apply's own body), id being the function's
 * RegistryFn.id: the HTTP thread found the function by its name already,
 * and a worker is a fork of the process that built the registry, so the
 * ids are the same on both sides. A result's payload is a JSON array with
 * one entry per item. When no item failed (the header says how many did),
 * each entry is the item's value as it is, so the answer to a client can
 * be spliced together without parsing it again; otherwise each entry is
 * an outcome: {"r": value} or {"e": {"type", "message"[, "outcome"]}}.
 * "outcome" is the number of the Outcome (core/outcome.h) the failure
 * stands for, absent for OUTCOME_FUNCTION_ERROR (the function raised);
 * an exec function's own deadline is OUTCOME_TIMED_OUT, as the call's
 * would be. A worker never speaks HTTP: what renders an error for a
 * client turns its outcome into a status (http/http_status.h).
 */
#ifndef POOLD_WIRE_H
#define POOLD_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_MAX_PAYLOAD (1u << 30)

/* A worker's exit statuses, part of the protocol as its frames are: the
 * pool reads them to say why a worker ended. WIRE_EXIT_START: it could not
 * start (a limit it cannot set, a plugin's initializer that failed);
 * WIRE_EXIT_NOMEM: it ran out of memory outside a function (reading a
 * task, encoding a result). */
#define WIRE_EXIT_START 70
#define WIRE_EXIT_NOMEM 71
/* WIRE_EXIT_RUNTIME: its warm runtime died or broke the protocol while it
 * ran a task (the WIRE_NOTE before it says how). */
#define WIRE_EXIT_RUNTIME 72

enum {
    WIRE_TASK = 1,   /* dispatcher -> worker */
    WIRE_RESULT = 2, /* worker -> dispatcher: one per task it started */
    WIRE_READY = 3,  /* worker -> dispatcher: initialised, takes tasks */
    WIRE_NOTE = 4,   /* worker -> dispatcher: why it is about to exit (text,
                      * WIRE_NOTE_MAX bytes at most), for the errors of its
                      * tasks and the crash loop's reason */
    WIRE_STARTED = 5, /* worker -> dispatcher: it won the claim of task seq
                       * (no payload); sent only when the task's header has
                       * WIRE_TASK_ANNOUNCE */
};

#define WIRE_NOTE_MAX 400

/* A task header's aux: the task has a deadline, so the worker records
 * when each item starts (WireClaim.since_ns) for the dispatcher to watch. */
#define WIRE_TASK_TIMED 1u
/* A task header's aux: someone waits to hear when the task starts (a job
 * turning running): the worker sends WIRE_STARTED when it wins the claim.
 * Only then, since a frame more per task would cost apply its speed. */
#define WIRE_TASK_ANNOUNCE 2u

/* How a task's items become calls. */
enum {
    WIRE_MODE_APPLY = 1,   /* items is the args array: one call */
    WIRE_MODE_MAP = 2,     /* one call per item, with args [item] */
    WIRE_MODE_STARMAP = 3, /* one call per item, with args item */
    WIRE_MODE_APPLY_BODY = 4, /* one call; the payload is an apply's own
                               * request body, which call_parse accepted
                               * (call_keep_body), parsed again with
                               * POOLD_BODY_JSON_FLAGS: its "func", its
                               * "args" ([] when missing), its "kwds" ({}
                               * when missing); the rest is not the
                               * worker's. The field names are the API's:
                               * call_parse_apply's, the one other place
                               * that reads them. */
};

typedef struct WireHeader {
    uint32_t len;  /* payload bytes that follow */
    uint32_t kind; /* WIRE_TASK or WIRE_RESULT */
    uint32_t slot; /* claim slot of the task (see pool/pool_task.c) */
    uint32_t mode; /* task: WIRE_MODE_*; result: items that failed */
    uint64_t seq;  /* task sequence number; a result echoes it */
    uint64_t aux;  /* task: WIRE_TASK_* flags; result: index in the chunk
                    * of the first failed item */
} WireHeader;

/* A receive buffer that frames are cut from. */
typedef struct WireBuf {
    char *data;
    size_t len, cap, off; /* bytes held, allocated, already consumed */
} WireBuf;

void wire_buf_free(WireBuf *b);

/* Makes room for at least `want` more bytes at data + len.
 * Returns 0, or -1 when out of memory. */
int wire_buf_reserve(WireBuf *b, size_t want);

/*
 * Cuts the next whole frame from b. Returns 1 with *h and *payload (borrowed,
 * valid until the next call on b) set, 0 when more bytes are needed, or -1
 * when the bytes cannot be a frame (unknown kind, oversize).
 */
int wire_next(WireBuf *b, WireHeader *h, const char **payload);

/* Appends header and payload to b. Returns 0, or -1 when out of memory. */
int wire_put(WireBuf *b, const WireHeader *h, const char *payload);

/* Writes header and payload to fd (blocking), whole. Returns 0, or -1
 * when fd fails. */
int wire_write(int fd, const WireHeader *h, const char *payload);

/*
 * Task claims. The dispatcher may write several tasks to one worker so that
 * a burst costs one wake-up instead of one per task. That must not let a
 * short task wait behind a long one while another worker is idle, nor lose
 * the unstarted tasks of a worker that dies. So each task sent carries a
 * claim word in memory shared by the dispatcher and all workers: the worker
 * moves it SENT -> STARTED before it runs the task, and the dispatcher takes
 * back an unstarted task by moving it SENT -> STOLEN. Whichever
 * compare-and-swap wins decides; the loser skips the task. The sequence
 * number in the word makes a reused slot unmistakable.
 */
enum { WIRE_CLAIM_FREE = 0, WIRE_CLAIM_SENT = 1, WIRE_CLAIM_STARTED = 2, WIRE_CLAIM_STOLEN = 3 };

typedef struct WireClaim {
    uint64_t word;     /* seq << 2 | WIRE_CLAIM_*; only touched with __atomic builtins */
    /* A timed task's progress, written by the worker before each item:
     * since_ns first, then item, so that a reader that loads item and then
     * since_ns never pairs an item with an earlier item's start. The
     * dispatcher zeroes both when it sends the task. */
    uint64_t since_ns; /* CLOCK_MONOTONIC when the current item started */
    uint64_t item;     /* index in the task of the item running */
    /* The process group of an exec function the task runs, 0 when none:
     * whoever kills the worker kills the group too, since a SIGKILLed
     * worker cannot. */
    int64_t group;
    /* CLOCK_MONOTONIC when the worker started the task (won its claim),
     * for the metrics' task durations; 0 until then. */
    uint64_t started_ns;
} WireClaim;

/* Marks item i of a timed task as started now (a worker's, see above). */
static inline void
wire_claim_progress(WireClaim *c, size_t i, uint64_t now_ns)
{
    if (!c)
        return;
    __atomic_store_n(&c->since_ns, now_ns, __ATOMIC_RELEASE);
    __atomic_store_n(&c->item, (uint64_t)i, __ATOMIC_RELEASE);
}

#define WIRE_CLAIM_WORD(seq, state) (((uint64_t)(seq) << 2) | (uint64_t)(state))

/* Moves the claim of task seq from SENT to `to`. Returns 1 when this caller
 * won the task, 0 when it was already started, stolen or reused. */
static inline int
wire_claim(WireClaim *c, uint64_t seq, int to)
{
    uint64_t expect = WIRE_CLAIM_WORD(seq, WIRE_CLAIM_SENT);

    return __atomic_compare_exchange_n(&c->word, &expect, WIRE_CLAIM_WORD(seq, to),
                                       0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

#endif
