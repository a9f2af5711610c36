build-chk/obj/server/webhook/netguard.o: server/webhook/netguard.c \
 server/webhook/netguard.h
server/webhook/netguard.h:
