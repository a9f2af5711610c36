build-chk/obj/server/calls/stream_out.o: server/calls/stream_out.c \
 server/calls/batch.h server/core/common.h server/pool/pool.h \
 server/calls/stream_impl.h server/calls/stream.h
server/calls/batch.h:
server/core/common.h:
server/pool/pool.h:
server/calls/stream_impl.h:
server/calls/stream.h:
