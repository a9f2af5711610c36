build-check/obj/server/stream.o: server/stream.c server/batch.h \
 server/common.h server/pool.h server/call.h server/registry.h \
 include/poold.h server/stream_impl.h server/stream.h server/wire.h
server/batch.h:
server/common.h:
server/pool.h:
server/call.h:
server/registry.h:
include/poold.h:
server/stream_impl.h:
server/stream.h:
server/wire.h:
