build-check/obj/server/http_wait.o: server/http_wait.c server/clock.h \
 server/http_impl.h server/http.h server/common.h server/log.h
server/clock.h:
server/http_impl.h:
server/http.h:
server/common.h:
server/log.h:
