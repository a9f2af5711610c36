build-chk/obj/server/worker/wire.o: server/worker/wire.c \
 server/worker/wire.h
server/worker/wire.h:
