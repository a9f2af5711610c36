build-check/obj/handlers/pool.o: handlers/pool.c handlers/handlers.h \
 server/call.h server/common.h server/registry.h include/poold.h \
 server/common.h server/http.h server/pool.h server/registry.h
handlers/handlers.h:
server/call.h:
server/common.h:
server/registry.h:
include/poold.h:
server/common.h:
server/http.h:
server/pool.h:
server/registry.h:
