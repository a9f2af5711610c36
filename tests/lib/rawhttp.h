/*
 * rawhttp.h: HTTP by hand, for the tests that send what libcurl will not
 * (malformed requests, bodies cut short or trickled a byte at a time,
 * floods of idle connections) and read what comes back as it comes. With
 * the checks they share on poold's answers (a problem, still up, a close
 * without an answer) and the sockets poold holds, from /proc/net/tcp.
 * Linked into every HTTP test; failures go through harness.h's CHECK.
 */
#ifndef POOLD_TEST_RAWHTTP_H
#define POOLD_TEST_RAWHTTP_H

#include <stddef.h>

#include <jansson.h>

#include "client.h"

/* A string literal as the text and length raw senders take, NULs and all. */
#define LIT(s) s, sizeof(s) - 1

/* Checks an RFC 9457 answer of poold's with the given 4xx status: got and
 * type are the answer's status and Content-Type, json its parsed body. */
void check_problem(long got, const char *type, json_t *json, long status);

/* /healthz answers and so does a call: poold is up and serving. */
void check_still_up(const Server *s);

/* A socket connected to port on 127.0.0.1, from address src when not
 * NULL (another loopback address is another client). */
int raw_connect(const char *src, int port);

/* Sends what it can of data: 0 when all went, -1 once the server has
 * closed (it may answer and close before a body it refused is all sent). */
int raw_send(int fd, const void *data, size_t len);

typedef struct RawAnswer {
    int status;       /* 0: no answer came */
    int closed;       /* the server closed the connection */
    char *text;       /* everything read, NUL-terminated */
    size_t len;
    const char *body; /* in text, after the headers */
    char type[128];   /* Content-Type, "" without one */
    json_t *json;     /* the body parsed, or NULL */
} RawAnswer;

/* Reads one answer, its headers and its Content-Length body (or its
 * chunks, left framed), or what comes until the server closes, for at
 * most `seconds`. The caller frees a with raw_free. */
void raw_read(int fd, double seconds, RawAnswer *a);
void raw_free(RawAnswer *a);

/* Connects, sends data, reads the answer; the socket is closed after. */
void raw_exchange(int port, const void *data, size_t len, double seconds, RawAnswer *a);

/* POSTs body (len bytes, NULs and all) to path with Content-Length and
 * reads the answer, on a connection of its own. */
void raw_post(int port, const char *path, const char *ctype, const void *body, size_t len, double seconds,
              RawAnswer *a);

/* raw_post, expecting a problem with status. */
void expect_raw_problem(const Server *s, const char *path, const char *ctype, const char *body, size_t len,
                        long status);

/* An idle connection (nothing sent since its last answer) is closed at
 * the timeout (the tests use 1 or 2 s), within 3.5 s, and unanswered: an
 * answer would be read as the next request's. Closes fd. */
void check_closed_unanswered(int fd);

/* A GET /healthz on a new connection from src: served (200), or, when
 * not served, closed at once unanswered (refused by the per-address
 * limit). */
void check_healthz_from(const char *src, int port, int served);

/* The sockets poold holds for its port, from /proc/net/tcp: established,
 * or the client gone and poold not yet closed; accepted (one the kernel
 * holds in its accept queue has no inode yet). With client_port, only the
 * one to that client's port. */
int server_socks(int port, int client_port);

/* All of them: server_socks(port, 0). */
int server_conns(int port);

/* Waits up to `seconds` for server_conns(port) to be at most n; 1 if so. */
int await_conns_at_most(int port, int n, double seconds);

/* The local port of a connected socket. */
int sock_port(int fd);

#endif
