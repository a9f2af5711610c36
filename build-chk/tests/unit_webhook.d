build-chk/tests/unit_webhook: tests/lib/harness.c tests/lib/harness.h
tests/lib/harness.h:
