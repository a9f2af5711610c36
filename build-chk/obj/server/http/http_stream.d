build-chk/obj/server/http/http_stream.o: server/http/http_stream.c \
 server/http/http_impl.h server/http/http.h server/core/common.h \
 server/http/http_parse.h server/http/lines.h
server/http/http_impl.h:
server/http/http.h:
server/core/common.h:
server/http/http_parse.h:
server/http/lines.h:
