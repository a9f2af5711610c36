build-chk/tests/unit_wire: tests/lib/harness.c tests/lib/harness.h
tests/lib/harness.h:
