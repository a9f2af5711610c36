build-chk/tests/http_tls: tests/lib/contract.c tests/lib/contract.h \
 tests/lib/client.h
tests/lib/contract.h:
tests/lib/client.h:
