build-check/obj/server/forkserver.o: server/forkserver.c \
 server/forkserver.h server/log.h
server/forkserver.h:
server/log.h:
