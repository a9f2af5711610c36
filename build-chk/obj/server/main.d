build-chk/obj/server/main.o: server/main.c server/core/clock.h \
 server/config.h server/core/common.h server/functions/exec.h \
 include/poold.h server/functions/registry.h server/core/common.h \
 handlers/handlers.h server/calls/call.h server/calls/jscan.h \
 server/http/http.h server/http/http.h server/jobs/job.h \
 server/calls/batch.h server/pool/pool.h server/store/store.h \
 server/webhook/webhook.h server/core/log.h server/core/metrics.h \
 server/functions/plugin.h server/pool/pool.h server/functions/registry.h \
 server/store/store.h server/webhook/webhook.h
server/core/clock.h:
server/config.h:
server/core/common.h:
server/functions/exec.h:
include/poold.h:
server/functions/registry.h:
server/core/common.h:
handlers/handlers.h:
server/calls/call.h:
server/calls/jscan.h:
server/http/http.h:
server/http/http.h:
server/jobs/job.h:
server/calls/batch.h:
server/pool/pool.h:
server/store/store.h:
server/webhook/webhook.h:
server/core/log.h:
server/core/metrics.h:
server/functions/plugin.h:
server/pool/pool.h:
server/functions/registry.h:
server/store/store.h:
server/webhook/webhook.h:
