build-check/obj/server/taskq.o: server/taskq.c server/taskq.h
server/taskq.h:
