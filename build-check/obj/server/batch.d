build-check/obj/server/batch.o: server/batch.c server/batch.h \
 server/common.h server/pool.h server/call.h server/registry.h \
 include/poold.h server/wire.h server/worker.h
server/batch.h:
server/common.h:
server/pool.h:
server/call.h:
server/registry.h:
include/poold.h:
server/wire.h:
server/worker.h:
