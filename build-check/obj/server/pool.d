build-check/obj/server/pool.o: server/pool.c server/pool.h \
 server/common.h server/log.h server/pool_impl.h server/clock.h \
 server/forkserver.h server/taskq.h server/wire.h server/worker.h \
 server/registry.h include/poold.h
server/pool.h:
server/common.h:
server/log.h:
server/pool_impl.h:
server/clock.h:
server/forkserver.h:
server/taskq.h:
server/wire.h:
server/worker.h:
server/registry.h:
include/poold.h:
