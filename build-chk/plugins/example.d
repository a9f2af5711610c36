build-chk/plugins/example.so: examples/plugin/wordcount.c include/poold.h
include/poold.h:
