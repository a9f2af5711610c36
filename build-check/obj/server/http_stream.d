build-check/obj/server/http_stream.o: server/http_stream.c \
 server/http_impl.h server/http.h server/common.h
server/http_impl.h:
server/http.h:
server/common.h:
