build-check/obj/server/pool_worker.o: server/pool_worker.c server/log.h \
 server/pool_impl.h server/clock.h server/forkserver.h server/pool.h \
 server/common.h server/taskq.h server/wire.h server/worker.h \
 server/registry.h include/poold.h
server/log.h:
server/pool_impl.h:
server/clock.h:
server/forkserver.h:
server/pool.h:
server/common.h:
server/taskq.h:
server/wire.h:
server/worker.h:
server/registry.h:
include/poold.h:
