/*
 * contract.h: the HTTP tests' contract mode. With POOLD_CONTRACT_PROXY
 * naming Prism's command, every server a test starts gets a Prism proxy
 * (`prism proxy openapi.yaml http://127.0.0.1:PORT`) in front of it, the
 * requests of client.c go through it, and whatever breaks openapi.yaml
 * fails the test. `make contract` runs the suite's HTTP tests that way.
 *
 * Prism runs without --errors: with it, a request the spec calls invalid
 * gets Prism's own 422 instead of poold's answer, so a test that sends bad
 * input on purpose could no longer check poold's 400, and that 400 would
 * not be checked against the spec either. Without it, Prism forwards
 * everything and lists what it found in an sl-violations header, which
 * contract_check() judges.
 */
#ifndef POOLD_TEST_CONTRACT_H
#define POOLD_TEST_CONTRACT_H

#include <curl/curl.h>

#include "client.h"

/* 1 when the tests run in the contract mode. */
int contract_on(void);

/* Starts the proxy in front of s, which answers already, and waits until
 * it forwards. Exits 2 when it cannot start (as server_start does). */
void contract_start(Server *s);

/* Stops s's proxy, by its pid; nothing when it has none. */
void contract_stop(Server *s);

/* The port a request to s goes to: its proxy's, else poold's. A body
 * larger than Prism takes (10 MiB) goes straight to poold, unchecked. */
int contract_port(const Server *s, const char *body);

/* What Prism cannot judge in a request, as contract_headers() found. */
enum {
    CONTRACT_RAW_BODY = 1,    /* sent as written, not as JSON: its media type is not the spec's */
    CONTRACT_SCHEME_CASE = 2, /* "bearer" in another case, which Prism takes for another scheme */
};

/* The request headers a body needs to go through the proxy unchanged.
 * Prism re-encodes a JSON body before forwarding it, which would change
 * what some tests send (duplicate keys, integers past 2^53, spacing), so
 * a body is marked application/json, and so checked against the spec,
 * only when its re-encoding is the same bytes; any other goes as it
 * would without the proxy. *unchecked gets the CONTRACT_ flags of what
 * Prism will misjudge. Returns hl with what was added. The request counts
 * as in flight through the proxy until its contract_check(). */
struct curl_slist *contract_headers(const Server *s, const char *body, const char *const *headers,
                                    struct curl_slist *hl, int *unchecked);

/* Judges Prism's findings on one exchange (unchecked: contract_headers'
 * flags); on a breach, says what it was and exits 1, as a failed CHECK
 * does. */
void contract_check(const Server *s, const char *method, const char *path, const char *body, int unchecked,
                    const Resp *r);

#endif
