build-chk/tests/badabi.so: tests/plugin/badabi.c include/poold.h
include/poold.h:
