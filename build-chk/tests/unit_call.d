build-chk/tests/unit_call: tests/lib/harness.c tests/lib/harness.h
tests/lib/harness.h:
