build-chk/obj/server/calls/call.o: server/calls/call.c \
 server/calls/call.h server/core/common.h server/calls/jscan.h \
 server/functions/registry.h include/poold.h server/worker/wire.h
server/calls/call.h:
server/core/common.h:
server/calls/jscan.h:
server/functions/registry.h:
include/poold.h:
server/worker/wire.h:
