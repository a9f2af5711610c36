build-chk/obj/handlers/calls.o: handlers/calls.c server/calls/batch.h \
 server/core/common.h server/pool/pool.h server/calls/call.h \
 server/calls/jscan.h server/functions/registry.h include/poold.h \
 server/config.h server/core/common.h handlers/handlers.h \
 server/http/http.h
server/calls/batch.h:
server/core/common.h:
server/pool/pool.h:
server/calls/call.h:
server/calls/jscan.h:
server/functions/registry.h:
include/poold.h:
server/config.h:
server/core/common.h:
handlers/handlers.h:
server/http/http.h:
