build-chk/obj/server/core/log.o: server/core/log.c server/core/log.h
server/core/log.h:
