/* recv.c: see recv.h. */
#include "recv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nettle/base64.h>
#include <nettle/hmac.h>

#include "harness.h"

/* --- the receiver --- */

typedef struct Upload {
    char *body;
    size_t len;
} Upload;

enum MHD_Result
recv_access(void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *version,
            const char *data, size_t *size, void **req_cls)
{
    Receiver *rv = cls;
    Upload *u = *req_cls;
    int n, status;
    double delay = 0;

    (void)method, (void)version;
    if (!u) {
        *req_cls = calloc(1, sizeof(Upload));
        return MHD_YES;
    }
    if (*size) {
        u->body = realloc(u->body, u->len + *size + 1);
        memcpy(u->body + u->len, data, *size);
        u->len += *size;
        u->body[u->len] = '\0';
        *size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&rv->lock);
    n = rv->nhits < 256 ? rv->nhits++ : 255;
    Hit *h = &rv->hits[n];
    const char *v;
    snprintf(h->path, sizeof(h->path), "%s", url);
    snprintf(h->id, sizeof(h->id), "%s", (v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-id")) ? v : "");
    snprintf(h->ts, sizeof(h->ts), "%s", (v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-timestamp")) ? v : "");
    snprintf(h->sig, sizeof(h->sig), "%s", (v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-signature")) ? v : "");
    snprintf(h->type, sizeof(h->type), "%s", (v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type")) ? v : "");
    h->body = u->body ? strdup(u->body) : strdup("");
    h->at = now_seconds();
    status = 200;
    if (rv->statuses) {
        int k = 0;
        while (k < n && rv->statuses[k + 1])
            k++;
        status = rv->statuses[k];
    }
    if (rv->slow < 0 || n < rv->slow)
        delay = rv->delay;
    if (++rv->open > rv->most_open)
        rv->most_open = rv->open;
    pthread_mutex_unlock(&rv->lock);
    if (delay > 0)
        usleep((useconds_t)(delay * 1e6));
    pthread_mutex_lock(&rv->lock);
    rv->open--;
    pthread_mutex_unlock(&rv->lock);
    struct MHD_Response *resp = MHD_create_response_from_buffer(2, "ok", MHD_RESPMEM_PERSISTENT);
    if (rv->header[0])
        MHD_add_response_header(resp, rv->header[0], rv->header[1]);
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

void
recv_done(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode toe)
{
    Upload *u = *req_cls;

    (void)cls, (void)c, (void)toe;
    if (u)
        free(u->body);
    free(u);
}

void
recv_start(Receiver *rv)
{
    const union MHD_DaemonInfo *info;

    pthread_mutex_init(&rv->lock, NULL);
    rv->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                             recv_access, rv, MHD_OPTION_NOTIFY_COMPLETED, recv_done, rv,
                             MHD_OPTION_CONNECTION_LIMIT, 1000u, MHD_OPTION_END);
    if (!rv->d || !(info = MHD_get_daemon_info(rv->d, MHD_DAEMON_INFO_BIND_PORT)))
        harness_fail(__FILE__, __LINE__, "cannot start the receiver");
    rv->port = info->port;
}

void
recv_stop(Receiver *rv)
{
    if (rv->d)
        MHD_stop_daemon(rv->d);
    rv->d = NULL;
    for (int i = 0; i < rv->nhits; i++)
        free(rv->hits[i].body);
}

int
recv_count(Receiver *rv)
{
    int n;

    pthread_mutex_lock(&rv->lock);
    n = rv->nhits;
    pthread_mutex_unlock(&rv->lock);
    return n;
}

int
recv_await(Receiver *rv, int n, double seconds)
{
    for (double end = now_seconds() + seconds; now_seconds() < end; usleep(10 * 1000))
        if (recv_count(rv) >= n)
            return 1;
    return recv_count(rv) >= n;
}

const char *
recv_url(const Receiver *rv, const char *path)
{
    static char url[128];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", rv->port, path);
    return url;
}

void
recv_check_signature(const Hit *h)
{
    uint8_t key[64], mac[SHA256_DIGEST_SIZE];
    size_t klen = sizeof(key);
    struct base64_decode_ctx b;
    struct hmac_sha256_ctx ctx;
    char want[64] = "v1,", head[200];
    const char *secret = RECV_SECRET + 6;

    base64_decode_init(&b);
    CHECK(base64_decode_update(&b, &klen, key, strlen(secret), secret) && base64_decode_final(&b));
    snprintf(head, sizeof(head), "%s.%s.", h->id, h->ts);
    hmac_sha256_set_key(&ctx, klen, key);
    hmac_sha256_update(&ctx, strlen(head), (const uint8_t *)head);
    hmac_sha256_update(&ctx, strlen(h->body), (const uint8_t *)h->body);
    hmac_sha256_digest(&ctx, sizeof(mac), mac);
    base64_encode_raw(want + 3, sizeof(mac), mac);
    want[3 + BASE64_ENCODE_RAW_LENGTH(sizeof(mac))] = '\0';
    CHECK_STR(h->sig, want);
}

/* --- poold, delivering to it --- */

void
recv_server_start(Server *s, const char *const *extra)
{
    const char *args[24] = {"--webhook-allow-host", "127.0.0.1", "--webhook-secret", RECV_SECRET,
                            "--webhook-backoff", "0.1", "--processes", "2"};
    int n = 8;

    for (int i = 0; extra && extra[i] && n < 22; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    server_start(s, args);
}

json_t *
recv_await_callback(const Server *s, const char *id, int attempts)
{
    char path[128];

    snprintf(path, sizeof(path), "/v1/jobs/%s", id);
    for (double end = now_seconds() + 10; now_seconds() < end; usleep(20 * 1000)) {
        json_t *j = get_json(s, path), *cb = json_incref(jpath(j, "callback"));
        json_decref(j);
        if (cb && (json_is_true(json_object_get(cb, "delivered")) ||
                   json_integer_value(json_object_get(cb, "attempts")) >= attempts))
            return cb;
        json_decref(cb);
    }
    return NULL;
}
