/*
 * unit_webhook.c: Standard Webhooks signing (against the test vector the
 * specification publishes), secrets, and which callback URLs a submit
 * takes.
 */
#include <string.h>

#include <curl/curl.h>

#include "harness.h"
#include "webhook/webhook.h"

TEST(test_webhook_signature_matches_the_standard_webhooks_vector)
{
    uint8_t key[64];
    size_t len = sizeof(key);
    char sig[128];
    const char *body = "{\"test\": 2432232314}";

    CHECK_INT(webhook_secret_decode("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key, &len), SVC_OK);
    CHECK_INT(len, 24);
    webhook_sign(key, len, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, strlen(body), sig, sizeof(sig));
    CHECK_STR(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    /* Any change to id, time or body changes it. */
    webhook_sign(key, len, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, body, strlen(body), sig, sizeof(sig));
    CHECK(strcmp(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=") != 0);
}

TEST(test_webhook_secrets_of_24_to_64_bytes_decode)
{
    uint8_t key[64];
    size_t len = sizeof(key);
    /* 64 bytes of 0x41 ('A'), base64 */
    const char *s64 = "whsec_QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQQ==";

    CHECK_INT(webhook_secret_decode(s64, key, &len), SVC_OK);
    CHECK_INT(len, 64);
    CHECK_INT(key[63], 'A');
}

TEST(test_webhook_secrets_must_be_whsec_and_base64)
{
    uint8_t key[64];
    size_t len;
    const char *bad[] = {"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_!!!!", "whsec_a", NULL};

    for (int i = 0; bad[i]; i++) {
        len = sizeof(key);
        if (webhook_secret_decode(bad[i], key, &len) != SVC_EINVAL)
            harness_fail(__FILE__, __LINE__, "%s was taken", bad[i]);
    }
}

TEST(test_webhook_urls_at_submit)
{
    WebhookOptions o = {.backoff = 1, .max_attempts = 3, .timeout = 5, .allow = {"allowed.internal", "10.1.2.3"},
                        .nallow = 2};
    char err[200], why[300];
    Webhooks *w = webhook_start(&o, err, sizeof(err));
    struct {
        const char *url;
        int rc;
    } cases[] = {
        {"https://hooks.example.com/poold", SVC_OK},
        {"http://example.com:8080/x?y=1", SVC_OK},
        {"http://allowed.internal/x", SVC_OK},
        {"http://10.1.2.3/x", SVC_OK},           /* allowed by the operator */
        {"http://localhost/x", SVC_OK},          /* a name: judged when it connects */
        {"http://127.0.0.1/x", SVC_EFORBIDDEN},
        {"http://127.1./x", SVC_EFORBIDDEN},     /* libcurl leaves it as written */
        {"http://0x7f.1./x", SVC_EFORBIDDEN},
        {"http://[::ffff:127.0.0.1]/x", SVC_EFORBIDDEN},
        {"http://169.254.169.254/latest", SVC_EFORBIDDEN},
        {"http://[fd00::1]/x", SVC_EFORBIDDEN},
        {"http://10.1.2.4/x", SVC_EFORBIDDEN},
        {"file:///etc/passwd", SVC_EINVAL},
        {"gopher://example.com/", SVC_EINVAL},
        {"example.com/x", SVC_EINVAL},
        {"http://", SVC_EINVAL},
        {"", SVC_EINVAL},
    };

    CHECK(w != NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = webhook_check_url(w, cases[i].url, why, sizeof(why));
        if (rc != cases[i].rc)
            harness_fail(__FILE__, __LINE__, "%s: %d, expected %d (%s)", cases[i].url, rc, cases[i].rc, why);
    }
    webhook_stop(w);
}

int
main(int argc, char **argv)
{
    curl_global_init(CURL_GLOBAL_ALL);
    return harness_run(argc, argv);
}
