/*
 * unit_config_secrets.c: config_hide_secrets, the wiping of the API keys
 * and the webhook secret from argv and the environment once config_parse
 * has copied them (tests/http/http_secrets.c checks what that, and poold
 * not being dumpable, keep from the code poold runs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "harness.h"

/* 1 when the n bytes at p are all zero. */
static int
zeroed(const char *p, size_t n)
{
    while (n--)
        if (*p++)
            return 0;
    return 1;
}

/* Each spelling of each secret, those that lost to a later flag too, is
 * wiped from argv and the environment; what the config keeps stays, and so
 * does every other argument, a value that reads like a secret flag included. */
TEST(test_config_hide_secrets_wipes_argv_and_the_environment)
{
    char a[][40] = {"poold", "--api-key", "flagkey-1234", "--api-key=eqkey-5678", "--webhook-secret",
                    "whsec_Zmlyc3Q=", "--webhook-secret=whsec_bGF0ZXI=", "--webhook-allow-host", "--api-key",
                    "--port", "9000"};
    char *argv[ARRAY_LEN(a) + 1] = {NULL};
    Config c;
    char err[256];

    for (size_t i = 0; i < ARRAY_LEN(a); i++)
        argv[i] = a[i];
    setenv("POOLD_API_KEY", "envkey-9999", 1);
    setenv("POOLD_WEBHOOK_SECRET", "whsec_ZW52", 1);
    char *env_key = getenv("POOLD_API_KEY"), *env_secret = getenv("POOLD_WEBHOOK_SECRET");
    CHECK_INT(config_parse(&c, (int)ARRAY_LEN(a), argv, stdout, err, sizeof(err)), SVC_OK);
    config_hide_secrets((int)ARRAY_LEN(a), argv);
    CHECK_INT(c.napi_keys, 3);
    CHECK_STR(c.api_keys[0], "envkey-9999");
    CHECK_STR(c.api_keys[1], "flagkey-1234");
    CHECK_STR(c.api_keys[2], "eqkey-5678");
    CHECK_STR(c.webhook_secret, "whsec_bGF0ZXI=");
    CHECK(zeroed(a[2], sizeof(a[2])));
    CHECK_STR(a[3], "--api-key=");
    CHECK(zeroed(a[3] + 10, sizeof(a[3]) - 10));
    CHECK(zeroed(a[5], sizeof(a[5])));
    CHECK_STR(a[6], "--webhook-secret=");
    CHECK(zeroed(a[6] + 17, sizeof(a[6]) - 17));
    CHECK_STR(a[1], "--api-key");
    CHECK_STR(a[8], "--api-key"); /* --webhook-allow-host's value */
    CHECK_STR(a[10], "9000");
    CHECK(zeroed(env_key, strlen("envkey-9999")));
    CHECK(zeroed(env_secret, strlen("whsec_ZW52")));
    CHECK(getenv("POOLD_API_KEY") == NULL);
    CHECK(getenv("POOLD_WEBHOOK_SECRET") == NULL);
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
