# tern — one GNU Makefile. Objects go out of tree under $(BUILD).
#
#   make            release build: build/ternd, build/ternctl
#   make run        install what is missing, build, write ./var/tern.conf, start ternd
#   make test       install what is missing, ASan+UBSan build in build/asan, run every test
#   make fmt-check  clang-format check of every C file
#   make bench      tern against Prosody and ejabberd (bench/compare.sh; BENCH_ARGS=--quick)
#   make fuzz       libFuzzer targets (clang) in build/fuzz, each run FUZZ_TIME seconds
#   make test-valgrind  unit tests and corpus replays under valgrind (build/vg, no ASan)
#
# SAN=1 selects the sanitizer build (used by `make test`); FUZZ=1 the libFuzzer build.

BUILD   ?= build
SAN     ?= 0
CC      ?= cc
PYTHON  ?= /usr/bin/python3
PYTEST_ARGS ?= .
FUZZ    ?= 0
FUZZ_SECONDS ?= 60
FUZZ_TIME ?= $(FUZZ_SECONDS)

PKGS := openssl expat sqlite3 inih
# Debian packages: for building and running, and on top of that for the tests.
DEB_BUILD := build-essential pkg-config openssl libssl-dev libexpat1-dev libsqlite3-dev libinih-dev
DEB_TEST  := python3 python3-slixmpp python3-pytest clang-format
# only for `make bench` (the peers tern is compared with; luerl lets ejabberd import accounts)
DEB_BENCH := prosody ejabberd erlang-luerl lua-unbound python3 openssl util-linux
# Only for `make fuzz` and `make test-valgrind`, never pulled in by `make test`.
DEB_FUZZ     := clang libclang-rt-14-dev llvm python3
DEB_VALGRIND := valgrind

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla
CPPFLAGS += -Isrc -D_GNU_SOURCE
CFLAGS   += -std=c17 -g $(WARN) -pthread
LDLIBS   += -pthread

ifeq ($(SAN),1)
CFLAGS  += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
CFLAGS  += -Werror
else ifeq ($(FUZZ),1)
CC      := clang
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
CFLAGS  += -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link $(FUZZ_SAN)
LDFLAGS += -fsanitize=fuzzer $(FUZZ_SAN)
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
# Each tests/fuzz/fuzz_NAME.c is two programs: a corpus replay (any compiler, run by `make
# unit`) and, with FUZZ=1, a libFuzzer target.
FUZZ_NAMES := $(sort $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c)))
REPLAY_BIN := $(FUZZ_NAMES:%=$(BUILD)/tests/fuzz_%)
FUZZ_BIN   := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)

.SECONDARY:
.PHONY: all run test unit e2e deps deps-test deps-fuzz deps-valgrind fmt fmt-check tidy clean \
        fuzz fuzz-bins fuzz-seeds fuzz-stanzas test-valgrind e2e-valgrind deps-bench bench
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

$(BUILD)/tests/fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(BUILD)/obj/tests/fuzz/replay.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(BUILD)/fuzz/fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(LIB)
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

deps-fuzz:
	@m="$(call missing,$(DEB_BUILD) $(DEB_FUZZ))"; if [ -n "$$m" ]; then \
	  echo "installing: $$m"; $(SUDO) apt-get update && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends $$m; fi

deps-valgrind:
	@m="$(call missing,$(DEB_BUILD) $(DEB_TEST) $(DEB_VALGRIND))"; if [ -n "$$m" ]; then \
	  echo "installing: $$m"; $(SUDO) apt-get update && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends $$m; fi

# Installing prosody and ejabberd from Debian may start their system services where the
# init system allows it; compare.sh runs its own instances on other loopback ports.
deps-bench:
	@m="$(call missing,$(DEB_BUILD) $(DEB_BENCH))"; if [ -n "$$m" ]; then \
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

# the side-by-side benchmark (bench/compare.sh): BENCH_ARGS=--quick for a 3-minute pass
bench: deps-bench
	@$(MAKE) --no-print-directory all
	sh bench/compare.sh $(BENCH_ARGS)

unit-bins: $(UNIT_BIN) $(REPLAY_BIN)

unit: $(UNIT_BIN) $(REPLAY_BIN)
	@sh tests/unit/run.sh $(UNIT_BIN) $(REPLAY_BIN)

e2e: $(BINS)
	cd tests/e2e && TERND=$(abspath $(BUILD)/ternd) TERNCTL=$(abspath $(BUILD)/ternctl) \
	  TERN_BENCH=$(abspath $(BUILD)/tern-bench) \
	  $(PYTHON) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# ---- fuzzing and valgrind -----------------------------------------------------------------
fuzz-bins: $(FUZZ_BIN)

# Seeds from gen_seeds.py and the checked-in corpus; what a run finds stays in build/fuzz/corpus.
fuzz: deps-fuzz
	@$(MAKE) --no-print-directory FUZZ=1 BUILD=build/fuzz fuzz-bins
	@$(MAKE) --no-print-directory fuzz-seeds
	@sh tests/fuzz/run.sh build/fuzz $(FUZZ_TIME) $(FUZZ_NAMES)

# A logged-in session fed random stanzas (test_abuse.py) on the ASan build, longer than in
# make test and with a new seed each run (printed; TERN_STANZA_SEED=N repeats one).
fuzz-stanzas:
	@$(MAKE) --no-print-directory SAN=1 BUILD=build/asan all
	@TERN_STANZA_COUNT=$${TERN_STANZA_COUNT:-20000} TERN_STANZA_SEED=$${TERN_STANZA_SEED:-$$(date +%s)} \
	  $(MAKE) --no-print-directory SAN=1 BUILD=build/asan e2e \
	  PYTEST_ARGS="test_abuse.py -k random_stanzas -s"

fuzz-seeds:
	@$(PYTHON) tests/fuzz/gen_seeds.py build/fuzz/seeds

VALGRIND ?= valgrind --quiet --error-exitcode=99 --leak-check=full \
            --errors-for-leak-kinds=definite --show-leak-kinds=definite
test-valgrind: deps-valgrind
	@$(MAKE) --no-print-directory BUILD=build/vg all unit-bins
	@UNIT_RUNNER="$(VALGRIND)" sh tests/unit/run.sh \
	  $(UNIT_BIN:$(BUILD)/%=build/vg/%) $(REPLAY_BIN:$(BUILD)/%=build/vg/%)

# The end-to-end tests against a ternd under valgrind (slow: timeouts are scaled).
e2e-valgrind: deps-valgrind
	@$(MAKE) --no-print-directory BUILD=build/vg all
	@TERND_WRAPPER="$(VALGRIND) --log-fd=2" TERN_TIMEOUT_SCALE=$${TERN_TIMEOUT_SCALE:-10} \
	  $(MAKE) --no-print-directory BUILD=build/vg e2e

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
