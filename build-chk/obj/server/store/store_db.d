build-chk/obj/server/store/store_db.o: server/store/store_db.c \
 server/core/clock.h server/core/log.h server/store/store_impl.h \
 server/store/store.h server/core/common.h
server/core/clock.h:
server/core/log.h:
server/store/store_impl.h:
server/store/store.h:
server/core/common.h:
