/*
 * unit_status.c: http_status, the one table from an outcome to the HTTP
 * status DESIGN.md gives it, and the problem type of every status it
 * gives.
 */
#include "core/common.h"
#include "harness.h"
#include "http/http_status.h"

/* DESIGN.md's table, written out apart from http_status.c's. */
static const struct {
    Outcome outcome;
    const char *name;
    int status;
} status_test_table[] = {
    {OUTCOME_OK, "OK", 200},
    {OUTCOME_INVALID, "INVALID", 400},
    {OUTCOME_NOT_FOUND, "NOT_FOUND", 404},
    {OUTCOME_CANCELLED, "CANCELLED", 410},
    {OUTCOME_TOO_LARGE, "TOO_LARGE", 413},
    {OUTCOME_FUNCTION_ERROR, "FUNCTION_ERROR", 422},
    {OUTCOME_NOMEM, "NOMEM", 500},
    {OUTCOME_INTERNAL, "INTERNAL", 500},
    {OUTCOME_WORKER_LOST, "WORKER_LOST", 502},
    {OUTCOME_STOPPED, "STOPPED", 503},
    {OUTCOME_QUEUE_FULL, "QUEUE_FULL", 503},
    {OUTCOME_UNAVAILABLE, "UNAVAILABLE", 503},
    {OUTCOME_TIMED_OUT, "TIMED_OUT", 504},
};

TEST(test_status_of_every_outcome_is_the_tables)
{
    for (size_t i = 0; i < ARRAY_LEN(status_test_table); i++)
        if (http_status(status_test_table[i].outcome) != status_test_table[i].status)
            harness_fail(__FILE__, __LINE__, "OUTCOME_%s: status %d, expected %d", status_test_table[i].name,
                         http_status(status_test_table[i].outcome), status_test_table[i].status);
}

TEST(test_status_table_names_every_outcome_once)
{
    int seen[OUTCOME_COUNT] = {0};

    for (size_t i = 0; i < ARRAY_LEN(status_test_table); i++) {
        CHECK((unsigned)status_test_table[i].outcome < OUTCOME_COUNT);
        seen[status_test_table[i].outcome]++;
    }
    for (int o = 0; o < OUTCOME_COUNT; o++)
        if (seen[o] != 1)
            harness_fail(__FILE__, __LINE__, "outcome %d is in the table %d times: add it to DESIGN.md's", o,
                         seen[o]);
}

/* Every failure a client can be answered with has its problem type. */
TEST(test_status_of_every_failure_has_a_problem_type)
{
    for (int o = 0; o < OUTCOME_COUNT; o++) {
        int status = http_status((Outcome)o);
        if (o == OUTCOME_OK)
            continue;
        if (strcmp(http_status_slug(status), "error") == 0 || strcmp(http_status_title(status), "Error") == 0)
            harness_fail(__FILE__, __LINE__, "outcome %d: status %d has no problem type", o, status);
    }
}

TEST(test_status_of_an_outcome_out_of_range_is_500)
{
    CHECK_INT(http_status(OUTCOME_COUNT), 500);
    CHECK_INT(http_status((Outcome)(OUTCOME_COUNT + 7)), 500);
    CHECK_INT(http_status((Outcome)-1), 500);
}

/* A job's failure is stored as its outcome's number: the eight a stored
 * job of an earlier version can carry keep theirs. */
TEST(test_status_outcomes_stored_by_number_keep_it)
{
    CHECK_INT(OUTCOME_OK, 0);
    CHECK_INT(OUTCOME_FUNCTION_ERROR, 1);
    CHECK_INT(OUTCOME_WORKER_LOST, 2);
    CHECK_INT(OUTCOME_TIMED_OUT, 3);
    CHECK_INT(OUTCOME_STOPPED, 4);
    CHECK_INT(OUTCOME_UNAVAILABLE, 5);
    CHECK_INT(OUTCOME_CANCELLED, 6);
    CHECK_INT(OUTCOME_NOMEM, 7);
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
