/*
 * config_test.h: what the config unit tests share (config_test.c):
 * config_parse run on an argv literal, and the check of a refusal.
 */
#ifndef POOLD_CONFIG_TEST_H
#define POOLD_CONFIG_TEST_H

#include <stddef.h>

#include "config.h"

/* argv for config_parse: "poold" followed by the arguments, NULL-ended. */
#define ARGV(...) ((char *[]){"poold", ##__VA_ARGS__, NULL})

/* The POOLD_* variables the tests set; main unsets them first. */
extern const char *const config_test_envs[];
extern const size_t config_test_nenvs;

/* Runs config_parse on argv; whatever it prints goes into *printed (caller
 * frees) when printed is not NULL. */
int config_test_parse(Config *c, char **argv, char *err, size_t errlen, char **printed);

/* Checks that argv is refused with a one-line message that mentions want. */
#define EXPECT_REJECTED(want, ...)                                            \
    config_test_rejected(__FILE__, __LINE__, (want), ARGV(__VA_ARGS__))
void config_test_rejected(const char *file, int line, const char *want, char **argv);

#endif
