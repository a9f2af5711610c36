build-chk/obj/server/functions/registry.o: server/functions/registry.c \
 server/functions/registry.h server/core/common.h include/poold.h \
 server/functions/exec.h
server/functions/registry.h:
server/core/common.h:
include/poold.h:
server/functions/exec.h:
