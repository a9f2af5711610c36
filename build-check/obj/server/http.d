build-check/obj/server/http.o: server/http.c server/http.h \
 server/common.h server/clock.h server/http_impl.h server/log.h
server/http.h:
server/common.h:
server/clock.h:
server/http_impl.h:
server/log.h:
