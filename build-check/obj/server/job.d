build-check/obj/server/job.o: server/job.c server/job_impl.h server/job.h \
 server/batch.h server/common.h server/pool.h server/call.h \
 server/registry.h include/poold.h server/store.h server/webhook.h \
 server/clock.h server/log.h
server/job_impl.h:
server/job.h:
server/batch.h:
server/common.h:
server/pool.h:
server/call.h:
server/registry.h:
include/poold.h:
server/store.h:
server/webhook.h:
server/clock.h:
server/log.h:
