build-check/obj/handlers/health.o: handlers/health.c handlers/handlers.h \
 server/call.h server/common.h server/registry.h include/poold.h \
 server/common.h server/http.h server/job.h server/batch.h server/pool.h \
 server/call.h server/store.h server/webhook.h server/pool.h
handlers/handlers.h:
server/call.h:
server/common.h:
server/registry.h:
include/poold.h:
server/common.h:
server/http.h:
server/job.h:
server/batch.h:
server/pool.h:
server/call.h:
server/store.h:
server/webhook.h:
server/pool.h:
