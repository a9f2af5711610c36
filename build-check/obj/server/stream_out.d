build-check/obj/server/stream_out.o: server/stream_out.c server/batch.h \
 server/common.h server/pool.h server/stream_impl.h server/stream.h
server/batch.h:
server/common.h:
server/pool.h:
server/stream_impl.h:
server/stream.h:
