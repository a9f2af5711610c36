build-check/obj/handlers/routes.o: handlers/routes.c handlers/handlers.h \
 server/call.h server/common.h server/registry.h include/poold.h \
 server/common.h server/http.h
handlers/handlers.h:
server/call.h:
server/common.h:
server/registry.h:
include/poold.h:
server/common.h:
server/http.h:
