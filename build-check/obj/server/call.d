build-check/obj/server/call.o: server/call.c server/call.h \
 server/common.h server/registry.h include/poold.h server/wire.h
server/call.h:
server/common.h:
server/registry.h:
include/poold.h:
server/wire.h:
