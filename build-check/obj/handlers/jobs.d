build-check/obj/handlers/jobs.o: handlers/jobs.c server/call.h \
 server/common.h server/registry.h include/poold.h server/config.h \
 handlers/handlers.h server/common.h server/http.h server/job.h \
 server/batch.h server/pool.h server/call.h server/store.h \
 server/webhook.h server/webhook.h
server/call.h:
server/common.h:
server/registry.h:
include/poold.h:
server/config.h:
handlers/handlers.h:
server/common.h:
server/http.h:
server/job.h:
server/batch.h:
server/pool.h:
server/call.h:
server/store.h:
server/webhook.h:
server/webhook.h:
