build-chk/obj/server/pool/pool_worker.o: server/pool/pool_worker.c \
 server/core/log.h server/pool/pool_impl.h server/core/clock.h \
 server/pool/forkserver.h server/core/metrics.h server/core/common.h \
 server/pool/pool.h server/pool/taskq.h server/worker/wire.h \
 server/worker/worker.h server/functions/registry.h include/poold.h
server/core/log.h:
server/pool/pool_impl.h:
server/core/clock.h:
server/pool/forkserver.h:
server/core/metrics.h:
server/core/common.h:
server/pool/pool.h:
server/pool/taskq.h:
server/worker/wire.h:
server/worker/worker.h:
server/functions/registry.h:
include/poold.h:
