build-chk/tests/unit_taskq: tests/lib/harness.c tests/lib/harness.h
tests/lib/harness.h:
