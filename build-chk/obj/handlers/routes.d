build-chk/obj/handlers/routes.o: handlers/routes.c handlers/handlers.h \
 server/calls/call.h server/core/common.h server/calls/jscan.h \
 server/functions/registry.h include/poold.h server/http/http.h
handlers/handlers.h:
server/calls/call.h:
server/core/common.h:
server/calls/jscan.h:
server/functions/registry.h:
include/poold.h:
server/http/http.h:
