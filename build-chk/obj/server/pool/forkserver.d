build-chk/obj/server/pool/forkserver.o: server/pool/forkserver.c \
 server/pool/forkserver.h server/core/log.h
server/pool/forkserver.h:
server/core/log.h:
