build-chk/tests/noentry.so: tests/plugin/noentry.c
