/*
 * webhook.c: see webhook.h.
 *
 * Senders queue deliveries from any thread into `incoming` and wake the
 * thread (curl_multi_wakeup); the thread alone owns the multi handle and
 * the list of deliveries waiting for their time, ordered by it.
 *
 * The guard against SSRF checks the address libcurl actually connected to
 * (CURLOPT_PREREQFUNCTION runs once the connection is up, before a byte of
 * the request is sent), so a name that resolves to an inner address, at
 * the first lookup or after a DNS rebinding, is refused all the same. A
 * literal inner address is refused earlier, at submit.
 */
#include "webhook/webhook.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <curl/curl.h>
#include <nettle/base64.h>
#include <nettle/hmac.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "webhook/netguard.h"

#define WEBHOOK_MAX_INFLIGHT 256       /* attempts on the wire at once */
#define WEBHOOK_MAX_RETRY_AFTER 3600.0 /* the most a Retry-After may ask */

typedef struct WebhookJob {
    struct WebhookJob *next;   /* in incoming, or in due by time */
    char id[80];
    char *url, *body;
    size_t len;
    int attempts;
    double due;                /* monotonic */
    WebhookReportFn report;
    void *ctx;
    int allowed;               /* its host is let through the guard */
    /* while an attempt is on the wire */
    CURL *h;
    struct curl_slist *headers;
    double retry_after;        /* seconds, from a 429 or 503; 0 for none */
    char refused[200];         /* why the guard stopped it, "" if it did not */
    char errbuf[CURL_ERROR_SIZE];
} WebhookJob;

struct Webhooks {
    WebhookOptions opt;
    uint8_t key[66];           /* room for what base64 of 64 bytes decodes to */
    size_t key_len;
    pthread_mutex_t lock;
    WebhookJob *incoming;      /* lock: queued, not yet seen by the thread */
    int quit;                  /* lock */
    CURLM *multi;
    pthread_t thread;
    int started;
    /* the thread's own */
    WebhookJob *due;
    WebhookJob *wire;          /* attempts on the wire, by next */
    int inflight;
    unsigned seed;             /* for the jitter */
};

/* --- signing --- */

int
webhook_secret_decode(const char *secret, uint8_t *key, size_t *key_len)
{
    struct base64_decode_ctx ctx;
    size_t n, len;

    if (!secret || strncmp(secret, "whsec_", 6) != 0 || !*(secret += 6))
        return SVC_EINVAL;
    uint8_t buf[BASE64_DECODE_LENGTH(128)];

    len = strlen(secret);
    if (len > 128) /* Standard Webhooks secrets are 24 to 64 bytes */
        return SVC_EINVAL;
    base64_decode_init(&ctx);
    n = sizeof(buf);
    if (!base64_decode_update(&ctx, &n, buf, len, secret) || !base64_decode_final(&ctx) || n == 0 ||
        n > *key_len || n > 64)
        return SVC_EINVAL;
    memcpy(key, buf, n);
    *key_len = n;
    return SVC_OK;
}

void
webhook_sign(const uint8_t *key, size_t key_len, const char *id, long long ts, const char *body,
             size_t len, char *out, size_t out_len)
{
    struct hmac_sha256_ctx ctx;
    uint8_t mac[SHA256_DIGEST_SIZE];
    char head[128], b64[BASE64_ENCODE_RAW_LENGTH(SHA256_DIGEST_SIZE) + 1];
    int hl = snprintf(head, sizeof(head), "%s.%lld.", id, ts);

    hmac_sha256_set_key(&ctx, key_len, key);
    hmac_sha256_update(&ctx, (size_t)hl, (const uint8_t *)head);
    hmac_sha256_update(&ctx, len, (const uint8_t *)body);
    hmac_sha256_digest(&ctx, sizeof(mac), mac);
    base64_encode_raw(b64, sizeof(mac), mac);
    b64[BASE64_ENCODE_RAW_LENGTH(sizeof(mac))] = '\0';
    snprintf(out, out_len, "v1,%s", b64);
}

/* --- URLs and the guard --- */

/* 1 when host (as a URL writes it) is one the operator let through. */
/* host without brackets ([::1] is ::1) and without a final dot (a name
 * and its rooted form are one host): *len bytes from the returned start. */
static const char *
webhook_bare(const char *host, size_t *len)
{
    size_t n = strlen(host);

    if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
        host++, n -= 2;
    if (n > 1 && host[n - 1] == '.')
        n--;
    *len = n;
    return host;
}

static int
webhook_allowed(const Webhooks *w, const char *host)
{
    size_t n, an;
    const char *h = webhook_bare(host, &n), *a;

    for (int i = 0; i < w->opt.nallow; i++) {
        a = webhook_bare(w->opt.allow[i], &an);
        if (an == n && strncasecmp(a, h, n) == 0)
            return 1;
    }
    return 0;
}

/* The URL's scheme and host (malloc'd), or SVC_EINVAL with why. */
static int
webhook_parse(const char *url, char **host, char *why, size_t len)
{
    CURLU *u = curl_url();
    char *scheme = NULL;
    int rc = SVC_EINVAL;

    *host = NULL;
    if (!u)
        return SVC_ENOMEM;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
        snprintf(why, len, "not an absolute URL");
    else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
             (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
        snprintf(why, len, "only http and https URLs are allowed");
    else if (curl_url_get(u, CURLUPART_HOST, host, 0) != CURLUE_OK || !*host || !**host)
        snprintf(why, len, "the URL has no host");
    else
        rc = SVC_OK;
    curl_free(scheme);
    curl_url_cleanup(u);
    return rc;
}

int
webhook_check_url(const Webhooks *w, const char *url, char *why, size_t len)
{
    char *host = NULL, what[128];
    int rc = webhook_parse(url, &host, why, len);

    char bare[256];
    size_t n;
    const char *b = rc == SVC_OK ? webhook_bare(host, &n) : NULL;

    if (b)
        snprintf(bare, sizeof(bare), "%.*s", (int)(n < 255 ? n : 255), b); /* "127.0.0.1." is 127.0.0.1 */
    if (rc == SVC_OK && !webhook_allowed(w, host) && netguard_literal(bare, what, sizeof(what)) == 1) {
        snprintf(why, len, "%s is %s: not a target for callbacks (see --webhook-allow-host)", host, what);
        rc = SVC_EFORBIDDEN;
    }
    curl_free(host);
    return rc;
}

/* CURLOPT_PREREQFUNCTION: the connection is up, nothing is sent yet. */
static int
webhook_prereq(void *ctx, char *ip, char *local, int port, int local_port)
{
    WebhookJob *j = ctx;
    struct sockaddr_in v4 = {.sin_family = AF_INET};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
    char what[128] = "not an internet address";
    int bad = 1;

    (void)local, (void)port, (void)local_port;
    if (j->allowed)
        return CURL_PREREQFUNC_OK;
    if (inet_pton(AF_INET, ip, &v4.sin_addr) == 1)
        bad = netguard_refused((struct sockaddr *)&v4, what, sizeof(what));
    else if (inet_pton(AF_INET6, ip, &v6.sin6_addr) == 1)
        bad = netguard_refused((struct sockaddr *)&v6, what, sizeof(what));
    if (!bad)
        return CURL_PREREQFUNC_OK;
    snprintf(j->refused, sizeof(j->refused), "refused: the host resolves to %s, %s (see --webhook-allow-host)",
             ip, what);
    return CURL_PREREQFUNC_ABORT;
}

/* --- attempts --- */

static void
webhook_job_free(WebhookJob *j)
{
    if (!j)
        return;
    free(j->url);
    free(j->body);
    free(j);
}

/* Keeps the Retry-After of a 429 or 503 (seconds only; a date is rare). */
static size_t
webhook_header(char *data, size_t size, size_t n, void *ctx)
{
    WebhookJob *j = ctx;
    size_t len = size * n;
    char buf[64];

    if (len > 12 && len < sizeof(buf) && strncasecmp(data, "Retry-After:", 12) == 0) {
        memcpy(buf, data + 12, len - 12);
        buf[len - 12] = '\0';
        double v = strtod(buf, NULL);
        j->retry_after = v > 0 ? (v > WEBHOOK_MAX_RETRY_AFTER ? WEBHOOK_MAX_RETRY_AFTER : v) : 0;
    }
    return len;
}

static size_t
webhook_discard(char *data, size_t size, size_t n, void *ctx)
{
    (void)data, (void)ctx;
    return size * n; /* the receiver's body does not matter */
}

/* Puts j on the wire. -1 when libcurl cannot (j is then reported failed). */
static int
webhook_attempt(Webhooks *w, WebhookJob *j)
{
    char line[160], sig[128];
    long long ts = (long long)time(NULL);
    struct curl_slist *h = NULL;

    j->retry_after = 0;
    j->refused[0] = j->errbuf[0] = '\0';
    if (!(j->h = curl_easy_init()))
        return -1;
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "User-Agent: poold");
    h = curl_slist_append(h, "Expect:");
    snprintf(line, sizeof(line), "webhook-id: %s", j->id);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof(line), "webhook-timestamp: %lld", ts);
    h = curl_slist_append(h, line);
    if (w->key_len) {
        webhook_sign(w->key, w->key_len, j->id, ts, j->body, j->len, sig, sizeof(sig));
        snprintf(line, sizeof(line), "webhook-signature: %s", sig);
        h = curl_slist_append(h, line);
    }
    j->headers = h;
    curl_easy_setopt(j->h, CURLOPT_URL, j->url);
    curl_easy_setopt(j->h, CURLOPT_PROTOCOLS_STR, "http,https");
    /* No proxy from the environment: the guard must see the target's own
     * address, not a proxy's (through which any target could be reached). */
    curl_easy_setopt(j->h, CURLOPT_PROXY, "");
    curl_easy_setopt(j->h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(j->h, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(j->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->len);
    curl_easy_setopt(j->h, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(j->h, CURLOPT_TIMEOUT_MS, (long)(w->opt.timeout * 1000));
    curl_easy_setopt(j->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(j->h, CURLOPT_PREREQFUNCTION, webhook_prereq);
    curl_easy_setopt(j->h, CURLOPT_PREREQDATA, j);
    curl_easy_setopt(j->h, CURLOPT_HEADERFUNCTION, webhook_header);
    curl_easy_setopt(j->h, CURLOPT_HEADERDATA, j);
    curl_easy_setopt(j->h, CURLOPT_WRITEFUNCTION, webhook_discard);
    curl_easy_setopt(j->h, CURLOPT_ERRORBUFFER, j->errbuf);
    curl_easy_setopt(j->h, CURLOPT_PRIVATE, j);
    if (curl_multi_add_handle(w->multi, j->h) != CURLM_OK)
        return -1;
    j->next = w->wire;
    w->wire = j;
    w->inflight++;
    return 0;
}

/* Inserts j into w->due by its time. O(n): deliveries waiting for a retry
 * are few next to the jobs, and a heap can come when they are not. */
static void
webhook_schedule(Webhooks *w, WebhookJob *j)
{
    WebhookJob **p = &w->due;

    while (*p && (*p)->due <= j->due)
        p = &(*p)->next;
    j->next = *p;
    *p = j;
}

/* After an attempt (code, status): reports it, and retries or forgets. */
static void
webhook_settle(Webhooks *w, WebhookJob *j, CURLcode code, long status)
{
    WebhookReport r = {.attempts = ++j->attempts, .last_status = status};
    MetricsWebhookOutcome outcome = MW_STATUS;
    double delay;

    if (code == CURLE_OK && status >= 200 && status < 300) {
        r.delivered = r.done = 1;
        outcome = MW_DELIVERED;
    } else if (j->refused[0]) {
        snprintf(r.last_error, sizeof(r.last_error), "%s", j->refused);
        r.done = 1; /* where it points will not change by waiting */
        outcome = MW_REFUSED;
    } else {
        if (code != CURLE_OK) {
            snprintf(r.last_error, sizeof(r.last_error), "%s", j->errbuf[0] ? j->errbuf : curl_easy_strerror(code));
            outcome = code == CURLE_OPERATION_TIMEDOUT ? MW_TIMEOUT : MW_NETWORK;
        } else {
            snprintf(r.last_error, sizeof(r.last_error), "the receiver answered %ld", status);
        }
        r.done = j->attempts >= w->opt.max_attempts;
    }
    metrics_webhook(outcome, r.done && !r.delivered);
    if (!r.done) {
        /* Exponential, with jitter so that a receiver coming back is not
         * met by every retry at the same instant; its Retry-After wins. */
        delay = w->opt.backoff * (double)(1u << (j->attempts - 1 < 20 ? j->attempts - 1 : 20));
        delay *= 0.75 + 0.5 * ((double)rand_r(&w->seed) / RAND_MAX);
        if (j->retry_after > 0 && (status == 429 || status == 503))
            delay = j->retry_after;
        j->due = clock_mono() + delay;
        r.next_attempt_at = clock_wall() + delay;
    }
    j->report(j->ctx, &r);
    if (r.done)
        webhook_job_free(j);
    else
        webhook_schedule(w, j);
}

/* Takes the attempts that ended off the multi handle. */
static void
webhook_collect(Webhooks *w)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(w->multi, &left))) {
        WebhookJob *j = NULL;
        long status = 0;
        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
        curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        CURLcode code = m->data.result;
        curl_multi_remove_handle(w->multi, m->easy_handle);
        for (WebhookJob **p = &w->wire; *p; p = &(*p)->next)
            if (*p == j) {
                *p = j->next;
                break;
            }
        curl_easy_cleanup(j->h);
        curl_slist_free_all(j->headers);
        j->h = NULL;
        j->headers = NULL;
        w->inflight--;
        webhook_settle(w, j, code, status);
    }
}

