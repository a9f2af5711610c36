build-chk/obj/server/http/http.o: server/http/http.c server/http/http.h \
 server/core/common.h server/core/clock.h server/http/http_impl.h \
 server/http/http_parse.h server/http/http_status.h server/core/outcome.h \
 server/core/log.h server/core/metrics.h
server/http/http.h:
server/core/common.h:
server/core/clock.h:
server/http/http_impl.h:
server/http/http_parse.h:
server/http/http_status.h:
server/core/outcome.h:
server/core/log.h:
server/core/metrics.h:
