build-check/obj/server/builtins.o: server/builtins.c server/registry.h \
 server/common.h include/poold.h
server/registry.h:
server/common.h:
include/poold.h:
