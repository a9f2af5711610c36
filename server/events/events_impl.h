/*
 * events_impl.h: the stream's insides, shared by events.c (the ring, what
 * publishers call, the counts) and events_reader.c (readers and the
 * waker). Nothing else includes it.
 */
#ifndef POOLD_EVENTS_IMPL_H
#define POOLD_EVENTS_IMPL_H

#include <pthread.h>

#include "events/events.h"

typedef struct EventsSlot {
    uint64_t id;
    EventType type;
    char job[33];      /* "" for none */
    char *text;        /* the whole frame, "id: ...\n\n" */
    size_t len;
} EventsSlot;

struct EventsReader {
    EventsReader *prev, *next; /* in events_state.readers */
    uint64_t cursor;           /* the id it reads next */
    unsigned types;            /* a bit per EventType it wants */
    char job[33];              /* "" for every job */
    int sleeping;              /* returned EVENTS_WAIT, not woken since */
    int heartbeat;             /* a comment is due */
    int gone;
    int detached;             /* out of S.readers (events_detach) */
    EventsWakeFn wake;
    void *wake_ctx;
    size_t pend_off, pend_len; /* a frame begun but not all written */
    char pend[EVENTS_MAX_FRAME + 256];
};

typedef struct EventsState {
    pthread_mutex_t lock;
    pthread_cond_t cond;       /* the waker's */
    int live;                  /* atomic: events_init done, not yet freed */
    int stopping;
    EventsSlot *ring;
    size_t cap;
    uint64_t first;            /* this run's first id */
    uint64_t next;             /* the id the next event gets */
    int news;                  /* published since the waker last woke readers */
    EventsReader *readers;
    size_t nreaders;
    size_t sleeping;           /* readers asleep, waiting for news */
    EventsOptions opt;
    pthread_t waker;
    int has_waker;
    uint64_t counts[EV_NTYPES]; /* atomic */
} EventsState;

extern EventsState events_state;

/* The oldest id the ring still holds; events_state.lock held. */
uint64_t events_oldest(void);

/* Counts one event of type t. */
void events_count(EventType t);

/* The EventType bits a filter's types name; 0 when one names none. */
unsigned events_filter_bits(const char *types);

/* The waker thread (events_reader.c). */
void *events_waker(void *arg);

#endif
