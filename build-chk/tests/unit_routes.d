build-chk/tests/unit_routes: tests/lib/harness.c tests/lib/harness.h
tests/lib/harness.h:
