# tern — one GNU Makefile. Objects go out of tree under $(BUILD).
#
#   make            release build: build/ternd, build/ternctl
#   make run        install what is missing, build, write ./var/tern.conf, start ternd
#   make test       install what is missing, ASan+UBSan build in build/asan, run every test
#   make fmt-check  clang-format check of every C file
#
# SAN=1 selects the sanitizer build (used by `make test`).

BUILD   ?= build
SAN     ?= 0
CC      ?= cc
PYTHON  ?= /usr/bin/python3
PYTEST_ARGS ?= .

PKGS := openssl expat sqlite3 inih
# Debian packages: for building and running, and on top of that for the tests.
DEB_BUILD := build-essential pkg-config openssl libssl-dev libexpat1-dev libsqlite3-dev libinih-dev
DEB_TEST  := python3 python3-slixmpp python3-pytest clang-format

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla
CPPFLAGS += -Isrc -D_GNU_SOURCE
CFLAGS   += -std=c17 -g $(WARN) -pthread
LDLIBS   += -pthread

ifeq ($(SAN),1)
CFLAGS  += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
CFLAGS  += -Werror
else
CFLAGS  += -O2
endif
ifeq ($(CI),true)
CFLAGS  += -Werror
endif

# pkg-config is queried only when compiling, so `make deps` works before it exists.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

LIB_SRC  := $(sort $(wildcard src/core/*.c src/net/*.c src/xml/*.c src/http/*.c src/xmpp/*.c \
                               src/xmpp/mod/*.c src/store/*.c src/conf/*.c src/admin/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB      := $(BUILD)/libtern.a
BINS     := $(BUILD)/ternd $(BUILD)/ternctl $(BUILD)/tern-bench
BENCH_SRC := $(sort $(wildcard tools/bench/*.c))
BENCH_OBJ := $(BENCH_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.SECONDARY:
.PHONY: all run test unit e2e deps deps-test fmt fmt-check tidy clean
.DEFAULT_GOAL := all

all: $(BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/ternd: $(BUILD)/obj/src/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(BUILD)/ternctl: $(BUILD)/obj/tools/ternctl.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(BUILD)/tern-bench: $(BENCH_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

# the histogram's unit test links the bench's module
$(BUILD)/tests/test_hist: $(BUILD)/obj/tools/bench/hist.o

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---- dependencies -------------------------------------------------------------------------
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
missing = $(shell for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
                  | grep -q 'install ok installed' || echo $$p; done)

deps:
	@m="$(call missing,$(DEB_BUILD))"; if [ -n "$$m" ]; then \
	  echo "installing: $$m"; $(SUDO) apt-get update && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends $$m; fi

deps-test:
	@m="$(call missing,$(DEB_BUILD) $(DEB_TEST))"; if [ -n "$$m" ]; then \
	  echo "installing: $$m"; $(SUDO) apt-get update && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends $$m; fi

# ---- the two README commands --------------------------------------------------------------
run: deps
	@$(MAKE) --no-print-directory all
	@sh tools/run.sh $(BUILD)

test: deps-test
	@$(MAKE) --no-print-directory fmt-check
	@$(MAKE) --no-print-directory SAN=1 BUILD=build/asan all unit-bins
	@$(MAKE) --no-print-directory SAN=1 BUILD=build/asan unit e2e

unit-bins: $(UNIT_BIN)

unit: $(UNIT_BIN)
	@sh tests/unit/run.sh $(UNIT_BIN)

e2e: $(BINS)
	cd tests/e2e && TERND=$(abspath $(BUILD)/ternd) TERNCTL=$(abspath $(BUILD)/ternctl) \
	  TERN_BENCH=$(abspath $(BUILD)/tern-bench) \
	  $(PYTHON) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# ---- style --------------------------------------------------------------------------------
C_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null || find src tools tests -name '*.[ch]')

fmt:
	clang-format -i $(C_FILES)

fmt-check:
	clang-format --dry-run --Werror $(C_FILES)

tidy:
	clang-tidy $(LIB_SRC) -- $(CPPFLAGS) -std=c17 $(PKG_CFLAGS)

clean:
	rm -rf build
