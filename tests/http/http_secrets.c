/*
 * http_secrets.c: code poold runs for its users (an exec function, a
 * warm Python runtime) cannot read poold's secrets, the API key and the
 * webhook secret, however the operator gave them (flags, --flag=value,
 * POOLD_* variables): not in its own environment, nor in the environ,
 * cmdline or memory of its worker, the fork server or poold.
 * tests/runtime/secrets_probe.py is that code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"

#define KEY_ENV "envkey-2b7f0c1d9e8a"
#define KEY_FLAG "flagkey-5c3e9a7d1b4f"
#define KEY_EQ "eqkey-8d2a6f4c0e9b"
#define SECRET_FLAG "whsec_ZmxhZ3NlY3JldC0zOWU1YTc="
#define SECRET_ENV "whsec_ZW52c2VjcmV0LTcxYzRiOA=="
#define SECRET_LATER "whsec_bGF0ZXJmbGFnLTVlMGQyYw=="

/* The --functions file: the probe as an exec function. */
static const char *
probe_functions(char *path, size_t len)
{
    char text[1024];

    snprintf(text, sizeof(text), "{\"functions\": [{\"name\": \"probe_exec\", \"exec\": [\"python3\", \"%s\"]}]}\n",
             test_runtime_file("secrets_probe.py"));
    return test_write_file(path, len, "secrets-fns.json", text);
}

/* "[[hex of each secret], pid]": the probe's args. In hex, so that the
 * secrets themselves do not travel through the memory the probe reads. */
static void
probe_args(char *out, size_t len, const char *const *secrets, int pid)
{
    size_t n = (size_t)snprintf(out, len, "[[");

    for (int i = 0; secrets[i]; i++) {
        n += (size_t)snprintf(out + n, len - n, "%s\"", i ? "," : "");
        for (const char *c = secrets[i]; *c; c++)
            n += (size_t)snprintf(out + n, len - n, "%02x", (unsigned char)*c);
        n += (size_t)snprintf(out + n, len - n, "\"");
    }
    snprintf(out + n, len - n, "], %d]", pid);
}

/* Calls func (the probe) and checks that it saw none of the secrets, while
 * it did read what it may (poold's cmdline, so the right process). */
static void
expect_nothing_found(const Server *s, const char *func, const char *auth, const char *const *secrets)
{
    char args[1024], body[1200];
    const char *h[] = {auth, NULL};
    json_t *res;
    Resp r;

    probe_args(args, sizeof(args), secrets, s->pid);
    snprintf(body, sizeof(body), "{\"func\":\"%s\",\"args\":%s}", func, args);
    CHECK(req_h(s, "POST", "/v1/apply", body, h, &r) == 0);
    CHECK_INT(r.status, 200);
    res = jpath(r.json, "result");
    char *found = json_dumps(jpath(res, "found"), 0), *readable = json_dumps(jpath(res, "readable"), 0);
    fprintf(stderr, "    %s: found %s; readable %s\n", func, found, readable);
    CHECK_INT(json_array_size(jpath(res, "found")), 0);
    CHECK_INT(json_integer_value(jpath(res, "forksrv_parent")), s->pid);
    CHECK(strstr(json_string_value(jpath(res, "poold_cmdline")) ?: "", "--webhook-secret") != NULL);
    free(found);
    free(readable);
    resp_free(&r);
}

/* A root test runner starts poold with no capability, as an unprivileged
 * user's poold has none: a process cannot guard itself from one that
 * holds CAP_SYS_PTRACE, nor an unprivileged one read a process whose
 * capabilities it lacks, whatever poold does. */
static void
drop_capabilities_of_what_runs_next(void)
{
    if (geteuid() != 0)
        return;
    for (int cap = 0; cap < 64; cap++)
        prctl(PR_CAPBSET_DROP, cap, 0, 0, 0); /* past the last one: EINVAL */
}

/* Starts poold with the probe both ways, the secrets given as args and
 * env say; probes; stops. */
static void
run_probes(const char *const *args_in, const char *const *env, const char *auth, const char *const *secrets)
{
    char fns[128];
    const char *args[24] = {"--processes", "1", "--functions", probe_functions(fns, sizeof(fns)), "--python",
                            test_runtime_file("secrets_probe.py")};
    size_t n = 6;
    Server s;

    for (size_t i = 0; args_in[i] && n < 23; i++)
        args[n++] = args_in[i];
    args[n] = NULL;
    drop_capabilities_of_what_runs_next();
    for (size_t i = 0; env[i]; i += 2)
        setenv(env[i], env[i + 1], 1);
    server_start(&s, args);
    for (size_t i = 0; env[i]; i += 2)
        unsetenv(env[i]);
    expect_nothing_found(&s, "probe_exec", auth, secrets);
    expect_nothing_found(&s, "probe", auth, secrets);
    server_stop(&s);
    unlink(fns);
}

TEST(test_secrets_from_flags_and_the_api_key_from_the_environment_stay_out_of_reach)
{
    static const char key_eq[] = "--api-key=" KEY_EQ;
    static const char *const args[] = {"--api-key", KEY_FLAG, key_eq, "--webhook-secret", SECRET_FLAG, NULL};
    static const char *const env[] = {"POOLD_API_KEY", KEY_ENV, NULL};
    static const char *const secrets[] = {KEY_ENV, KEY_FLAG, KEY_EQ, SECRET_FLAG, NULL};

    run_probes(args, env, "Authorization: Bearer " KEY_FLAG, secrets);
}

/* The flag wins over the variable, and a later flag over an earlier one:
 * the values that lost are secrets too. */
TEST(test_secrets_from_the_environment_and_overridden_ones_stay_out_of_reach)
{
    static const char *const args[] = {"--webhook-secret=" SECRET_FLAG, "--webhook-secret", SECRET_LATER, NULL};
    static const char *const env[] = {"POOLD_API_KEY", KEY_ENV, "POOLD_WEBHOOK_SECRET", SECRET_ENV, NULL};
    static const char *const secrets[] = {KEY_ENV, SECRET_ENV, SECRET_FLAG, SECRET_LATER, NULL};

    run_probes(args, env, "Authorization: Bearer " KEY_ENV, secrets);
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
