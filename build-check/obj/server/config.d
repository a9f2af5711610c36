build-check/obj/server/config.o: server/config.c server/config.h \
 server/common.h server/log.h
server/config.h:
server/common.h:
server/log.h:
