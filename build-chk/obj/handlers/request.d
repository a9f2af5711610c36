build-chk/obj/handlers/request.o: handlers/request.c server/calls/call.h \
 server/core/common.h server/calls/jscan.h server/functions/registry.h \
 include/poold.h server/config.h server/core/common.h handlers/handlers.h \
 server/http/http.h server/http/http_parse.h server/pool/pool.h
server/calls/call.h:
server/core/common.h:
server/calls/jscan.h:
server/functions/registry.h:
include/poold.h:
server/config.h:
server/core/common.h:
handlers/handlers.h:
server/http/http.h:
server/http/http_parse.h:
server/pool/pool.h:
