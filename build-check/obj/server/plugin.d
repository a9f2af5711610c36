build-check/obj/server/plugin.o: server/plugin.c server/plugin.h \
 server/registry.h server/common.h include/poold.h
server/plugin.h:
server/registry.h:
server/common.h:
include/poold.h:
