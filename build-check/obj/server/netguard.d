build-check/obj/server/netguard.o: server/netguard.c server/netguard.h
server/netguard.h:
