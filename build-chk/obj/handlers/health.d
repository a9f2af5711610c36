build-chk/obj/handlers/health.o: handlers/health.c handlers/handlers.h \
 server/calls/call.h server/core/common.h server/calls/jscan.h \
 server/functions/registry.h include/poold.h server/http/http.h \
 server/jobs/job.h server/calls/batch.h server/pool/pool.h \
 server/store/store.h server/webhook/webhook.h
handlers/handlers.h:
server/calls/call.h:
server/core/common.h:
server/calls/jscan.h:
server/functions/registry.h:
include/poold.h:
server/http/http.h:
server/jobs/job.h:
server/calls/batch.h:
server/pool/pool.h:
server/store/store.h:
server/webhook/webhook.h:
