# fuzz.mk: libFuzzer targets, included by the Makefile.
#
# Every tests/fuzz/fuzz_<name>.c defines LLVMFuzzerTestOneInput and becomes
# $(FUZZ_BUILD)/fuzz_<name>, linked with clang against the engine sources
# compiled by clang with ASan, UBSan and fuzzer coverage into $(FUZZ_BUILD).
#
#   make fuzz                   run every target for FUZZ_SECONDS (30) each
#   make fuzz-<name>            run one target, e.g. `make fuzz-sse`
#
# The time is bounded: one input running past FUZZ_UNIT_TIMEOUT (20) seconds
# is a finding (a hang), and a target still running FUZZ_SECONDS + 120
# seconds after its start is killed and fails the run.
#
# A run starts from the committed corpus tests/fuzz/corpus/<name>/ (when
# present) and the dictionary tests/fuzz/<name>.dict (when present). New
# inputs go to a scratch folder that is removed afterwards, so the repo is
# never touched; copy an input into the corpus by hand to keep it. A crash,
# leak, sanitizer report or timeout fails the run and leaves the input in
# $(FUZZ_BUILD)/<name>-crash-* (or -leak-*, -timeout-*); the run's log is
# $(FUZZ_BUILD)/<name>.log.

FUZZ_BUILD   := build-fuzz
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
FUZZ_UNIT_TIMEOUT ?= 20
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS  := -std=gnu11 -O1 -g -fno-omit-frame-pointer -Wall -Wextra -Werror

FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES   := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_OBJ     := $(ENGINE_OBJ:$(BUILD)/obj/%=$(FUZZ_BUILD)/obj/%)

fuzz: $(FUZZ_NAMES:%=fuzz-%)

# Keep the binaries that fuzz-% reaches only through pattern rules.
.PRECIOUS: $(FUZZ_BUILD)/fuzz_%

$(FUZZ_BUILD)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SAN) \
		-MMD -MP -c -o $@ $<

# Objects the Makefile generates the source of ($(BUILD)/gen/*.c).
$(FUZZ_BUILD)/obj/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SAN) \
		-MMD -MP -c -o $@ $<

$(FUZZ_BUILD)/libmpod.a: $(FUZZ_OBJ)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_BUILD)/libmpod.a
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(FUZZ_SAN) \
		-MMD -MP -o $@ $< $(FUZZ_BUILD)/libmpod.a $(LDLIBS)

fuzz-%: $(FUZZ_BUILD)/fuzz_%
	@scratch=$$(mktemp -d) && \
	corpus=$$(test -d tests/fuzz/corpus/$* && echo tests/fuzz/corpus/$*); \
	dict=$$(test -f tests/fuzz/$*.dict && echo -dict=tests/fuzz/$*.dict); \
	echo "fuzz: $* for $(FUZZ_SECONDS)s"; \
	timeout -k 10 $$(($(FUZZ_SECONDS) + 120)) $< -max_total_time=$(FUZZ_SECONDS) \
		-timeout=$(FUZZ_UNIT_TIMEOUT) -artifact_prefix=$(FUZZ_BUILD)/$*- \
		$$dict $$scratch $$corpus > $(FUZZ_BUILD)/$*.log 2>&1; \
	status=$$?; rm -rf $$scratch; \
	if [ $$status -ne 0 ]; then tail -n 40 $(FUZZ_BUILD)/$*.log; \
		echo "fuzz: $* FAILED (log: $(FUZZ_BUILD)/$*.log)"; exit 1; fi; \
	grep -h '^Done' $(FUZZ_BUILD)/$*.log | sed 's/^/fuzz: $*: /'

-include $(wildcard $(FUZZ_BUILD)/obj/*.d $(FUZZ_BUILD)/*.d)
