/*
 * fuzz_webhook.c: a callback URL checked at submit (server/webhook/webhook.c,
 * webhook_check_url), the address guard under it (server/webhook/netguard.c),
 * and the signing secret's decoding.
 *
 * The input is the URL; its first 16 bytes are also an address, and the
 * whole a secret. The URL must be taken, refused as no http(s) URL, or
 * refused for its host, and a URL taken must not name, in any form the
 * resolver reads as a number, an address the guard refuses. The guard
 * must judge each form that carries an IPv4 address (mapped, translated,
 * compatible, NAT64, 6to4, and its text, bracketed or not) as that
 * address; this host's addresses included (netguard_refused).
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "fuzz.h"
#include "webhook/netguard.h"
#include "webhook/webhook.h"

static Webhooks *fuzz_hooks;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    WebhookOptions o = {.backoff = 1, .max_attempts = 1, .timeout = 1,
                        .allow = {"allowed.example", "10.1.2.3", "[fd00::1]"}, .nallow = 3};
    char err[200];

    (void)argc, (void)argv;
    if (!(fuzz_hooks = webhook_start(&o, err, sizeof(err))))
        abort();
    return 0;
}

static int
fuzz_v4(uint32_t a)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(a)};
    char why[128] = "", text[INET_ADDRSTRLEN], why2[128];
    int bad = netguard_refused((struct sockaddr *)&sa, why, sizeof(why));

    FUZZ_CHECK(bad == 0 || (bad == 1 && why[0]));
    FUZZ_CHECK(inet_ntop(AF_INET, &sa.sin_addr, text, sizeof(text)));
    FUZZ_CHECK(netguard_literal(text, why2, sizeof(why2)) == bad);
    return bad;
}

static int
fuzz_v6(const uint8_t b[16])
{
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
    char why[128] = "", text[INET6_ADDRSTRLEN + 2], why2[128];
    int bad;

    memcpy(sa.sin6_addr.s6_addr, b, 16);
    bad = netguard_refused((struct sockaddr *)&sa, why, sizeof(why));
    FUZZ_CHECK(bad == 0 || (bad == 1 && why[0]));
    text[0] = '[';
    FUZZ_CHECK(inet_ntop(AF_INET6, b, text + 1, INET6_ADDRSTRLEN));
    FUZZ_CHECK(netguard_literal(text + 1, why2, sizeof(why2)) == bad);
    strcat(text, "]");
    FUZZ_CHECK(netguard_literal(text, why2, sizeof(why2)) == bad);
    return bad;
}

/* Every IPv6 form of IPv4 address a is judged as a is. */
static void
fuzz_guard(const uint8_t *p)
{
    uint32_t a = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    uint8_t v6[16] = {0};
    int bad = fuzz_v4(a);

    v6[10] = v6[11] = 0xff; /* mapped */
    memcpy(v6 + 12, p, 4);
    FUZZ_CHECK(fuzz_v6(v6) == bad);
    v6[8] = v6[9] = 0xff, v6[10] = v6[11] = 0; /* translated */
    FUZZ_CHECK(fuzz_v6(v6) == bad);
    v6[8] = v6[9] = 0; /* compatible; :: and ::1 are refused as such */
    FUZZ_CHECK(fuzz_v6(v6) == bad);
    v6[1] = 0x64, v6[2] = 0xff, v6[3] = 0x9b; /* NAT64 */
    FUZZ_CHECK(fuzz_v6(v6) == bad);
    memset(v6, 0, sizeof(v6));
    v6[0] = 0x20, v6[1] = 0x02; /* 6to4 */
    memcpy(v6 + 2, p, 4);
    memcpy(v6 + 6, p + 4, 10);
    FUZZ_CHECK(fuzz_v6(v6) == bad);
    fuzz_v6(p); /* any address at all */
}

/* The host of a URL the check took, as libcurl will connect to it: not a
 * number the guard refuses, unless the operator allowed it. */
static void
fuzz_taken(const char *url)
{
    CURLU *u = curl_url();
    char *host = NULL, bare[300], why[128];
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    size_t n;

    FUZZ_CHECK(u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK);
    FUZZ_CHECK(curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host[0]);
    n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
        snprintf(bare, sizeof(bare), "%.*s", (int)(n - 2), host + 1);
    else
        snprintf(bare, sizeof(bare), "%s", host);
    n = strlen(bare);
    if (n > 1 && bare[n - 1] == '.') /* a rooted name is the same host */
        bare[n - 1] = '\0';
    if (strcasecmp(bare, "10.1.2.3") != 0 && strcasecmp(bare, "fd00::1") != 0 &&
        getaddrinfo(bare, "80", &hints, &ai) == 0) {
        int bad = netguard_refused(ai->ai_addr, why, sizeof(why));
        if (bad)
            fprintf(stderr, "%s was taken, but its host %s is %s\n", url, host, why);
        FUZZ_CHECK(!bad);
        freeaddrinfo(ai);
    }
    curl_free(host);
    curl_url_cleanup(u);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = malloc(size + 1), why[300];
    uint8_t key[64], addr[16] = {0};
    size_t key_len = sizeof(key);
    int rc;

    FUZZ_CHECK(url);
    memcpy(url, data, size);
    url[size] = '\0';
    why[0] = '\0';
    rc = webhook_check_url(fuzz_hooks, url, why, sizeof(why));
    FUZZ_CHECK(rc == SVC_OK || rc == SVC_EINVAL || rc == SVC_EFORBIDDEN);
    FUZZ_CHECK(rc == SVC_OK || (why[0] && memchr(why, '\0', sizeof(why))));
    if (rc == SVC_OK)
        fuzz_taken(url);
    memcpy(addr, data, size < 16 ? size : 16);
    fuzz_guard(addr);
    if (webhook_secret_decode(url, key, &key_len) == SVC_OK) {
        char sig[128];
        FUZZ_CHECK(key_len >= 1 && key_len <= sizeof(key));
        webhook_sign(key, key_len, "msg_x", 1, url, size, sig, sizeof(sig));
        FUZZ_CHECK(strncmp(sig, "v1,", 3) == 0 && strlen(sig) == 3 + 44);
    }
    free(url);
    return 0;
}
