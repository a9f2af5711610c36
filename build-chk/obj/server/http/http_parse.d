build-chk/obj/server/http/http_parse.o: server/http/http_parse.c \
 server/http/http_parse.h server/http/http.h server/core/common.h
server/http/http_parse.h:
server/http/http.h:
server/core/common.h:
