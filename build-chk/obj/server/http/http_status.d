build-chk/obj/server/http/http_status.o: server/http/http_status.c \
 server/http/http_status.h server/core/outcome.h server/core/common.h
server/http/http_status.h:
server/core/outcome.h:
server/core/common.h:
