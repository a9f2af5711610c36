build-chk/obj/server/pool/pool.o: server/pool/pool.c server/pool/pool.h \
 server/core/common.h server/core/log.h server/pool/pool_impl.h \
 server/core/clock.h server/pool/forkserver.h server/core/metrics.h \
 server/pool/taskq.h server/worker/wire.h server/worker/worker.h \
 server/functions/registry.h include/poold.h
server/pool/pool.h:
server/core/common.h:
server/core/log.h:
server/pool/pool_impl.h:
server/core/clock.h:
server/pool/forkserver.h:
server/core/metrics.h:
server/pool/taskq.h:
server/worker/wire.h:
server/worker/worker.h:
server/functions/registry.h:
include/poold.h:
