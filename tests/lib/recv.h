/*
 * recv.h: what the webhook tests share: a receiver (libmicrohttpd, in the
 * test's process, on a loopback port) that records each delivery and
 * answers as told, the check a receiver makes of Standard Webhooks'
 * signature, and a poold started to deliver to it.
 */
#ifndef POOLD_TEST_RECV_H
#define POOLD_TEST_RECV_H

#include <pthread.h>
#include <stddef.h>

#include <jansson.h>
#include <microhttpd.h>

#include "client.h"

/* The --webhook-secret recv_server_start gives poold. */
#define RECV_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

typedef struct Hit {
    char path[64], id[128], ts[32], sig[128], type[64];
    char *body;
    double at;             /* when it came (now_seconds) */
} Hit;

typedef struct Receiver {
    struct MHD_Daemon *d;
    int port;
    pthread_mutex_t lock;
    const int *statuses;   /* answers in turn, the last one repeated; NULL: 200 */
    double delay;          /* seconds before each answer (the first `slow` ones) */
    int slow;              /* how many answers are delayed; -1 for all */
    const char *header[2]; /* one header every answer carries, or NULL */
    Hit hits[256];
    int nhits, open, most_open;
} Receiver;

/* Starts rv (its port is rv->port); a failure fails the test. */
void recv_start(Receiver *rv);

/* Stops rv and frees what its hits hold. */
void recv_stop(Receiver *rv);

/* The hits so far. */
int recv_count(Receiver *rv);

/* Waits up to `seconds` for n hits; 1 if they came. */
int recv_await(Receiver *rv, int n, double seconds);

/* The receiver's URL for path (static buffer). */
const char *recv_url(const Receiver *rv, const char *path);

/* The daemon's handlers, for a receiver started by hand on a port of the
 * test's choosing (cls and the notify's cls: the Receiver, its lock
 * initialised). */
enum MHD_Result recv_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                            const char *version, const char *data, size_t *size, void **req_cls);
void recv_done(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode toe);

/* Checks hit's signature as a receiver would, with its own HMAC of
 * RECV_SECRET. */
void recv_check_signature(const Hit *h);

/* Starts poold to deliver here: 127.0.0.1 allowed, RECV_SECRET, a 0.1 s
 * backoff, two processes, then extra (NULL-terminated, or NULL). */
void recv_server_start(Server *s, const char *const *extra);

/* The job's callback object, once `delivered` or its attempts reach n
 * (new reference), within 10 s; NULL if never. */
json_t *recv_await_callback(const Server *s, const char *id, int attempts);

#endif
