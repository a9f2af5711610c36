build-chk/obj/server/calls/stream.o: server/calls/stream.c \
 server/calls/batch.h server/core/common.h server/pool/pool.h \
 server/calls/call.h server/calls/jscan.h server/functions/registry.h \
 include/poold.h server/calls/stream_impl.h server/calls/stream.h \
 server/worker/wire.h
server/calls/batch.h:
server/core/common.h:
server/pool/pool.h:
server/calls/call.h:
server/calls/jscan.h:
server/functions/registry.h:
include/poold.h:
server/calls/stream_impl.h:
server/calls/stream.h:
server/worker/wire.h:
