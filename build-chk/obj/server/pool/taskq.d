build-chk/obj/server/pool/taskq.o: server/pool/taskq.c \
 server/pool/taskq.h
server/pool/taskq.h:
