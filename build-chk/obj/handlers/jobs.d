build-chk/obj/handlers/jobs.o: handlers/jobs.c server/calls/call.h \
 server/core/common.h server/calls/jscan.h server/functions/registry.h \
 include/poold.h server/config.h server/core/common.h handlers/handlers.h \
 server/http/http.h server/http/http_parse.h server/jobs/job.h \
 server/calls/batch.h server/pool/pool.h server/store/store.h \
 server/webhook/webhook.h
server/calls/call.h:
server/core/common.h:
server/calls/jscan.h:
server/functions/registry.h:
include/poold.h:
server/config.h:
server/core/common.h:
handlers/handlers.h:
server/http/http.h:
server/http/http_parse.h:
server/jobs/job.h:
server/calls/batch.h:
server/pool/pool.h:
server/store/store.h:
server/webhook/webhook.h:
