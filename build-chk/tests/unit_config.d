build-chk/tests/unit_config: tests/lib/harness.c tests/lib/harness.h
tests/lib/harness.h:
