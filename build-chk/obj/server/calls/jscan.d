build-chk/obj/server/calls/jscan.o: server/calls/jscan.c \
 server/calls/jscan.h
server/calls/jscan.h:
