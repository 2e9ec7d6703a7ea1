# compose/meshd/meshd.mk: builds meshd, the reference app under test, into
# $(BUILD)/meshd, and its planted-bug variants into $(BUILD)/meshd-bug-<name>
# (`make meshd-bugs`; compose/meshd/bug.h lists the names). Included by the
# top-level Makefile; CFLAGS and LDFLAGS come from there, so $(OPT) and
# $(SAN) (ASan, TSan) apply here too. Each variant is the same sources
# compiled with -DMESHD_BUG=<name>, into objects of its own.

MESHD_PKGS   := libmicrohttpd libpq libnats libcjson
MESHD_SRC    := $(wildcard compose/meshd/*.c)
MESHD_OBJ    := $(MESHD_SRC:compose/meshd/%.c=$(BUILD)/meshd-obj/%.o)
MESHD_CFLAGS := -pthread $(shell pkg-config --cflags $(MESHD_PKGS) 2>/dev/null)
MESHD_LIBS   := $(shell pkg-config --libs $(MESHD_PKGS) 2>/dev/null) -lcrypt -pthread
MESHD_BUGS   := ack_before_commit takeover_without_cas resume_skips_chunk stale_session_cache
MESHD_BUG_BINS := $(MESHD_BUGS:%=$(BUILD)/meshd-bug-%)

.PHONY: meshd-bugs

all: $(BUILD)/meshd $(MESHD_BUG_BINS)

meshd-bugs: $(MESHD_BUG_BINS)

$(BUILD)/meshd-obj/%.o: compose/meshd/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(MESHD_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/meshd: $(MESHD_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(MESHD_LIBS)

-include $(wildcard $(BUILD)/meshd-obj/*.d)

# meshd_bug_rules(name): the objects and binary of one variant
define meshd_bug_rules
$(BUILD)/meshd-bug-$(1)-obj/%.o: compose/meshd/%.c
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS) $$(MESHD_CFLAGS) -DMESHD_BUG=$(1) -MMD -MP -c -o $$@ $$<

$(BUILD)/meshd-bug-$(1): $(MESHD_SRC:compose/meshd/%.c=$(BUILD)/meshd-bug-$(1)-obj/%.o)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(MESHD_LIBS)

-include $$(wildcard $(BUILD)/meshd-bug-$(1)-obj/*.d)
endef

$(foreach bug,$(MESHD_BUGS),$(eval $(call meshd_bug_rules,$(bug))))
