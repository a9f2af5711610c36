build-chk/obj/server/http/http_listen.o: server/http/http_listen.c \
 server/core/clock.h server/http/http_impl.h server/http/http.h \
 server/core/common.h server/http/http_parse.h server/core/log.h
server/core/clock.h:
server/http/http_impl.h:
server/http/http.h:
server/core/common.h:
server/http/http_parse.h:
server/core/log.h:
