build-chk/tests/http_imap: tests/lib/contract.c tests/lib/contract.h \
 tests/lib/client.h
tests/lib/contract.h:
tests/lib/client.h:
