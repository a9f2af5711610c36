build-chk/obj/server/functions/exec.o: server/functions/exec.c \
 server/functions/exec.h include/poold.h server/functions/registry.h \
 server/core/common.h server/core/clock.h
server/functions/exec.h:
include/poold.h:
server/functions/registry.h:
server/core/common.h:
server/core/clock.h:
