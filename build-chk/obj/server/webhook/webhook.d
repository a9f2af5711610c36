build-chk/obj/server/webhook/webhook.o: server/webhook/webhook.c \
 server/webhook/webhook.h server/core/common.h server/core/clock.h \
 server/core/log.h server/core/metrics.h server/webhook/netguard.h
server/webhook/webhook.h:
server/core/common.h:
server/core/clock.h:
server/core/log.h:
server/core/metrics.h:
server/webhook/netguard.h:
