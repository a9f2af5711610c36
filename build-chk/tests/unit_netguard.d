build-chk/tests/unit_netguard: tests/lib/harness.c tests/lib/harness.h
tests/lib/harness.h:
