build-check/obj/server/wire.o: server/wire.c server/wire.h
server/wire.h:
