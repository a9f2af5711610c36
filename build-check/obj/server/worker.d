build-check/obj/server/worker.o: server/worker.c server/worker.h \
 server/common.h server/registry.h include/poold.h server/wire.h \
 server/exec.h server/log.h
server/worker.h:
server/common.h:
server/registry.h:
include/poold.h:
server/wire.h:
server/exec.h:
server/log.h:
