/*
 * unit_config.c: config_parse and config_parse_size. Defaults, each flag and
 * its POOLD_* twin, precedence, bad values and --help.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "harness.h"
#include "core/log.h"

#include "config_test.h"

TEST(test_config_defaults)
{
    Config c;
    char err[256];
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    CHECK_INT(config_test_parse(&c, ARGV(), err, sizeof(err), NULL), SVC_OK);
    CHECK_STR(c.host, "127.0.0.1");
    CHECK_INT(c.port, 8080);
    CHECK_INT(c.processes, ncpu > 0 ? ncpu : 1);
    CHECK_INT(c.max_body, 64u << 20);
    CHECK_INT(c.max_queue, 100000);
    CHECK_INT(c.max_conns, 10000);
    CHECK_INT(c.http_threads, ncpu > 1 ? (ncpu * 2 < 8 ? ncpu * 2 : 8) : 2);
    CHECK_INT(c.store_memory, 0);
    CHECK_STR(c.data_dir, "data");
    CHECK_STR(c.store_path, "data/poold.db");
    CHECK_INT(c.fsync_full, 0);
    CHECK_INT(c.log_level, LOG_INFO);
}

TEST(test_config_flag_host)
{
    Config c;
    char err[256];

    CHECK_INT(config_test_parse(&c, ARGV("--host", "0.0.0.0"), err, sizeof(err), NULL), SVC_OK);
    CHECK_STR(c.host, "0.0.0.0");
    CHECK_INT(config_test_parse(&c, ARGV("-H", "::1"), err, sizeof(err), NULL), SVC_OK);
    CHECK_STR(c.host, "::1");
}

TEST(test_config_flag_port)
{
    Config c;
    char err[256];

    CHECK_INT(config_test_parse(&c, ARGV("--port", "9000"), err, sizeof(err), NULL), SVC_OK);
    CHECK_INT(c.port, 9000);
    CHECK_INT(config_test_parse(&c, ARGV("-p", "65535"), err, sizeof(err), NULL), SVC_OK);
    CHECK_INT(c.port, 65535);
    CHECK_INT(config_test_parse(&c, ARGV("--port=1"), err, sizeof(err), NULL), SVC_OK);
    CHECK_INT(c.port, 1);
}

TEST(test_config_flag_processes)
{
    Config c;
    char err[256];

    CHECK_INT(config_test_parse(&c, ARGV("--processes", "7"), err, sizeof(err), NULL), SVC_OK);
    CHECK_INT(c.processes, 7);
    CHECK_INT(config_test_parse(&c, ARGV("-n", "1"), err, sizeof(err), NULL), SVC_OK);
    CHECK_INT(c.processes, 1);
}

TEST(test_config_flag_max_body)
{
    Config c;
    char err[256];

    CHECK_INT(config_test_parse(&c, ARGV("--max-body", "1M"), err, sizeof(err), NULL), SVC_OK);
    CHECK_INT(c.max_body, 1 << 20);
    CHECK_INT(config_test_parse(&c, ARGV("--max-body", "4096"), err, sizeof(err), NULL), SVC_OK);
    CHECK_INT(c.max_body, 4096);
}

TEST(test_config_flag_max_queue)
{
    Config c;
    char err[256];

    CHECK_INT(config_test_parse(&c, ARGV("--max-queue", "5"), err, sizeof(err), NULL), SVC_OK);
    CHECK_INT(c.max_queue, 5);
}

TEST(test_config_flag_max_connections)
{
    Config c;
    char err[256];

    CHECK_INT(config_test_parse(&c, ARGV("--max-connections", "64"), err, sizeof(err), NULL),
              SVC_OK);
    CHECK_INT(c.max_conns, 64);
}

TEST(test_config_flag_http_threads)
{
    Config c;
    char err[256];

    CHECK_INT(config_test_parse(&c, ARGV("--http-threads", "8"), err, sizeof(err), NULL), SVC_OK);
    CHECK_INT(c.http_threads, 8);
}

TEST(test_config_flag_store)
{
    Config c;
    char err[256];

    CHECK_INT(config_test_parse(&c, ARGV("--store", "memory"), err, sizeof(err), NULL), SVC_OK);
    CHECK_INT(c.store_memory, 1);
    CHECK_STR(c.store_path, "");
    CHECK_INT(config_test_parse(&c, ARGV("--store", "sqlite:/tmp/x/jobs.db"), err, sizeof(err), NULL), SVC_OK);
    CHECK_INT(c.store_memory, 0);
    CHECK_STR(c.store_path, "/tmp/x/jobs.db");
    /* --data-dir names the directory; --store sqlite: names the file. */
    CHECK_INT(config_test_parse(&c, ARGV("--data-dir", "/var/lib/poold"), err, sizeof(err), NULL), SVC_OK);
    CHECK_STR(c.store_path, "/var/lib/poold/poold.db");
    CHECK_INT(config_test_parse(&c, ARGV("--data-dir", "/d", "--store", "sqlite:f.db"), err, sizeof(err), NULL),
              SVC_OK);
    CHECK_STR(c.store_path, "f.db");
    CHECK_INT(config_test_parse(&c, ARGV("--fsync", "full"), err, sizeof(err), NULL), SVC_OK);
    CHECK_INT(c.fsync_full, 1);
    /* redis://: no SQLite file beside it; its bad spellings: http_redis.c. */
    CHECK_INT(config_test_parse(&c, ARGV("--store", "redis://[::1]:6380/2"), err, sizeof(err), NULL), SVC_OK);
    CHECK(strcmp(c.redis_host, "::1") == 0 && c.redis_port == 6380 && c.redis_db == 2 && !c.store_path[0]);
    CHECK_INT(config_test_parse(&c, ARGV("--store", "redis://h:1", "--store", "memory"), err, sizeof(err), NULL),
              SVC_OK);
    CHECK(!c.redis_host[0] && c.store_memory);
}

TEST(test_config_flag_log_level)
{
    Config c;
    char err[256];

    CHECK_INT(config_test_parse(&c, ARGV("--log-level", "debug"), err, sizeof(err), NULL), SVC_OK);
    CHECK_INT(c.log_level, LOG_DEBUG);
    CHECK_INT(config_test_parse(&c, ARGV("--log-level", "error"), err, sizeof(err), NULL), SVC_OK);
    CHECK_INT(c.log_level, LOG_ERROR);
}

TEST(test_config_flags_combined)
{
    Config c;
    char err[256];

    CHECK_INT(config_test_parse(&c, ARGV("--host", "10.0.0.1", "-p", "81", "--processes=3",
                                         "--max-queue", "9"),
                                err, sizeof(err), NULL),
              SVC_OK);
    CHECK_STR(c.host, "10.0.0.1");
    CHECK_INT(c.port, 81);
    CHECK_INT(c.processes, 3);
    CHECK_INT(c.max_queue, 9);
    CHECK_INT(c.max_body, 64u << 20); /* untouched settings keep their default */
}

TEST(test_config_env_twins)
{
    Config c;
    char err[256];

    setenv("POOLD_HOST", "192.168.1.2", 1);
    setenv("POOLD_PORT", "9100", 1);
    setenv("POOLD_PROCESSES", "5", 1);
    setenv("POOLD_MAX_BODY", "2k", 1);
    setenv("POOLD_MAX_QUEUE", "42", 1);
    setenv("POOLD_MAX_CONNECTIONS", "77", 1);
    setenv("POOLD_HTTP_THREADS", "3", 1);
    setenv("POOLD_STORE", "memory", 1);
    setenv("POOLD_LOG_LEVEL", "warn", 1);
    CHECK_INT(config_test_parse(&c, ARGV(), err, sizeof(err), NULL), SVC_OK);
    CHECK_STR(c.host, "192.168.1.2");
    CHECK_INT(c.port, 9100);
    CHECK_INT(c.processes, 5);
    CHECK_INT(c.max_body, 2048);
    CHECK_INT(c.max_queue, 42);
    CHECK_INT(c.max_conns, 77);
    CHECK_INT(c.http_threads, 3);
    CHECK_INT(c.store_memory, 1);
    CHECK_INT(c.log_level, LOG_WARN);
}

TEST(test_config_flag_wins_over_env)
{
    Config c;
    char err[256];

    setenv("POOLD_PORT", "9100", 1);
    setenv("POOLD_HOST", "192.168.1.2", 1);
    setenv("POOLD_PROCESSES", "5", 1);
    CHECK_INT(config_test_parse(&c, ARGV("--port", "9200", "--host", "0.0.0.0"), err,
                                sizeof(err), NULL),
              SVC_OK);
    CHECK_INT(c.port, 9200);
    CHECK_STR(c.host, "0.0.0.0");
    CHECK_INT(c.processes, 5); /* no flag: the environment still applies */
}

TEST(test_config_env_bad_value_rejected)
{
    setenv("POOLD_PORT", "70000", 1);
    EXPECT_REJECTED("70000");
}

TEST(test_config_port_out_of_range_rejected)
{
    EXPECT_REJECTED("--port", "--port", "70000");
    EXPECT_REJECTED("--port", "--port", "-1");
    EXPECT_REJECTED("--port", "--port", "80x");
    EXPECT_REJECTED("--port", "--port", "");
}

TEST(test_config_processes_zero_rejected)
{
    EXPECT_REJECTED("--processes", "--processes", "0");
    EXPECT_REJECTED("--processes", "-n", "-2");
}

TEST(test_config_max_body_zero_rejected)
{
    EXPECT_REJECTED("--max-body", "--max-body", "0");
    EXPECT_REJECTED("--max-body", "--max-body", "12x");
}

TEST(test_config_store_unknown_rejected)
{
    EXPECT_REJECTED("redis", "--store", "redis");
    EXPECT_REJECTED("sqlite:", "--store", "sqlite:");
    EXPECT_REJECTED("--fsync", "--fsync", "sometimes");
    EXPECT_REJECTED("--data-dir", "--data-dir", "");
}

TEST(test_config_log_level_unknown_rejected)
{
    EXPECT_REJECTED("--log-level", "--log-level", "loud");
}

TEST(test_config_empty_host_rejected)
{
    EXPECT_REJECTED("--host", "--host", "");
}

TEST(test_config_unknown_flag_rejected)
{
    EXPECT_REJECTED("--bogus", "--bogus", "1");
    EXPECT_REJECTED("-x", "-x");
}

TEST(test_config_missing_value_rejected)
{
    EXPECT_REJECTED("--port", "--port");
    EXPECT_REJECTED("-p", "-p");
}

TEST(test_config_stray_argument_rejected)
{
    EXPECT_REJECTED("extra", "extra");
    EXPECT_REJECTED("extra", "--port", "9000", "extra");
}

TEST(test_config_help_prints_usage)
{
    Config c;
    char err[256], *printed = NULL;

    CHECK_INT(config_test_parse(&c, ARGV("--help"), err, sizeof(err), &printed), CONFIG_HELP);
    CHECK(printed != NULL);
    CHECK(strstr(printed, "usage: poold") != NULL);
    CHECK(strstr(printed, "--port") != NULL);
    CHECK(strstr(printed, "POOLD_PORT") != NULL);
    CHECK(strstr(printed, "--max-body") != NULL);
    free(printed);

    CHECK_INT(config_test_parse(&c, ARGV("-h"), err, sizeof(err), &printed), CONFIG_HELP);
    CHECK(strstr(printed, "usage: poold") != NULL);
    free(printed);
}

TEST(test_config_parse_prints_nothing_without_help)
{
    Config c;
    char err[256], *printed = NULL;

    CHECK_INT(config_test_parse(&c, ARGV("--port", "9000"), err, sizeof(err), &printed), SVC_OK);
    CHECK_STR(printed, "");
    free(printed);
}

TEST(test_config_parse_size_suffixes)
{
    size_t v = 0;

    CHECK_INT(config_parse_size("64M", &v), SVC_OK);
    CHECK_INT(v, 64u << 20);
    CHECK_INT(config_parse_size("1k", &v), SVC_OK);
    CHECK_INT(v, 1024);
    CHECK_INT(config_parse_size("3K", &v), SVC_OK);
    CHECK_INT(v, 3072);
    CHECK_INT(config_parse_size("512", &v), SVC_OK);
    CHECK_INT(v, 512);
    CHECK_INT(config_parse_size("2GiB", &v), SVC_OK);
    CHECK_INT(v, 2ull << 30);
    CHECK_INT(config_parse_size("1g", &v), SVC_OK);
    CHECK_INT(v, 1ull << 30);
    CHECK_INT(config_parse_size("64MB", &v), SVC_OK);
    CHECK_INT(v, 64u << 20);
    CHECK_INT(config_parse_size("0", &v), SVC_OK);
    CHECK_INT(v, 0);
}

TEST(test_config_parse_size_rejects_bad)
{
    size_t v = 0;

    CHECK_INT(config_parse_size("-1", &v), SVC_EINVAL);
    CHECK_INT(config_parse_size("12x", &v), SVC_EINVAL);
    CHECK_INT(config_parse_size("", &v), SVC_EINVAL);
    CHECK_INT(config_parse_size(NULL, &v), SVC_EINVAL);
    CHECK_INT(config_parse_size("M", &v), SVC_EINVAL);
    CHECK_INT(config_parse_size("1 M", &v), SVC_EINVAL);
    CHECK_INT(config_parse_size("1MM", &v), SVC_EINVAL);
    CHECK_INT(config_parse_size("99999999999999999999", &v), SVC_EINVAL);
    CHECK_INT(config_parse_size("18014398509481984G", &v), SVC_EINVAL); /* 2^54 GiB */
}

TEST(test_config_fault_tolerance_flags)
{
    Config c;
    char err[256];

    CHECK_INT(config_test_parse(&c, ARGV(), err, sizeof(err), NULL), SVC_OK);
    CHECK(c.task_timeout == 0 && c.max_task_timeout == 0 && c.shutdown_grace == 30);
    CHECK_INT(c.max_tasks_per_child, 0);
    CHECK_INT(c.worker_memory, 0);
    CHECK_INT(c.worker_cpu, 0);
    CHECK_INT(config_test_parse(&c, ARGV("--task-timeout", "1.5", "--max-task-timeout", "60",
                                         "--max-tasks-per-child", "100", "--worker-memory-limit", "1G",
                                         "--worker-cpu-limit", "30", "--shutdown-grace", "0.5"),
                                err, sizeof(err), NULL), SVC_OK);
    CHECK(c.task_timeout == 1.5 && c.max_task_timeout == 60 && c.shutdown_grace == 0.5);
    CHECK_INT(c.max_tasks_per_child, 100);
    CHECK_INT(c.worker_memory, 1u << 30);
    CHECK_INT(c.worker_cpu, 30);
    /* A cap with no default: calls without a timeout get the cap. */
    CHECK_INT(config_test_parse(&c, ARGV("--max-task-timeout", "5"), err, sizeof(err), NULL), SVC_OK);
    CHECK(c.task_timeout == 5);
    setenv("POOLD_TASK_TIMEOUT", "2", 1);
    CHECK_INT(config_test_parse(&c, ARGV(), err, sizeof(err), NULL), SVC_OK);
    CHECK(c.task_timeout == 2);
}

TEST(test_config_fault_tolerance_flags_reject_bad_values)
{
    EXPECT_REJECTED("--max-task-timeout", "--task-timeout", "10", "--max-task-timeout", "5");
    EXPECT_REJECTED("--task-timeout", "--task-timeout", "-1");
    EXPECT_REJECTED("--worker-memory-limit", "--worker-memory-limit", "1M");
    EXPECT_REJECTED("--worker-cpu-limit", "--worker-cpu-limit", "1.5");
    EXPECT_REJECTED("--max-tasks-per-child", "--max-tasks-per-child", "-2");
    EXPECT_REJECTED("--shutdown-grace", "--shutdown-grace", "soon");
}

TEST(test_config_plugins_from_flags_or_environment)
{
    Config c;
    char err[256];

    setenv("POOLD_PLUGIN", "/a.so:/b.so", 1);
    CHECK_INT(config_test_parse(&c, ARGV(), err, sizeof(err), NULL), SVC_OK);
    CHECK_INT(c.nplugins, 2);
    CHECK_STR(c.plugins[0], "/a.so");
    CHECK_STR(c.plugins[1], "/b.so");
    /* Flags replace the environment's list, and keep their order. */
    CHECK_INT(config_test_parse(&c, ARGV("--plugin", "/c.so", "--plugin", "/d.so"), err, sizeof(err), NULL),
              SVC_OK);
    CHECK_INT(c.nplugins, 2);
    CHECK_STR(c.plugins[0], "/c.so");
    CHECK_STR(c.plugins[1], "/d.so");
    unsetenv("POOLD_PLUGIN");
    EXPECT_REJECTED("--plugin", "--plugin", "");
}

TEST(test_config_webhook_flags)
{
    Config c;
    char err[256];

    CHECK_INT(config_test_parse(&c, ARGV(), err, sizeof(err), NULL), SVC_OK);
    CHECK(c.webhook_secret == NULL);
    CHECK(c.webhook_backoff == 5);
    CHECK_INT(c.webhook_attempts, 10);
    CHECK(c.webhook_timeout == 15);
    CHECK_INT(c.nwebhook_allow, 0);
    CHECK_INT(config_test_parse(&c, ARGV("--webhook-secret", "whsec_abcd", "--webhook-backoff", "0.5",
                                         "--webhook-max-attempts", "3", "--webhook-timeout", "2",
                                         "--webhook-allow-host", "127.0.0.1", "--webhook-allow-host", "receiver"),
                                    err, sizeof(err), NULL), SVC_OK);
    CHECK_STR(c.webhook_secret, "whsec_abcd");
    CHECK(c.webhook_backoff == 0.5);
    CHECK_INT(c.webhook_attempts, 3);
    CHECK(c.webhook_timeout == 2);
    CHECK_INT(c.nwebhook_allow, 2);
    CHECK_STR(c.webhook_allow[1], "receiver");
    /* The environment's list, split at commas; flags replace it. */
    setenv("POOLD_WEBHOOK_ALLOW_HOST", "a.internal,b.internal", 1);
    CHECK_INT(config_test_parse(&c, ARGV(), err, sizeof(err), NULL), SVC_OK);
    CHECK_INT(c.nwebhook_allow, 2);
    CHECK_STR(c.webhook_allow[0], "a.internal");
    CHECK_INT(config_test_parse(&c, ARGV("--webhook-allow-host", "c"), err, sizeof(err), NULL), SVC_OK);
    CHECK_INT(c.nwebhook_allow, 1);
    unsetenv("POOLD_WEBHOOK_ALLOW_HOST");
    /* The secret from a file, as a Docker secret comes: its newline goes. */
    char path[64] = "/tmp/poold-test-secret-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, "whsec_ZmlsZQ==\n", 15) == 15);
    close(fd);
    CHECK_INT(config_test_parse(&c, ARGV("--webhook-secret-file", path), err, sizeof(err), NULL), SVC_OK);
    CHECK_STR(c.webhook_secret, "whsec_ZmlsZQ==");
    fd = open(path, O_WRONLY | O_TRUNC);
    CHECK(fd >= 0 && write(fd, "plain\n", 6) == 6);
    close(fd);
    EXPECT_REJECTED("--webhook-secret-file", "--webhook-secret-file", path);
    unlink(path);
    EXPECT_REJECTED("--webhook-secret-file", "--webhook-secret-file", "/nonexistent/secret");
    EXPECT_REJECTED("--webhook-secret", "--webhook-secret", "plain");
    EXPECT_REJECTED("--webhook-max-attempts", "--webhook-max-attempts", "0");
    EXPECT_REJECTED("--webhook-timeout", "--webhook-timeout", "0");
}

int
main(int argc, char **argv)
{
    /* Tests set the variables they need; start every one from none. */
    for (size_t i = 0; i < config_test_nenvs; i++)
        unsetenv(config_test_envs[i]);
    return harness_run(argc, argv);
}
