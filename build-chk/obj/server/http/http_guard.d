build-chk/obj/server/http/http_guard.o: server/http/http_guard.c \
 server/core/clock.h server/http/http_impl.h server/http/http.h \
 server/core/common.h server/http/http_parse.h server/core/log.h \
 server/core/metrics.h
server/core/clock.h:
server/http/http_impl.h:
server/http/http.h:
server/core/common.h:
server/http/http_parse.h:
server/core/log.h:
server/core/metrics.h:
