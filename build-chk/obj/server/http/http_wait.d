build-chk/obj/server/http/http_wait.o: server/http/http_wait.c \
 server/core/clock.h server/http/http_impl.h server/http/http.h \
 server/core/common.h server/http/http_parse.h server/core/log.h
server/core/clock.h:
server/http/http_impl.h:
server/http/http.h:
server/core/common.h:
server/http/http_parse.h:
server/core/log.h:
