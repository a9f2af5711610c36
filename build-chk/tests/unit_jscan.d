build-chk/tests/unit_jscan: tests/lib/harness.c tests/lib/harness.h
tests/lib/harness.h:
