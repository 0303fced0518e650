## cairn -- batch ETL engine. Targets:
## make            build bin/cairn (installs missing Debian packages first)
## make run        build, then run the demo job offline from fixtures/
## make test       build, then every test: unit, fuzz corpus, CLI, torture (CI)
## make asan       the whole suite under AddressSanitizer + UBSan
## make tsan       the runner's threads under ThreadSanitizer (CLI runs, ~2 min)
## make fuzz       libFuzzer + ASan/UBSan on the parsers (FUZZ_SECONDS each)
## make bench      the benchmark (figures in docs/performance.md)
## make install    PREFIX=/usr/local: binary, schemas, jobs, sinks
## make deps       install missing Debian packages (apt-get)
## make help       this text

PREFIX  ?= /usr/local
BUILD   ?= build
BIN     ?= bin/cairn
PKGS    := libcurl jansson sqlite3 libzstd libarchive libisal openssl \
           libmicrohttpd libpcre2-8
OPT     ?= -O2 -g
DEBS    := gcc make pkg-config libcurl4-openssl-dev libjansson-dev \
           libsqlite3-dev libzstd-dev libarchive-dev libisal-dev libssl-dev \
           libcriterion-dev libmicrohttpd-dev libpcre2-dev sqlite3 zstd jq \
           json-schema-test-suite node-har-validator nodejs python3 openssl \
           prometheus time locales

CFLAGS  += $(OPT) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -pthread \
           -Isrc -DCAIRN_DATADIR='"$(PREFIX)/share/cairn"'
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDLIBS  += -pthread

SRC     := $(sort $(wildcard src/*/*.c))
OBJ     := $(SRC:src/%.c=$(BUILD)/%.o)
LIBOBJ  := $(filter-out $(BUILD)/cli/%,$(OBJ))
UNIT    := $(sort $(wildcard tests/unit/*.c))
UNITOBJ := $(UNIT:tests/unit/%.c=$(BUILD)/tests/%.o)
# Fuzz targets (tests/fuzz/fuzz_*.c): linked with replay.c, `make test`
# replays their corpus; `make fuzz` links them with libFuzzer instead.
FUZZ    := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZBIN := $(FUZZ:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_MAIN ?= $(BUILD)/fuzzobj/replay.o
FUZZ_SECONDS ?= 120
TESTDEFS := -DCAIRN_TEST_DATA='"tests/data"' -DCAIRN_FIXTURES='"fixtures"' \
            -DCAIRN_SCHEMAS='"schemas"'

.DEFAULT_GOAL := all
all: deps $(BIN)

help:
	@sed -n 's/^## //p' Makefile

# Installs only what is missing; does nothing when everything is present.
deps:
	@missing=""; for p in $(DEBS); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(BIN): $(OBJ)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(BUILD)/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%.o: tests/unit/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(TESTDEFS) -MMD -MP -c -o $@ $<

$(BUILD)/unit: $(UNITOBJ) $(LIBOBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcriterion $(LDLIBS)

$(BUILD)/fuzzobj/%.o: tests/fuzz/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/fuzz/%: $(BUILD)/fuzzobj/%.o $(FUZZ_MAIN) $(LIBOBJ)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

test: CFLAGS += -Werror
test: deps $(BIN) $(BUILD)/unit $(FUZZBIN)
	CAIRN_BIN=$(BIN) CAIRN_UNIT=$(BUILD)/unit CAIRN_FUZZ=$(BUILD)/fuzz \
	  tests/run_all.sh

run: deps $(BIN)
	@tests/demo.sh $(BIN)

asan:
	$(MAKE) test BUILD=build/asan BIN=build/asan/cairn \
	  OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer" \
	  LDFLAGS="-fsanitize=address,undefined"

tsan: deps
	$(MAKE) BUILD=build/tsan BIN=build/tsan/cairn build/tsan/cairn \
	  OPT="-O1 -g -fsanitize=thread" LDFLAGS="-fsanitize=thread"
	tests/tsan.sh build/tsan/cairn

bench: deps $(BIN)
	tests/bench/run.sh $(BIN)

# clang is installed on first use (it is not needed for anything else).
fuzz: deps
	@command -v clang >/dev/null || { SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq clang; }
	$(MAKE) BUILD=build/libfuzzer CC=clang FUZZ_MAIN= \
	  OPT="-O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer" \
	  LDFLAGS="-fsanitize=fuzzer,address,undefined" \
	  $(FUZZ:tests/fuzz/%.c=build/libfuzzer/fuzz/%)
	tests/fuzz/run.sh build/libfuzzer/fuzz $(FUZZ_SECONDS)

install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/cairn
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/cairn
	cp -r schemas jobs sinks $(DESTDIR)$(PREFIX)/share/cairn/

clean:
	rm -rf build bin

.PHONY: all help deps test run asan tsan bench fuzz install clean
-include $(OBJ:.o=.d) $(UNITOBJ:.o=.d) \
  $(FUZZ:tests/fuzz/%.c=$(BUILD)/fuzzobj/%.d)
