build-check/obj/handlers/imap.o: handlers/imap.c server/config.h \
 server/common.h handlers/handlers.h server/call.h server/registry.h \
 include/poold.h server/common.h server/http.h server/stream.h \
 server/pool.h
server/config.h:
server/common.h:
handlers/handlers.h:
server/call.h:
server/registry.h:
include/poold.h:
server/common.h:
server/http.h:
server/stream.h:
server/pool.h:
