build-chk/obj/server/config.o: server/config.c server/config.h \
 server/core/common.h server/core/log.h
server/config.h:
server/core/common.h:
server/core/log.h:
