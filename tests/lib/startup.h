/*
 * startup.h: a poold that must not start: the start-up errors the HTTP
 * tests check (a bad plugin, functions file or runtime).
 */
#ifndef POOLD_TEST_STARTUP_H
#define POOLD_TEST_STARTUP_H

/* Runs $POOLD_BIN with the extra arguments; checks that it exits 2 with
 * one line on stderr that mentions want. */
void expect_startup_error(const char *extra, const char *want);

/* Runs $POOLD_BIN with the extra arguments; checks that it exits with
 * status and that its stderr holds want (never a crash). */
void expect_exit(const char *extra, int status, const char *want);

#endif