static void *
webhook_run(void *arg)
{
    Webhooks *w = arg;
    int running;

    for (;;) {
        pthread_mutex_lock(&w->lock);
        WebhookJob *in = w->incoming;
        int quit = w->quit;
        w->incoming = NULL;
        pthread_mutex_unlock(&w->lock);
        while (in) {
            WebhookJob *next = in->next;
            webhook_schedule(w, in);
            in = next;
        }
        if (quit)
            break;
        double now = clock_mono();
        while (w->due && w->due->due <= now && w->inflight < WEBHOOK_MAX_INFLIGHT) {
            WebhookJob *j = w->due;
            w->due = j->next;
            if (webhook_attempt(w, j) < 0) {
                curl_easy_cleanup(j->h);
                curl_slist_free_all(j->headers);
                j->h = NULL;
                j->headers = NULL;
                snprintf(j->errbuf, sizeof(j->errbuf), "out of memory for the request");
                webhook_settle(w, j, CURLE_OUT_OF_MEMORY, 0);
            }
        }
        curl_multi_perform(w->multi, &running);
        webhook_collect(w);
        /* At the cap, what is due waits for an attempt to end, not for
         * its time (which has come: the wait would be 0, a spin). */
        double wait = w->due && w->inflight < WEBHOOK_MAX_INFLIGHT ? (w->due->due - clock_mono()) * 1000 : 1000;
        curl_multi_poll(w->multi, NULL, 0, wait < 0 ? 0 : wait > 1000 ? 1000 : (int)wait + 1, NULL);
    }
    return NULL;
}

static void
webhook_drop(WebhookJob *j)
{
    WebhookReport r = {.attempts = j->attempts, .stopped = 1};

    j->report(j->ctx, &r);
    webhook_job_free(j);
}

/* At the stop, after the thread ended: every delivery left, told. */
static void
webhook_drop_all(Webhooks *w)
{
    WebhookJob *j;

    for (WebhookJob *next; (j = w->due); w->due = next) {
        next = j->next;
        webhook_drop(j);
    }
    for (WebhookJob *next; (j = w->incoming); w->incoming = next) {
        next = j->next;
        webhook_drop(j);
    }
    for (WebhookJob *next; (j = w->wire); w->wire = next) {
        next = j->next;
        curl_multi_remove_handle(w->multi, j->h);
        curl_easy_cleanup(j->h);
        curl_slist_free_all(j->headers);
        webhook_drop(j);
    }
}

/* --- the public calls --- */

Webhooks *
webhook_start(const WebhookOptions *o, char *err, size_t len)
{
    Webhooks *w = calloc(1, sizeof(*w));

    if (!w) {
        snprintf(err, len, "out of memory");
        return NULL;
    }
    w->opt = *o;
    w->key_len = sizeof(w->key);
    if (!o->secret)
        w->key_len = 0;
    else if (webhook_secret_decode(o->secret, w->key, &w->key_len) != SVC_OK) {
        snprintf(err, len, "--webhook-secret: must be whsec_ and base64 (at most 64 bytes), as Standard "
                           "Webhooks writes it");
        free(w);
        return NULL;
    }
    if (getrandom(&w->seed, sizeof(w->seed), 0) < 0)
        w->seed = (unsigned)time(NULL);
    pthread_mutex_init(&w->lock, NULL);
    if (!(w->multi = curl_multi_init()) || pthread_create(&w->thread, NULL, webhook_run, w) != 0) {
        snprintf(err, len, "cannot start the webhook thread");
        webhook_stop(w);
        return NULL;
    }
    w->started = 1;
    return w;
}

void
webhook_stop(Webhooks *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->quit = 1;
    pthread_mutex_unlock(&w->lock);
    if (w->multi)
        curl_multi_wakeup(w->multi);
    if (w->started)
        pthread_join(w->thread, NULL);
    /* What is left is dropped, its sender told so. In flight ones are on
     * the multi handle only: find them through it. */
    if (w->started)
        webhook_drop_all(w);
    curl_multi_cleanup(w->multi);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

int
webhook_send(Webhooks *w, const char *id, const char *url, const char *body, size_t len,
             int attempts, double delay, WebhookReportFn report, void *ctx)
{
    WebhookJob *j = calloc(1, sizeof(*j));
    char *host = NULL, why[128];
    int rc = SVC_OK;

    if (!j || !(j->url = strdup(url)) || !(j->body = malloc(len + 1))) {
        webhook_job_free(j);
        return SVC_ENOMEM;
    }
    snprintf(j->id, sizeof(j->id), "%s", id);
    memcpy(j->body, body, len);
    j->body[len] = '\0';
    j->len = len;
    j->attempts = attempts;
    j->due = clock_mono() + (delay > 0 ? delay : 0);
    j->report = report;
    j->ctx = ctx;
    j->allowed = webhook_parse(url, &host, why, sizeof(why)) == SVC_OK && webhook_allowed(w, host);
    curl_free(host);
    pthread_mutex_lock(&w->lock);
    if (w->quit) {
        rc = SVC_ESTOPPED;
    } else {
        j->next = w->incoming;
        w->incoming = j;
        curl_multi_wakeup(w->multi); /* under the lock: webhook_stop cannot clean up meanwhile */
    }
    pthread_mutex_unlock(&w->lock);
    if (rc != SVC_OK)
        webhook_job_free(j);
    return rc;
}
