# Makefile: builds mpod-lua, its tests, the reference app and its images.
#
#   make            build build/mpod-lua (and the test fixtures, meshd and its
#                   planted-bug variants, make meshd-bugs)
#   make deps       install the Debian packages that are missing, for building
#                   and `make run` (vendor/debian-packages.txt, group run)
#   make deps-dev   the same, and what developing the engine needs (clang,
#                   valgrind, the benchmark's tools...): make test, bench, fuzz
#   make test       the whole test suite (C units, Lua self-tests, scenarios),
#                   then the same under ASan + UBSan (make test-asan)
#   make check      the whole test suite, plain build only
#   make run        bring the reference cluster up, run scenarios/*.lua, down;
#                   stdout is the TAP alone (make run > run.tap), the rest
#                   goes to stderr. BACKEND=compose for Docker, ARGS="..."
#                   for mpod-lua options and files (ARGS="-j2 --junit j.xml")
#   make chaos      the chaos scenario against meshd and each planted bug:
#                   seeds 1..10 until it finds the bug, then the seed again
#   make bench      benchmark figures, as ratios against reference tools
#   make images     the Docker base image and the meshd image (cached)
#   make install    PREFIX=/usr/local (make uninstall removes what it put)
#
# Variants build into their own folder: `make test-asan` (ASan + UBSan, in
# build-asan/), `make test-valgrind` (build-valgrind/), `make fuzz` (clang,
# libFuzzer).

# The version, written here only: the C side gets it as MPOD_VERSION and
# hands it to Lua (mpod.sys.version); `make install` stamps the man page.
VERSION  := 0.1.0

PREFIX   ?= /usr/local
BUILD    ?= build
CC       ?= cc
PKGS     := lua5.4 libcurl libcjson libpq
OPT      ?= -O2 -g
SAN      ?=
BACKEND  ?= process
ARGS     :=

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS   := -std=gnu11 $(OPT) $(SAN) -Wall -Wextra -Werror $(CFLAGS)
CPPFLAGS := -D_GNU_SOURCE -DMPOD_VERSION='"$(VERSION)"' -Isrc -I$(BUILD)/gen \
            $(PKG_CFLAGS) $(CPPFLAGS)
# -z now: the binary's own symbols are bound once at start-up, in the
# runner, instead of again in every forked scenario child on first call.
LDFLAGS  := $(SAN) -Wl,-z,now $(LDFLAGS)
LDLIBS   := $(PKG_LIBS) -lm $(LDLIBS)

ENGINE_SRC := $(filter-out src/main.c src/gen_bundle.c,$(wildcard src/*.c))
ENGINE_OBJ := $(ENGINE_SRC:src/%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/lua_bundle.o \
              $(BUILD)/obj/c_modules.o
# lua/: the Lua half, and the report's assets (.js, .css) gen_bundle embeds
LUA_SRC    := $(sort $(shell find lua -type f \( -name '*.lua' -o -name '*.js' -o -name '*.css' \)))
MPOD       := $(BUILD)/mpod-lua

C_TESTS    := $(patsubst tests/c/%.c,$(BUILD)/tests/%,$(wildcard tests/c/test_*.c))

.PHONY: FORCE all deps deps-compose deps-dev test check run chaos bench images install uninstall \
        clean test-asan test-valgrind fuzz
.DEFAULT_GOAL := all

all: $(MPOD) $(C_TESTS)

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

# The objects that use MPOD_VERSION follow a change of VERSION (also one
# given on the command line): $(BUILD)/version changes only when it does.
$(BUILD)/obj/sys.o $(BUILD)/obj/http.o: $(BUILD)/version

$(BUILD)/version: FORCE
	@mkdir -p $(@D)
	@echo '$(VERSION)' | cmp -s - $@ || echo '$(VERSION)' > $@

FORCE:

$(BUILD)/gen_bundle: src/gen_bundle.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O1 -Wall -Wextra -Werror $(PKG_CFLAGS) -o $@ $< $(shell pkg-config --libs lua5.4)

$(BUILD)/gen/lua_bundle.c: $(BUILD)/gen_bundle $(LUA_SRC)
	@mkdir -p $(@D)
	$(BUILD)/gen_bundle $@ $(LUA_SRC)

$(BUILD)/obj/lua_bundle.o: $(BUILD)/gen/lua_bundle.c src/bundle.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/gen/c_modules.c: src/gen_modules.sh $(ENGINE_SRC)
	@mkdir -p $(@D)
	src/gen_modules.sh $(ENGINE_SRC) > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/c_modules.o: $(BUILD)/gen/c_modules.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/libmpod.a: $(ENGINE_OBJ)
	rm -f $@
	ar rcs $@ $^

$(MPOD): $(BUILD)/obj/main.o $(BUILD)/libmpod.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# C unit tests link the engine library; each prints TAP.
$(BUILD)/tests/%: tests/c/%.c tests/c/tap.h $(BUILD)/libmpod.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Itests/c $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libmpod.a $(LDLIBS)

-include $(wildcard $(BUILD)/obj/*.d)
fuzz: deps-dev
-include $(wildcard tests/fixtures/*.mk compose/meshd/meshd.mk compose/images.mk tests/fuzz/fuzz.mk bench/bench.mk)

# The groups of vendor/debian-packages.txt; vendor/install-deps resolves
# the names against what apt offers (postgresql-NN: the newest there is).
deps:
	@vendor/install-deps run

deps-compose:
	@vendor/install-deps run compose

deps-dev:
	@vendor/install-deps run compose dev

# The whole suite: the plain build's, then the ASan + UBSan build's (about
# 7 minutes more; `make check` is the plain half alone). Both run, and the
# target fails if either did, after printing the failing tests of both
# halves again (tests/run-all keeps them in test-logs/FAILURES). The compose
# backend's tests run under v1 `docker-compose` in both halves, and under
# the Go `docker compose` v5 (tests/suites/*-compose-v5.sh, make compose-cli)
# in the plain half only: the engine's code is the same, only the CLI differs.
test: deps-dev
	@status=0; $(MAKE) --no-print-directory check || status=1; \
	$(MAKE) --no-print-directory test-asan || status=1; \
	if [ $$status -ne 0 ]; then \
		for failures in $(BUILD)/test-logs/FAILURES $(ASAN_BUILD)/test-logs/FAILURES; do \
			[ -s "$$failures" ] && { echo "== $$failures"; cat "$$failures"; }; \
		done; \
		echo "make test: FAILED (the failing tests are listed above)"; \
	fi; \
	exit $$status

check: deps-dev
	@$(MAKE) --no-print-directory all
	MPOD=$(MPOD) BUILD=$(BUILD) tests/run-all

# stdout is the TAP alone: make's echo and the build's output go to stderr,
# and a failed build is a TAP "Bail out!" (exit 3), as in tests/run-scenarios.
run:
	@{ $(MAKE) --no-print-directory $(if $(filter compose,$(BACKEND)),deps-compose,deps) && \
		$(MAKE) --no-print-directory all; } >&2 || \
		{ printf 'TAP version 13\nBail out! make run: the build failed (its output is on stderr)\n'; exit 3; }
	@tests/run-scenarios $(BACKEND) $(ARGS)

# The chaos scenario's search (docs/chaos.md): on the process reference
# cluster, scenarios/chaos-meshd.lua passes on plain meshd, and for each
# planted-bug variant seeds 1, 2, ... 10 run until it fails the check of
# that bug, then that seed is run again and must fail it again
# (tests/suites/chaos-meshd.sh with CHAOS_SEARCH=1; make test runs the
# same suite trying first the seeds known to find each bug). About 30 s a
# seed.
chaos: deps
	@$(MAKE) --no-print-directory all toxiproxy >&2
	CHAOS_SEARCH=1 MPOD=$(MPOD) BUILD=$(BUILD) tests/suites/chaos-meshd.sh

# The ASan + UBSan variant of the suite. Every process the run starts (the
# runner, scenario children, the fixtures and meshd, built with $(SAN) too)
# writes its sanitizer reports to build-asan/sanitizer/, so a report from a
# process whose stderr nobody reads still fails the run; they are printed
# at the end. A report that only says "Unable to get registers from thread"
# is no finding: LeakSanitizer's check at exit was cut short because the
# tests killed that process then (a runner killed on purpose takes its
# children with it), so it is listed, not failed. Timing assertions of the
# self-tests allow for the slowdown (MPOD_TEST_TIME_SCALE,
# tests/lua/lib/selftest.lua).
ASAN_BUILD  := build-asan
SAN_REPORTS := $(ASAN_BUILD)/sanitizer

test-asan: deps-dev
	@$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) OPT="-O1 -g -fno-omit-frame-pointer" \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" all
	@rm -rf $(SAN_REPORTS) && mkdir -p $(SAN_REPORTS)
	@status=0; MPOD=$(ASAN_BUILD)/mpod-lua BUILD=$(ASAN_BUILD) MPOD_TEST_TIME_SCALE=3 \
		MPOD_TEST_COMPOSE_V5=off \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:handle_segv=0:log_path=$(CURDIR)/$(SAN_REPORTS)/asan \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(CURDIR)/$(SAN_REPORTS)/ubsan \
		LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp tests/run-all || status=1; \
	for report in $(SAN_REPORTS)/*; do \
		[ -e "$$report" ] || continue; \
		if ! grep -qv 'Unable to get registers from thread' "$$report"; then \
			echo "== $$report: a process was killed during its own leak check (no finding)"; \
			continue; \
		fi; \
		echo "== sanitizer report $$report"; cat "$$report"; status=1; \
	done; \
	exit $$status

# The engine's own tests under valgrind (tests/run-valgrind says which), on
# an unsanitized -O1 build of its own.
test-valgrind: deps-dev
	@$(MAKE) --no-print-directory BUILD=build-valgrind OPT="-O1 -g" all
	MPOD=build-valgrind/mpod-lua BUILD=build-valgrind tests/run-valgrind

install: $(MPOD)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/mpod-lua
	install -m 755 $(MPOD) $(DESTDIR)$(PREFIX)/bin/mpod-lua
	sed '/^\.TH /s/"mpod-lua"/"mpod-lua $(VERSION)"/' docs/mpod-lua.1 \
		> $(DESTDIR)$(PREFIX)/share/man/man1/mpod-lua.1
	chmod 644 $(DESTDIR)$(PREFIX)/share/man/man1/mpod-lua.1
	install -m 644 docs/mpod.meta.lua $(DESTDIR)$(PREFIX)/share/mpod-lua/mpod.meta.lua

# Removes what `make install` put (same PREFIX and DESTDIR), and the
# share/mpod-lua folder when nothing else is left in it.
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/mpod-lua $(DESTDIR)$(PREFIX)/share/man/man1/mpod-lua.1 \
		$(DESTDIR)$(PREFIX)/share/mpod-lua/mpod.meta.lua
	rmdir $(DESTDIR)$(PREFIX)/share/mpod-lua 2>/dev/null || true

clean:
	rm -rf build build-asan build-valgrind build-fuzz
