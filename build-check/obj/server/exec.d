build-check/obj/server/exec.o: server/exec.c server/exec.h \
 include/poold.h server/registry.h server/common.h server/clock.h
server/exec.h:
include/poold.h:
server/registry.h:
server/common.h:
server/clock.h:
