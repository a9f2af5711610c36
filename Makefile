# poold: `make` builds build/poold, `make run` serves on 127.0.0.1:8080,
# `make test` runs every test. SANITIZE=1 builds into build-san/ with
# AddressSanitizer and UndefinedBehaviorSanitizer.

# gnutls: poold writes through libmicrohttpd's TLS sessions (server/http/http_raw.c);
# libmicrohttpd-dev depends on its -dev package.
PKGS    := libmicrohttpd gnutls jansson libcurl nettle sqlite3 hiredis
CC      ?= gcc
CFLAGS  ?= -O2 -g
# override: `make CFLAGS=-O0` replaces the optimisation flags, not these.
override CFLAGS += -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread -MMD -MP \
           -Iinclude -Iserver -Ihandlers $(shell pkg-config --cflags $(PKGS))
override LDLIBS += $(shell pkg-config --libs $(PKGS)) -lm -pthread

# FUZZ=1: the libFuzzer build (make fuzz) in build-fuzz/. libFuzzer is
# clang's; the modules are instrumented for coverage only (fuzzer-no-link),
# and each target links the fuzzer's main (tests/fuzz/).
ifeq ($(FUZZ),1)
BUILD   ?= build-fuzz
CC      := clang-14
override CFLAGS += -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
           -fno-omit-frame-pointer
override LDFLAGS += -fsanitize=address,undefined
endif

ifeq ($(SANITIZE),1)
BUILD   ?= build-san
override CFLAGS += -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
override LDFLAGS += -fsanitize=address,undefined
else
BUILD   ?= build
endif

# One folder per part of the daemon (docs/ARCHITECTURE.md); headers are
# included by their path under server/ ("pool/pool.h").
SERVER_SRC  := $(wildcard server/*.c server/*/*.c)
HANDLER_SRC := $(wildcard handlers/*.c)
# The dashboard's files (dashboard/), compiled in as one generated table
# (script/embed-assets.sh), which handlers/dashboard.c serves.
DASHBOARD   := $(sort $(wildcard dashboard/*.html dashboard/*.css dashboard/*.js dashboard/*.svg))
OBJ         := $(patsubst %.c,$(BUILD)/obj/%.o,$(SERVER_SRC) $(HANDLER_SRC)) $(BUILD)/obj/gen/dashboard_assets.o
LIB_OBJ     := $(filter-out $(BUILD)/obj/server/main.o,$(OBJ))

# tests/unit/ link the modules they test; tests/http/ drive the real binary
# through tests/lib/'s client. Each builds into $(BUILD)/tests/<name>.
UNIT_TESTS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/unit_*.c))
HTTP_TESTS  := $(patsubst tests/http/%.c,$(BUILD)/tests/%,$(wildcard tests/http/http_*.c))
TEST_LIB    := tests/lib/harness.c

PREFIX  ?= /usr/local

.PHONY: all run test clean tests bench install test-docker soak

all: $(BUILD)/poold $(BUILD)/plugins/example.so

# The example plugin (examples/plugin/), built as any plugin would be:
# against include/poold.h and jansson, position-independent, shared.
$(BUILD)/plugins/example.so: examples/plugin/wordcount.c include/poold.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -fPIC -shared -o $@ $< $(shell pkg-config --libs jansson)

# poold.pc lets a plugin build with `pkg-config --cflags --libs poold`
# (README, plugins); it names PREFIX, not DESTDIR, where poold.h will be.
POOLD_ABI := $(shell sed -n 's/^\#define POOLD_ABI_VERSION //p' include/poold.h)

install: $(BUILD)/poold
	install -D -m 755 $(BUILD)/poold $(DESTDIR)$(PREFIX)/bin/poold
	install -D -m 644 include/poold.h $(DESTDIR)$(PREFIX)/include/poold.h
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@ABI@|$(POOLD_ABI)|' include/poold.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/poold.pc
	install -D -m 644 -t $(DESTDIR)$(PREFIX)/lib/poold/python/poold python/poold/*.py

$(BUILD)/poold: $(OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/gen/dashboard_assets.c: $(DASHBOARD) script/embed-assets.sh
	@mkdir -p $(dir $@)
	script/embed-assets.sh $(DASHBOARD) > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/dashboard_assets.o: $(BUILD)/gen/dashboard_assets.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# Unit tests link the pure modules they test; the HTTP tests link only the
# client helpers and drive the real binary. tests/lib/: client (requests),
# server (a poold's start and stop), contract (the Prism proxy), rawhttp
# (bytes on a socket), lines (NDJSON streams), recv (a webhook receiver),
# redis (a redis-server of the test's own).
$(BUILD)/tests/unit_%: tests/unit/unit_%.c $(TEST_LIB) $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -Itests/lib -o $@ $^ $(LDLIBS)

# The two built-ins tests share their runner, a task run as a worker runs it.
$(BUILD)/tests/unit_builtins $(BUILD)/tests/unit_builtins_tasks: tests/unit/builtins_test.c
$(BUILD)/tests/unit_call $(BUILD)/tests/unit_call_chunks: tests/unit/call_test.c
$(BUILD)/tests/unit_config $(BUILD)/tests/unit_config_limits: tests/unit/config_test.c

HTTP_LIB    := tests/lib/client.c tests/lib/server.c tests/lib/contract.c tests/lib/rawhttp.c \
               tests/lib/lines.c tests/lib/recv.c tests/lib/startup.c tests/lib/redis.c \
               tests/lib/cluster.c
$(BUILD)/tests/http_%: tests/http/http_%.c $(TEST_LIB) $(HTTP_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -Itests/lib -o $@ $^ $(LDLIBS)

# The misbehaving functions the fault tests load with --plugin.
TEST_PLUGINS := $(BUILD)/tests/misbehave.so $(BUILD)/tests/noentry.so $(BUILD)/tests/badabi.so

$(BUILD)/tests/%.so: tests/plugin/%.c include/poold.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -fPIC -shared -o $@ $<

tests: $(BUILD)/poold $(BUILD)/plugins/example.so $(UNIT_TESTS) $(HTTP_TESTS) $(TEST_PLUGINS)

# No flags: poold's defaults are 127.0.0.1:8080 already, and a flag here
# would win over its POOLD_* variable (POOLD_PORT=9000 make run).
run: $(BUILD)/poold
	$(BUILD)/poold

test: tests
	@POOLD_BIN=$(abspath $(BUILD)/poold) POOLD_TEST_PLUGIN=$(abspath $(BUILD)/tests/misbehave.so) \
	    POOLD_PLUGIN_DIR=$(abspath $(BUILD)) \
	    POOLD_SANITIZED=$(SANITIZE) BROWSER_ARTIFACTS=$(abspath $(BUILD)/browser) PATH=$(abspath .tools/bin):$$PATH tests/run.sh $(UNIT_TESTS) $(CHECKS) $(HTTP_TESTS) $(SPEC_TESTS)

# openapi.yaml's checks, part of make test: redocly lint (the rules are in
# redocly.yaml), and the contract test, the HTTP tests once more through a
# Prism proxy that checks every request and answer against the spec. Then
# the spec's Python client (python/poold): its pytest suite against real
# servers (tests/python.sh). And the dashboard in headless chromium
# (tests/browser.sh; screenshots in $(BUILD)/browser/).
SPEC_TESTS := tests/lint_openapi.sh tests/contract.sh tests/python.sh tests/browser.sh
# The shape's own check: no part includes one above it (tests/layers.sh).
# The README's first steps as printed: script/server and make run moved by
# POOLD_* variables, the plugin example built on an installed poold.pc
# (tests/readme.sh).
CHECKS := tests/layers.sh tests/readme.sh

.PHONY: lint contract
lint:
	@tests/lint_openapi.sh

# The contract test alone, in the test target's environment.
contract: tests
	@$(MAKE) --no-print-directory test UNIT_TESTS= CHECKS= HTTP_TESTS= SPEC_TESTS=tests/contract.sh

# The unit tests, and a few HTTP tests with the poold they start, under
# valgrind's memcheck (tests/valgrind.sh): a memory error or a leak fails
# the run. The HTTP tests are those that bear valgrind's slowness (no RSS
# bounds, no tight memory limits) and stop poold with SIGTERM only (a
# killed poold leaves no leak report).
VALGRIND_HTTP_TESTS := $(addprefix $(BUILD)/tests/,http_auth http_logs http_tls http_calls \
                       http_hostile_json http_hostile_framing http_hostile_slow http_hostile_conns http_jobs)

.PHONY: test-valgrind
test-valgrind: tests
	@POOLD_BIN=$(abspath $(BUILD)/poold) POOLD_TEST_PLUGIN=$(abspath $(BUILD)/tests/misbehave.so) \
	    POOLD_PLUGIN_DIR=$(abspath $(BUILD)) tests/valgrind.sh $(UNIT_TESTS) -- $(VALGRIND_HTTP_TESTS)

clean:
	rm -rf build build-san build-tsan build-fuzz

# libFuzzer targets (tests/fuzz/), built with clang, ASan and UBSan into
# build-fuzz/ (or BUILD) and run one after the other for FUZZ_SECONDS each
# on their corpora (tests/fuzz/run.sh); the last line is "N passed, N
# failed". Both steps run in the FUZZ=1 make, where BUILD is the fuzz
# build's.
FUZZ_SECONDS ?= 30

.PHONY: fuzz fuzz-build fuzz-run
fuzz:
	@$(MAKE) --no-print-directory FUZZ=1 fuzz-run

ifeq ($(FUZZ),1)
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))

fuzz-build: $(FUZZ_TARGETS)

fuzz-run: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(FUZZ_TARGETS)

# Each target links the modules it fuzzes and those they call, no more.
FUZZ_OBJ := $(BUILD)/obj/server
$(BUILD)/fuzz/fuzz_call: $(addprefix $(FUZZ_OBJ)/,calls/call.o core/jscan.o core/jtext.o functions/registry.o functions/builtins.o)
$(BUILD)/fuzz/fuzz_lines: $(addprefix $(FUZZ_OBJ)/,http/lines.o calls/call.o core/jscan.o core/jtext.o functions/registry.o functions/builtins.o)
$(BUILD)/fuzz/fuzz_wire: $(FUZZ_OBJ)/worker/wire.o
$(BUILD)/fuzz/fuzz_functions: $(addprefix $(FUZZ_OBJ)/,functions/exec_load.o functions/exec.o functions/spawn.o functions/registry.o functions/builtins.o core/jtext.o)
$(BUILD)/fuzz/fuzz_jscan: $(FUZZ_OBJ)/core/jscan.o
$(BUILD)/fuzz/fuzz_webhook: $(addprefix $(FUZZ_OBJ)/,webhook/webhook.o webhook/netguard.o core/log.o core/metrics.o)
$(BUILD)/fuzz/fuzz_http_parse: $(FUZZ_OBJ)/http/http_parse.o

$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -fsanitize=fuzzer -Itests/fuzz -o $@ $(filter %.c %.o,$^) $(LDLIBS)
endif

# Static analysis: cppcheck and clang-tidy over the C sources, by the rules
# of tests/cppcheck-suppressions.txt and .clang-tidy (tests/analyze.sh).
.PHONY: analyze
analyze:
	@tests/analyze.sh

# Ten minutes of mixed load, checked for 5xx, leaks and zombies
# (SOAK_SECONDS to change it); not part of make test.
soak: $(BUILD)/poold
	@script/bootstrap bench
	@POOLD_BIN=$(BUILD)/poold tests/soak/run.sh

# The Dockerfile, docker-compose.yml and docker-compose.cluster.yml, built
# and run end to end (starts its own dockerd when none runs; see the script).
test-docker:
	@tests/docker/run.sh

-include $(OBJ:.o=.d)

# Benchmarks: side by side, in one run, reported as ratios.
$(BUILD)/bench/%: bench/%.c tests/lib/client.c tests/lib/server.c tests/lib/contract.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -Itests/lib -o $@ $^ $(LDLIBS)

$(BUILD)/bench/pipe: bench/pipe.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $<

# compare.sh is the side-by-side table (bench/results/latest.md, kept in
# BENCHMARKS.md); the others look closer at one part each.
bench: $(BUILD)/poold $(BUILD)/bench/respawn $(BUILD)/bench/firstline $(BUILD)/bench/pipe
	script/bootstrap bench
	POOLD_BIN=$(BUILD)/poold PIPE_BIN=$(BUILD)/bench/pipe bench/compare.sh
	POOLD_BIN=$(BUILD)/poold bench/http.sh
	POOLD_BIN=$(BUILD)/poold bench/jobs.sh
	POOLD_BIN=$(BUILD)/poold bench/store.sh
	POOLD_BIN=$(BUILD)/poold RESPAWN_BIN=$(BUILD)/bench/respawn bench/faults.sh
	POOLD_BIN=$(BUILD)/poold FIRSTLINE_BIN=$(BUILD)/bench/firstline bench/imap.sh
	POOLD_BIN=$(BUILD)/poold bench/runtime.sh
	POOLD_BIN=$(BUILD)/poold bench/pyclient.sh
	POOLD_BIN=$(BUILD)/poold bench/events.sh
	POOLD_BIN=$(BUILD)/poold bench/cluster.sh

# This tree's apply throughput beside another revision's, in one run: a
# refactor is within noise of what it replaced (bench/ab.sh).
BASE ?= HEAD
.PHONY: bench-ab
bench-ab: $(BUILD)/poold
	script/bootstrap bench
	POOLD_BIN=$(BUILD)/poold bench/ab.sh $(BASE)
