build-chk/obj/server/jobs/job_store.o: server/jobs/job_store.c \
 server/core/clock.h server/jobs/job_impl.h server/jobs/job.h \
 server/calls/batch.h server/core/common.h server/pool/pool.h \
 server/calls/call.h server/calls/jscan.h server/functions/registry.h \
 include/poold.h server/store/store.h server/webhook/webhook.h \
 server/core/log.h
server/core/clock.h:
server/jobs/job_impl.h:
server/jobs/job.h:
server/calls/batch.h:
server/core/common.h:
server/pool/pool.h:
server/calls/call.h:
server/calls/jscan.h:
server/functions/registry.h:
include/poold.h:
server/store/store.h:
server/webhook/webhook.h:
server/core/log.h:
