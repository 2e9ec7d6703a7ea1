# compose/meshd/meshd.mk: builds meshd, the reference app under test, into
# $(BUILD)/meshd. Included by the top-level Makefile; CFLAGS and LDFLAGS come
# from there, so $(OPT) and $(SAN) (ASan, TSan) apply here too.

MESHD_PKGS   := libmicrohttpd libpq libnats libcjson
MESHD_SRC    := $(wildcard compose/meshd/*.c)
MESHD_OBJ    := $(MESHD_SRC:compose/meshd/%.c=$(BUILD)/meshd-obj/%.o)
MESHD_CFLAGS := -pthread $(shell pkg-config --cflags $(MESHD_PKGS) 2>/dev/null)
MESHD_LIBS   := $(shell pkg-config --libs $(MESHD_PKGS) 2>/dev/null) -lcrypt -pthread

all: $(BUILD)/meshd

$(BUILD)/meshd-obj/%.o: compose/meshd/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(MESHD_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/meshd: $(MESHD_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(MESHD_LIBS)

-include $(wildcard $(BUILD)/meshd-obj/*.d)
