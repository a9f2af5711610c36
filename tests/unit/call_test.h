/*
 * call_test.h: what the unit tests of call.c share (unit_call.c,
 * unit_call_chunks.c): the registry of built-ins they parse against, the
 * limits of a pool of 2, and a parse from JSON text.
 */
#ifndef POOLD_CALL_TEST_H
#define POOLD_CALL_TEST_H

#include "calls/call.h"
#include "functions/registry.h"

extern const CallLimits call_test_lim;
extern Registry *call_test_reg; /* built by call_test_main */

/* Parses the JSON text body as op against call_test_reg. */
int call_test_parse(const char *body, CallOp op, Call **out, CallError *err);

/* A test binary's main: builds the registry, runs the tests (named for
 * the messages), frees it. */
int call_test_main(const char *name, int argc, char **argv);

#endif
