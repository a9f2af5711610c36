build-chk/obj/server/functions/builtins.o: server/functions/builtins.c \
 server/functions/registry.h server/core/common.h include/poold.h
server/functions/registry.h:
server/core/common.h:
include/poold.h:
