build-chk/obj/server/core/metrics.o: server/core/metrics.c \
 server/core/metrics.h server/core/common.h
server/core/metrics.h:
server/core/common.h:
