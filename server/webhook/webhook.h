/*
 * webhook.h: outbound deliveries of finished jobs (callback and
 * error_callback), signed as Standard Webhooks sign, retried with backoff,
 * and never aimed at the network behind poold.
 *
 * One thread runs every delivery on libcurl's multi interface, so a slow
 * receiver holds a connection, never a thread of the pool or of HTTP. The
 * module knows no job: a delivery is a URL, a body and an id, and each
 * attempt is reported to whoever queued it (the job table keeps the state,
 * and the store keeps it across restarts). Delivery is at least once:
 * receivers deduplicate on webhook-id, which stays the same across retries.
 */
#ifndef POOLD_WEBHOOK_H
#define POOLD_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "core/common.h"

#define WEBHOOK_MAX_ALLOW 32

typedef struct WebhookOptions {
    const char *secret;        /* "whsec_<base64>", or NULL: unsigned */
    double backoff;            /* seconds before the first retry; doubles */
    int max_attempts;          /* attempts in all, the first included */
    double timeout;            /* seconds one attempt may take */
    const char *allow[WEBHOOK_MAX_ALLOW]; /* hosts let through the guard */
    int nallow;
} WebhookOptions;

/* Where a delivery stands after an attempt. */
typedef struct WebhookReport {
    int attempts;              /* made so far */
    long last_status;          /* the receiver's HTTP status, 0 for none */
    char last_error[256];      /* why the last attempt failed, "" if it did not */
    int delivered;             /* a 2xx came back */
    int done;                  /* no attempt follows: delivered, refused or given up */
    double next_attempt_at;    /* wall clock of the next attempt, 0 for none */
    int stopped;               /* webhook_stop dropped it: no attempt follows
                                * here, and the rest of this report is moot */
} WebhookReport;

/* Called on the webhook thread after each attempt; ctx is the sender's,
 * held until the report that says done (or stopped, from webhook_stop). */
typedef void (*WebhookReportFn)(void *ctx, const WebhookReport *r);

/* Starts the delivery thread. NULL with err filled when the secret is not
 * "whsec_" and base64, or the thread cannot start. */
Webhooks *webhook_start(const WebhookOptions *o, char *err, size_t len);

/* Stops the thread; deliveries still waiting are dropped, each with a
 * last report that says stopped (their state is the job's, and the
 * store's, to resume). NULL is fine. */
void webhook_stop(Webhooks *w);

/*
 * Checks a callback URL at submit: SVC_OK; SVC_EINVAL when it is not an
 * absolute http or https URL; SVC_EFORBIDDEN when its host is a literal
 * address the guard refuses (and not allowed). why says which.
 */
int webhook_check_url(const Webhooks *w, const char *url, char *why, size_t len);

/*
 * Queues a delivery: body (copied) POSTed to url with id as its
 * webhook-id, first after `delay` seconds, counting `attempts` made
 * before (a redelivery after a restart). Returns SVC_OK (report follows
 * until done), SVC_ESTOPPED or SVC_ENOMEM.
 */
int webhook_send(Webhooks *w, const char *id, const char *url, const char *body, size_t len,
                 int attempts, double delay, WebhookReportFn report, void *ctx);

/* The signature header's value, "v1,<base64 HMAC-SHA256(key, id.ts.body)>",
 * into out (at least 64 bytes). Pure; exposed for the tests. */
void webhook_sign(const uint8_t *key, size_t key_len, const char *id, long long ts, const char *body,
                  size_t len, char *out, size_t out_len);

/* Decodes "whsec_<base64>" into key (at most *key_len bytes; set to the
 * length). SVC_OK or SVC_EINVAL. Pure. */
int webhook_secret_decode(const char *secret, uint8_t *key, size_t *key_len);

#endif
