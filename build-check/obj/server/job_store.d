build-check/obj/server/job_store.o: server/job_store.c server/clock.h \
 server/job_impl.h server/job.h server/batch.h server/common.h \
 server/pool.h server/call.h server/registry.h include/poold.h \
 server/store.h server/webhook.h server/log.h
server/clock.h:
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
server/log.h:
