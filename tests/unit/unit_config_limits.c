/*
 * unit_config_limits.c: config_parse's bounds: sizes with signs and stray
 * suffixes, --max-body against the frame limit, --max-items, and the
 * connection limits (--connection-timeout, --max-connections-per-ip).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_test.h"
#include "harness.h"

TEST(test_config_parse_size_rejects_signs_and_stray_suffixes)
{
    size_t v = 7;

    /* strtoull skips blanks and takes signs: " -1" would wrap to SIZE_MAX
     * and lift the body limit. */
    CHECK_INT(config_parse_size(" -1", &v), SVC_EINVAL);
    CHECK_INT(config_parse_size("+5", &v), SVC_EINVAL);
    CHECK_INT(config_parse_size(" 5", &v), SVC_EINVAL);
    CHECK_INT(config_parse_size("64iB", &v), SVC_EINVAL);
    CHECK_INT(config_parse_size("64Mi", &v), SVC_EINVAL);
    CHECK_INT(config_parse_size("64MBx", &v), SVC_EINVAL);
    CHECK_INT(v, 7);
    CHECK_INT(config_parse_size("512B", &v), SVC_OK);
    CHECK_INT(v, 512);
}

TEST(test_config_max_body_is_bounded_by_the_frame_limit)
{
    Config c;
    char err[256];
    char *ok[] = {"poold", "--max-body", "512M", NULL};
    char *big[] = {"poold", "--max-body", "2G", NULL};

    CHECK_INT(config_parse(&c, 3, ok, stdout, err, sizeof(err)), SVC_OK);
    CHECK_INT(c.max_body, 512u << 20);
    CHECK_INT(config_parse(&c, 3, big, stdout, err, sizeof(err)), SVC_EINVAL);
    CHECK(strstr(err, "--max-body") != NULL);
}

TEST(test_config_max_items_flag_and_default)
{
    Config c;
    char err[256];
    char *none[] = {"poold", NULL};
    char *set[] = {"poold", "--max-items", "5", NULL};

    CHECK_INT(config_parse(&c, 1, none, stdout, err, sizeof(err)), SVC_OK);
    CHECK_INT(c.max_items, 10000000);
    CHECK_INT(config_parse(&c, 3, set, stdout, err, sizeof(err)), SVC_OK);
    CHECK_INT(c.max_items, 5);
}

TEST(test_config_connection_limits_defaults)
{
    Config c;
    char err[256];

    CHECK_INT(config_test_parse(&c, ARGV(), err, sizeof(err), NULL), SVC_OK);
    CHECK_INT(c.conn_timeout, 60);
    CHECK_INT(c.max_conns_per_ip, 0); /* off: many clients may share one address behind a NAT */
}

TEST(test_config_connection_limits_flags_and_env)
{
    Config c;
    char err[256];

    CHECK_INT(config_test_parse(&c, ARGV("--connection-timeout", "5", "--max-connections-per-ip", "32"), err,
                                sizeof(err), NULL),
              SVC_OK);
    CHECK_INT(c.conn_timeout, 5);
    CHECK_INT(c.max_conns_per_ip, 32);
    CHECK_INT(config_test_parse(&c, ARGV("--connection-timeout", "0", "--max-connections-per-ip", "0"), err,
                                sizeof(err), NULL),
              SVC_OK);
    CHECK_INT(c.conn_timeout, 0);
    CHECK_INT(c.max_conns_per_ip, 0);
    CHECK_INT(config_test_parse(&c, ARGV("--connection-timeout", "2.0"), err, sizeof(err), NULL), SVC_OK);
    CHECK_INT(c.conn_timeout, 2);
    setenv("POOLD_CONNECTION_TIMEOUT", "7", 1);
    setenv("POOLD_MAX_CONNECTIONS_PER_IP", "3", 1);
    CHECK_INT(config_test_parse(&c, ARGV(), err, sizeof(err), NULL), SVC_OK);
    CHECK_INT(c.conn_timeout, 7);
    CHECK_INT(c.max_conns_per_ip, 3);
    CHECK_INT(config_test_parse(&c, ARGV("--connection-timeout", "9"), err, sizeof(err), NULL), SVC_OK);
    CHECK_INT(c.conn_timeout, 9); /* the flag wins */
    CHECK_INT(c.max_conns_per_ip, 3);
}

TEST(test_config_connection_limits_reject_bad_values)
{
    EXPECT_REJECTED("whole seconds", "--connection-timeout", "0.5");
    EXPECT_REJECTED("--connection-timeout", "--connection-timeout", "-1");
    EXPECT_REJECTED("--connection-timeout", "--connection-timeout", "soon");
    EXPECT_REJECTED("--connection-timeout", "--connection-timeout", "86401");
    EXPECT_REJECTED("--connection-timeout", "--connection-timeout", "");
    EXPECT_REJECTED("--max-connections-per-ip", "--max-connections-per-ip", "-1");
    EXPECT_REJECTED("--max-connections-per-ip", "--max-connections-per-ip", "1.5");
    EXPECT_REJECTED("--max-connections-per-ip", "--max-connections-per-ip", "lots");
    setenv("POOLD_CONNECTION_TIMEOUT", "1.5", 1);
    EXPECT_REJECTED("POOLD_CONNECTION_TIMEOUT");
}

TEST(test_config_help_lists_connection_limits)
{
    Config c;
    char err[256], *printed = NULL;

    CHECK_INT(config_test_parse(&c, ARGV("--help"), err, sizeof(err), &printed), CONFIG_HELP);
    CHECK(strstr(printed, "--connection-timeout SECONDS") != NULL);
    CHECK(strstr(printed, "POOLD_CONNECTION_TIMEOUT") != NULL);
    CHECK(strstr(printed, "--max-connections-per-ip N") != NULL);
    CHECK(strstr(printed, "POOLD_MAX_CONNECTIONS_PER_IP") != NULL);
    free(printed);
}

int
main(int argc, char **argv)
{
    for (size_t i = 0; i < config_test_nenvs; i++)
        unsetenv(config_test_envs[i]);
    return harness_run(argc, argv);
}
