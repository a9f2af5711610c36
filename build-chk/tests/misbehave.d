build-chk/tests/misbehave.so: tests/plugin/misbehave.c include/poold.h
include/poold.h:
