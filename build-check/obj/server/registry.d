build-check/obj/server/registry.o: server/registry.c server/registry.h \
 server/common.h include/poold.h server/exec.h
server/registry.h:
server/common.h:
include/poold.h:
server/exec.h:
