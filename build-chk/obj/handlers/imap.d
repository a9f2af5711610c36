build-chk/obj/handlers/imap.o: handlers/imap.c server/calls/stream.h \
 server/core/common.h server/pool/pool.h server/config.h \
 server/core/common.h handlers/handlers.h server/calls/call.h \
 server/calls/jscan.h server/functions/registry.h include/poold.h \
 server/http/http.h
server/calls/stream.h:
server/core/common.h:
server/pool/pool.h:
server/config.h:
server/core/common.h:
handlers/handlers.h:
server/calls/call.h:
server/calls/jscan.h:
server/functions/registry.h:
include/poold.h:
server/http/http.h:
