#!/usr/bin/env bash
# tests/contract.sh: the contract test. Runs the HTTP tests below with a
# Prism proxy in front of every server they start (tests/lib/contract.h), so
# that any request or answer of theirs that breaks openapi.yaml fails them.
# Run by `make test` (through tests/run.sh) and `make contract`, with the
# environment the Makefile's test target sets (POOLD_BIN and the others).
# Each binary's summary is shown under its name; the last line is the total,
# "N passed, N failed".
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
tests=$(dirname "${POOLD_BIN:?POOLD_BIN names the poold under test}")/tests
export POOLD_CONTRACT_PROXY=$root/node_modules/.bin/prism POOLD_OPENAPI=$root/openapi.yaml

# Under ASan the same requests would be checked again, for twice the time.
if [ "${POOLD_SANITIZED:-}" = 1 ]; then
    echo "tests/contract.sh: the plain build's run checks these requests; not again under SANITIZE=1"
    echo "0 passed, 0 failed"
    exit 0
fi

if [ ! -x "$POOLD_CONTRACT_PROXY" ]; then
    echo "tests/contract.sh: $POOLD_CONTRACT_PROXY is missing: run script/bootstrap"
    echo "0 passed, 1 failed"
    exit 1
fi

# The binaries that run through the proxy. A word after the name is a test
# to run (then only those run), or, after a '-', one to leave out. Prism
# answers once it has the whole answer, re-encodes JSON answers, passes no
# client's hang-up on, and costs a second or two at each server start: so
# the binaries that start one server for all their tests run whole, those
# that start one per test run the few tests that reach answers no other
# run reaches.
runs=(
    # fib(92) is past 2^53, which Prism's re-encoding rounds; and it writes
    # reals its own way (1e+16 as 10000000000000000, -0.0 as 0).
    "http_calls -test_apply_builtins_answer -test_calls_reals_are_written_the_shortest_way_back"
    # The hang-up is not passed on: the poll waits its 30 s out.
    "http_jobs -test_jobs_long_poll_whose_client_leaves_frees_its_connection"
    # Its 503 and Retry-After are http_jobs' test_jobs_past_max_jobs_is_503's,
    # at a tenth of the time.
    "http_pool -test_pool_full_queue_is_503_with_retry_after"
    "http_auth"
    "http_functions test_functions_lists_each_source_with_its_doc
        test_exec_failing_command_is_422_with_its_stderr
        test_plugin_example_wordcount_in_apply_and_map test_functions_undeclared_function_is_404"
    "http_runtime test_runtime_functions_are_listed_with_source_python_and_their_docstrings
        test_runtime_apply_starmap_and_kwds_reach_the_python_function
        test_runtime_each_exception_is_422_with_its_type_message_and_traceback
        test_runtime_async_jobs_succeed_and_fail_as_the_function_does"
    "http_webhooks test_webhooks_a_success_posts_job_succeeded_signed
        test_webhooks_failures_go_to_error_callback_or_else_to_callback
        test_webhooks_a_callback_is_redelivered_by_hand
        test_webhooks_inward_and_non_http_targets_are_refused"
    "http_timeouts test_timeouts_apply_past_its_timeout_is_504_soon_after_the_deadline
        test_timeouts_async_job_past_its_timeout_is_timed_out test_timeouts_in_a_map_follow_on_error
        test_timeouts_are_validated test_timeouts_each_way_a_worker_dies_is_a_502_that_says_how"
    "http_faults test_faults_fork_server_death_answers_calls_and_exits_nonzero"
    "http_store test_store_a_data_dir_that_cannot_be_made_refuses_async_jobs_not_sync_calls
        test_store_a_full_disk_refuses_async_jobs_until_writes_succeed_again"
    "http_metrics test_metrics_want_the_api_key_like_v1
        test_metrics_calls_are_counted_by_function_and_outcome_with_their_durations"
    # The ones whose requests are client.c's: the others read their streams
    # line by line as they come, hang up, or send a million lines, which a
    # proxy that answers at the end turns into time-outs. (Prism checks an
    # NDJSON answer as text only.)
    "http_imap test_imap_request_errors_before_the_stream_are_problems
        test_imap_ndjson_call_line_errors_are_problems
        test_imap_a_stream_chunksize_over_ten_thousand_is_a_400
        test_imap_a_full_queue_before_the_stream_is_a_503_problem
        test_imap_a_failed_item_is_an_error_line_and_the_stream_goes_on
        test_imap_chunksize_defaults_to_one"
)
# Not through the proxy:
# - http_recovery: kill -9 and restarts, timed; each restart would pay
#   Prism's start-up again, for answers the others reach.
# - http_logs: it reads poold's log lines, not its answers.
# - http_tls: Prism forwards to plain HTTP.
# - http_imap_flow: its streams are read line by line, hung up on, or a
#   million lines long (see http_imap above).
# - http_webhooks_retries: retries timed to the second, and a restart.
# - http_store_recovery: kill -9 and restarts, as in http_recovery.
# - http_runtime_faults, http_runtime_limits: kill -9, timeouts, and a
#   server for each misbehaving runtime; their answers' shapes are those
#   http_runtime's checked tests reach.

RUN_LABEL=contract exec "$root/tests/run.sh" "${runs[@]/#/$tests/}"
