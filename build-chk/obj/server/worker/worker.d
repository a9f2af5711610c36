build-chk/obj/server/worker/worker.o: server/worker/worker.c \
 server/worker/worker.h server/core/common.h server/functions/registry.h \
 include/poold.h server/worker/wire.h server/core/clock.h \
 server/functions/exec.h server/core/log.h
server/worker/worker.h:
server/core/common.h:
server/functions/registry.h:
include/poold.h:
server/worker/wire.h:
server/core/clock.h:
server/functions/exec.h:
server/core/log.h:
