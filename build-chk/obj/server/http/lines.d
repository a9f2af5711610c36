build-chk/obj/server/http/lines.o: server/http/lines.c \
 server/http/lines.h
server/http/lines.h:
