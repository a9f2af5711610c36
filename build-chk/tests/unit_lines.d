build-chk/tests/unit_lines: tests/lib/harness.c tests/lib/harness.h
tests/lib/harness.h:
