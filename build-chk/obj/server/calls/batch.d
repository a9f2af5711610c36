build-chk/obj/server/calls/batch.o: server/calls/batch.c \
 server/calls/batch.h server/core/common.h server/pool/pool.h \
 server/calls/call.h server/calls/jscan.h server/functions/registry.h \
 include/poold.h server/worker/wire.h
server/calls/batch.h:
server/core/common.h:
server/pool/pool.h:
server/calls/call.h:
server/calls/jscan.h:
server/functions/registry.h:
include/poold.h:
server/worker/wire.h:
