build-check/obj/server/main.o: server/main.c server/config.h \
 server/common.h server/exec.h include/poold.h server/registry.h \
 handlers/handlers.h server/call.h server/common.h server/http.h \
 server/http.h server/job.h server/batch.h server/pool.h server/call.h \
 server/store.h server/webhook.h server/log.h server/plugin.h
server/config.h:
server/common.h:
server/exec.h:
include/poold.h:
server/registry.h:
handlers/handlers.h:
server/call.h:
server/common.h:
server/http.h:
server/http.h:
server/job.h:
server/batch.h:
server/pool.h:
server/call.h:
server/store.h:
server/webhook.h:
server/log.h:
server/plugin.h:
