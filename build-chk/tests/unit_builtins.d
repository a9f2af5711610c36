build-chk/tests/unit_builtins: tests/lib/harness.c tests/lib/harness.h
tests/lib/harness.h:
