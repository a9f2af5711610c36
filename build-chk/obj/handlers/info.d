build-chk/obj/handlers/info.o: handlers/info.c handlers/handlers.h \
 server/calls/call.h server/core/common.h server/calls/jscan.h \
 server/functions/registry.h include/poold.h server/http/http.h \
 server/pool/pool.h
handlers/handlers.h:
server/calls/call.h:
server/core/common.h:
server/calls/jscan.h:
server/functions/registry.h:
include/poold.h:
server/http/http.h:
server/pool/pool.h:
