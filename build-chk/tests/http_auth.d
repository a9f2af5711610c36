build-chk/tests/http_auth: tests/lib/contract.c tests/lib/contract.h \
 tests/lib/client.h
tests/lib/contract.h:
tests/lib/client.h:
