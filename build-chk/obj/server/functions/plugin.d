build-chk/obj/server/functions/plugin.o: server/functions/plugin.c \
 server/functions/plugin.h server/functions/registry.h \
 server/core/common.h include/poold.h
server/functions/plugin.h:
server/functions/registry.h:
server/core/common.h:
include/poold.h:
