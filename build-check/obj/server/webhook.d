build-check/obj/server/webhook.o: server/webhook.c server/webhook.h \
 server/common.h server/clock.h server/log.h server/netguard.h
server/webhook.h:
server/common.h:
server/clock.h:
server/log.h:
server/netguard.h:
