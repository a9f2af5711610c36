build-check/obj/handlers/calls.o: handlers/calls.c server/batch.h \
 server/common.h server/pool.h server/call.h server/registry.h \
 include/poold.h server/config.h handlers/handlers.h server/common.h \
 server/http.h server/pool.h
server/batch.h:
server/common.h:
server/pool.h:
server/call.h:
server/registry.h:
include/poold.h:
server/config.h:
handlers/handlers.h:
server/common.h:
server/http.h:
server/pool.h:
