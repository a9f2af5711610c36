build-check/obj/server/store.o: server/store.c server/store.h \
 server/common.h server/clock.h server/log.h
server/store.h:
server/common.h:
server/clock.h:
server/log.h:
