# PLDR-LLM in-browser runtime.
#   make          dist/pldr.wasm (Emscripten, SIMD128, standalone: no JS glue) and its variants:
#                 dist/pldr-relaxed.wasm (relaxed SIMD: int8 dot products, fused multiply-add),
#                 dist/pldr-threads.wasm (over shared memory, for the thread pool of src/threads),
#                 dist/pldr-threads-relaxed.wasm (both)
#   make native   build/pldr-native (gcc -O3 -march=native, the same C sources)
#   make test     every test (node --test, python unittest), WASM and native
#   make bench    benchmarks: WASM vs native, 1 vs 2 threads, bandwidth ceiling, G-cache
#   make fuzz     fuzzers, time-boxed (FUZZ_SECONDS per target); fuzz-js / fuzz-c: the JavaScript / C ones
#   make test-asan  the native tests on build/pldr-native-asan (AddressSanitizer + UBSan)
#   make bench-peers  the same per-token work in llama.cpp (wllama) and onnxruntime-web, Chromium
#   make tsan     the native tests again on a ThreadSanitizer build running 3 threads
#   make chat     build, then serve the chat page on http://localhost:8080/web/ (PORT=… to change)
#   make serve    the dev server alone (tools/serve.mjs: wasm MIME type, Range, COOP/COEP)
#   make dist     dist/site/: the static site (page, js, wasm, default model) for any static host
#   make pack     dist/npm/: the npm tarballs (pldr-web, and the default model pldr-web-tiny), sizes
#   make types    types/: the .d.ts files generated from the JSDoc (npm pack runs it)
#   make setup    install the toolchain on Debian 12 when missing

SHELL := /bin/bash
EMCC ?= emcc
CC ?= gcc
export NODE_PATH := /usr/share/nodejs

LIB_SRC := $(wildcard src/*.c src/kernels/*.c src/model/*.c src/session/*.c src/threads/*.c)
CLI_SRC := $(wildcard src/cli/*.c)
HEADERS := include/pldr.h $(wildcard src/*.h src/*/*.h)
EXPORTS := $(shell bash tools/exports.sh)

WARN := -std=c11 -Wall -Wextra -Iinclude
WASM_COMMON := -O3 -msimd128 -flto -sSTANDALONE_WASM -sALLOW_MEMORY_GROWTH=1 -sINITIAL_MEMORY=16MB \
	-sMAXIMUM_MEMORY=4GB -sTOTAL_STACK=1MB
WASM_FLAGS := $(WASM_COMMON) --no-entry -sEXPORTED_FUNCTIONS=$(EXPORTS)
WASM_OPT := wasm-opt -O3 --enable-simd --enable-bulk-memory --enable-sign-ext \
	--enable-nontrapping-float-to-int --enable-mutable-globals
NATIVE_FLAGS := -O3 -march=native -Wno-format-truncation -pthread

# The WebAssembly variants (js/runtime/wasm-location.js lists them, js/runtime/features.js picks
# one): the same sources, one set of flags each. Built by emcc: the baseline and threads (atomics,
# a memory the host creates shared (imported), and stackRestore exported so that each worker moves
# to its own stack); relaxed by clang-19 (below).
EMCC_VARIANTS := dist/pldr.wasm dist/pldr-threads.wasm
VARIANT_CFLAGS_pldr-threads := -matomics -mbulk-memory
VARIANT_LDFLAGS_pldr-threads := -Wl,--shared-memory -Wl,--import-memory -Wl,--undefined=stackRestore \
	-Wl,--export=stackRestore
VARIANT_OPT_pldr-threads := --enable-threads

.PHONY: all native test test-js test-py bench setup clean kernels-test types pack bench-peers tsan
all: $(EMCC_VARIANTS) dist/pldr-relaxed.wasm dist/pldr-threads-relaxed.wasm web/pldrv51-110m-1.G_LM.f32

# The page's example G (web/deductive.js): a copy of the test fixture, so the repository holds it once
web/%.G_LM.f32: tests/fixtures/gcache/%.G_LM.f32
	cp $< $@

setup:
	@bash tools/setup.sh

build/stamp-setup: tools/setup.sh
	@bash tools/setup.sh
	@mkdir -p build && touch $@

# Every byte of the module is downloaded: code that runs per token (the kernels, the forward pass
# and its steps, the A-net, the KV-cache, the thread pool) is compiled for speed, the rest
# (configuration and its checks, the tensor table, uploads, states, the memory query) for size,
# -Oz. (Measured: dist/pldr.wasm 131.6 → 121.0 KB, dist/pldr-relaxed.wasm 153.9 → 143 KB; decode
# and prefill unchanged.) Objects per variant: build/wasm/ (pldr), build/wasm-threads/ (atomics).
WASM_HOT_SRC := $(wildcard src/kernels/*.c) src/session/forward.c src/session/prefill.c \
	src/session/kvcache.c src/model/anet.c $(wildcard src/threads/*.c)
opt_for = $(if $(filter $(1),$(WASM_HOT_SRC)),-O3,-Oz)
OBJ_DIR_pldr := build/wasm
OBJ_DIR_pldr-threads := build/wasm-threads
wasm_objs = $(patsubst %.c,$(OBJ_DIR_$(2))/%.o,$(1))
build/wasm/%.o: %.c $(HEADERS) Makefile | build/stamp-setup
	@mkdir -p $(dir $@)
	$(EMCC) $(WARN) $(call opt_for,$<) -msimd128 -flto -c $< -o $@
build/wasm-threads/%.o: %.c $(HEADERS) Makefile | build/stamp-setup
	@mkdir -p $(dir $@)
	$(EMCC) $(WARN) $(call opt_for,$<) -msimd128 $(VARIANT_CFLAGS_pldr-threads) -flto -c $< -o $@

.SECONDEXPANSION:
$(EMCC_VARIANTS): dist/%.wasm: $$(call wasm_objs,$(LIB_SRC),$$*) src/host_imports.js Makefile | build/stamp-setup
	@mkdir -p build dist
	$(EMCC) $(WASM_FLAGS) $(VARIANT_CFLAGS_$*) $(VARIANT_LDFLAGS_$*) --js-library src/host_imports.js $(call wasm_objs,$(LIB_SRC),$*) \
		-o build/$*.raw.wasm
	$(WASM_OPT) $(VARIANT_OPT_$*) build/$*.raw.wasm -o $@
	@echo "$@: $$(stat -c %s $@) bytes"

# The relaxed-SIMD variant: the same sources, one flag set more (-mrelaxed-simd: i32x4 int8 dot
# products for q8_0/q4_0, f32x4 fused multiply-add for float32; src/kernels/simd.h). Emscripten
# 3.1.6's clang 14 has no builtins for them, so clang-19 compiles (for Emscripten's target, against
# its headers) and wasm-ld-19 links against Emscripten's own prebuilt libc, dlmalloc and
# standalone-wasm support: the libraries of dist/pldr.wasm, imports and exports alike. No binaryen:
# wasm-opt 108 cannot read the relaxed opcodes (clang -O3 with LTO does the optimizing). The
# libraries' -mt builds are there for a threaded variant. js/runtime/features.js picks the module.
RELAXED_CC ?= clang-19
RELAXED_LD ?= wasm-ld-19
EM_SYSROOT ?= $(shell em-config CACHE)/sysroot
EM_LIB = $(EM_SYSROOT)/lib/wasm32-emscripten
RELAXED_CFLAGS = --target=wasm32-unknown-emscripten --sysroot=$(EM_SYSROOT) -Xclang -iwithsysroot/include/compat \
	-DEMSCRIPTEN $(WARN) -O3 -msimd128 -mrelaxed-simd -ffp-contract=off -flto -mllvm -disable-lsr
RELAXED_LDFLAGS = -L$(EM_LIB) -z stack-size=1048576 --initial-memory=16777216 --max-memory=4294967296 \
	--lto-O3 --strip-debug --import-undefined
RELAXED_LIBS := -lstandalonewasm-memgrow -lstubs -lc -ldlmalloc -lcompiler_rt
comma := ,
RELAXED_EXPORTS = $(patsubst _%,--export=%,$(subst $(comma), ,$(EXPORTS)))
relaxed_objs = $(patsubst %.c,build/relaxed/%.o,$(1))

build/relaxed/%.o: %.c $(HEADERS) Makefile | build/stamp-setup
	@mkdir -p $(dir $@)
	$(RELAXED_CC) $(RELAXED_CFLAGS) $(call opt_for,$<) -c $< -o $@

dist/pldr-relaxed.wasm: $(call relaxed_objs,$(LIB_SRC))
	@mkdir -p dist
	@$(RELAXED_LD) $(RELAXED_LDFLAGS) --no-entry $(RELAXED_EXPORTS) $^ $(EM_LIB)/crt1_reactor.o -lnoexit $(RELAXED_LIBS) -o $@
	@echo "$(RELAXED_LD) … -o $@: $$(stat -c %s $@) bytes"

# threads-relaxed: the relaxed objects again with atomics and bulk memory, linked as dist/pldr-threads.wasm
# is: over a memory the host creates shared (imported; wasm-ld initialises the data segments once,
# whichever instance starts first), stackRestore exported for each worker's own stack. The same
# single-thread libraries: the pool's threads call none of them (no malloc, no errno).
build/relaxed-threads/%.o: %.c $(HEADERS) Makefile | build/stamp-setup
	@mkdir -p $(dir $@)
	$(RELAXED_CC) $(RELAXED_CFLAGS) $(call opt_for,$<) -matomics -mbulk-memory -c $< -o $@

dist/pldr-threads-relaxed.wasm: $(patsubst %.c,build/relaxed-threads/%.o,$(LIB_SRC))
	@mkdir -p dist
	@$(RELAXED_LD) $(RELAXED_LDFLAGS) --shared-memory --import-memory --export=stackRestore --no-entry $(RELAXED_EXPORTS) \
		$^ $(EM_LIB)/crt1_reactor.o -lnoexit $(RELAXED_LIBS) -o $@
	@echo "$(RELAXED_LD) … -o $@: $$(stat -c %s $@) bytes"

native: build/pldr-native
build/pldr-native: $(LIB_SRC) $(CLI_SRC) $(HEADERS) Makefile | build/stamp-setup
	@mkdir -p build
	$(CC) $(WARN) $(NATIVE_FLAGS) $(LIB_SRC) $(CLI_SRC) -lm -o $@

# ThreadSanitizer: the native CLI built with -fsanitize=thread runs the tests that use the native
# build (golden outputs, formats, the 110M scale) on a pool of 3 threads (PLDR_THREADS), then the
# threads test (concurrent sessions sharing a pool). Any data race fails the run.
TSAN_FLAGS := -O2 -g -march=native -Wno-format-truncation -fsanitize=thread -pthread
TSAN_TESTS := tests/golden.test.mjs tests/quant.test.mjs tests/scale.test.mjs tests/threads.test.mjs
build/pldr-native-tsan: $(LIB_SRC) $(CLI_SRC) $(HEADERS) Makefile | build/stamp-setup
	@mkdir -p build
	$(CC) $(WARN) $(TSAN_FLAGS) $(LIB_SRC) $(CLI_SRC) -lm -o $@
tsan: build/pldr-native-tsan build/threads-test all node_modules/.stamp
	PLDR_NATIVE=build/pldr-native-tsan PLDR_THREADS=3 TSAN_OPTIONS=halt_on_error=1 \
		node --test --test-concurrency=1 $(TSAN_TESTS)

# Kernel unit tests (tests/kernels_test.c): native through SIMDe, and a WASI program with real SIMD128.
KTEST_SRC := tests/kernels_test.c $(wildcard src/kernels/*.c)
KTEST_DEPS := $(KTEST_SRC) $(wildcard src/kernels/*.h) include/pldr.h Makefile
build/kernels-test: $(KTEST_DEPS) | build/stamp-setup
	@mkdir -p build
	$(CC) $(WARN) $(NATIVE_FLAGS) $(KTEST_SRC) -lm -o $@
build/kernels-test.wasm: $(KTEST_DEPS) | build/stamp-setup
	@mkdir -p build
	$(EMCC) $(WARN) -O3 -msimd128 -sSTANDALONE_WASM -sALLOW_MEMORY_GROWTH=1 -sTOTAL_STACK=1MB $(KTEST_SRC) -o $@
build/kernels-test-relaxed.wasm: $(call relaxed_objs,$(KTEST_SRC))
	$(RELAXED_LD) $(RELAXED_LDFLAGS) $^ $(EM_LIB)/crt1.o $(RELAXED_LIBS) -o $@
kernels-test: build/kernels-test build/kernels-test.wasm build/kernels-test-relaxed.wasm

# Thread-safety test (tests/threads_test.c): sessions of one model on threads, under ThreadSanitizer.
THREADS_SRC := tests/threads_test.c src/cli/load.c src/cli/json.c
build/threads-test: $(LIB_SRC) $(THREADS_SRC) $(HEADERS) Makefile | build/stamp-setup
	@mkdir -p build
	$(CC) $(WARN) $(TSAN_FLAGS) $(LIB_SRC) $(THREADS_SRC) -lm -o $@

# Benchmarks: the CLI (bench included) as a WASI program with the flags of dist/pldr.wasm, and a
# native build with the decode-step timing hooks of src/session/forward.c (-DPLDR_PROFILE).
build/pldr-bench.wasm: $(LIB_SRC) $(CLI_SRC) $(HEADERS) src/host_imports.js Makefile | build/stamp-setup
	@mkdir -p build
	$(EMCC) $(WARN) $(WASM_COMMON) --js-library src/host_imports.js $(LIB_SRC) $(CLI_SRC) -o build/pldr-bench.raw.wasm
	$(WASM_OPT) build/pldr-bench.raw.wasm -o $@
build/pldr-bench-relaxed.wasm: $(call relaxed_objs,$(LIB_SRC) $(CLI_SRC))
	$(RELAXED_LD) $(RELAXED_LDFLAGS) $^ $(EM_LIB)/crt1.o $(RELAXED_LIBS) -o $@
build/pldr-native-prof: $(LIB_SRC) $(CLI_SRC) $(HEADERS) Makefile | build/stamp-setup
	@mkdir -p build
	$(CC) $(WARN) $(NATIVE_FLAGS) -DPLDR_PROFILE $(LIB_SRC) $(CLI_SRC) -lm -o $@

node_modules/.stamp: package.json
	npm install --no-audit --no-fund --loglevel=error
	@touch $@

test: all native node_modules/.stamp build/pldr-native-asan fuzz-build
	node --test --test-concurrency=1 tests/
	python3 -m unittest discover -s tests -p '*_test.py'

bench: all native node_modules/.stamp build/pldr-bench.wasm build/pldr-bench-relaxed.wasm build/pldr-native-prof
	node bench/run.mjs

# Fuzzing, time-boxed: FUZZ_SECONDS per target (default 60), a fresh seed unless FUZZ_SEED is set;
# failing inputs are kept in tests/fixtures/fuzz/. `make test` runs the same targets for 3 s each.
FUZZ_SECONDS ?= 60
.PHONY: fuzz fuzz-js
fuzz: fuzz-js fuzz-c
fuzz-js: node_modules/.stamp
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_SEED=$${FUZZ_SEED:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')} FUZZ_SAVE=1 \
		node --test tests/fuzz-loading.test.mjs

# C fuzzers (tests/fuzz/fuzz_*.c): libFuzzer + ASan + UBSan (clang), each built natively and with
# -m32 (a 32-bit size_t, as in wasm32); seeds from the real fixtures (tests/fuzz/seeds.mjs). A crash,
# hang (FUZZ_TIMEOUT s) or 2 GiB of memory is kept in tests/fixtures/fuzz-c/<target>/, which
# tests/fuzz-c.test.mjs replays in `make test`. FUZZ_TARGETS=… FUZZ_ARCHS=… narrow a run.
.PHONY: fuzz-c fuzz-build native-asan test-asan
CLANG ?= clang
FUZZ_TARGETS ?= hparams config upload session safetensors folder
FUZZ_ARCHS ?= 64 32
FUZZ_TIMEOUT ?= 10
FUZZ_LIB_SRC := $(LIB_SRC) src/cli/load.c src/cli/json.c
FUZZ_CFLAGS := $(WARN) -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_ALL := hparams config upload session safetensors folder
FUZZ_BINS := $(foreach a,64 32,$(foreach t,$(FUZZ_ALL),build/fuzz/$(a)/fuzz-$(t)))
define FUZZ_ARCH
build/fuzz/$(1)/lib.a: $$(FUZZ_LIB_SRC) $$(HEADERS) Makefile | build/stamp-setup
	@rm -rf $$(@D)/obj && mkdir -p $$(@D)/obj
	cd $$(@D)/obj && $$(CLANG) $$(FUZZ_CFLAGS) -I$$(CURDIR)/include -m$(1) -fsanitize=fuzzer-no-link -c $$(addprefix $$(CURDIR)/,$$(FUZZ_LIB_SRC))
	ar rcs $$@ $$(@D)/obj/*.o
build/fuzz/$(1)/fuzz-%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h build/fuzz/$(1)/lib.a
	$$(CLANG) $$(FUZZ_CFLAGS) -m$(1) -fsanitize=fuzzer $$< build/fuzz/$(1)/lib.a -lm -o $$@
endef
$(foreach a,64 32,$(eval $(call FUZZ_ARCH,$(a))))
build/fuzz/seeds/stamp: tests/fuzz/seeds.mjs tests/fixtures/safetensors-headers/cases.json dist/pldr.wasm
	node tests/fuzz/seeds.mjs build/fuzz/seeds
	@touch $@
fuzz-build: $(FUZZ_BINS) build/fuzz/seeds/stamp
fuzz-c: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_TIMEOUT=$(FUZZ_TIMEOUT) bash tests/fuzz/run.sh "$(FUZZ_TARGETS)" "$(FUZZ_ARCHS)"

# The native CLI under AddressSanitizer + UndefinedBehaviorSanitizer; `make test-asan` runs the
# native tests on it (PLDR_NATIVE=asan: tests/helpers/engines.mjs), as CI does.
ASAN_FLAGS := -O2 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
NATIVE_TESTS := tests/golden.test.mjs tests/native-loader.test.mjs tests/native-cli.test.mjs tests/quant.test.mjs \
	tests/safetensors-headers.test.mjs tests/scale.test.mjs
native-asan: build/pldr-native-asan
build/pldr-native-asan: $(LIB_SRC) $(CLI_SRC) $(HEADERS) Makefile | build/stamp-setup
	@mkdir -p build
	$(CC) $(WARN) $(ASAN_FLAGS) -march=native -Wno-format-truncation $(LIB_SRC) $(CLI_SRC) -lm -o $@
test-asan: all build/pldr-native-asan node_modules/.stamp
	PLDR_NATIVE=asan ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		node --test --test-concurrency=1 $(NATIVE_TESTS)

# The peers (bench/peers/package.json: @wllama/wllama, onnxruntime-web) are installed for this only.
bench/peers/node_modules/.stamp: bench/peers/package.json bench/peers/package-lock.json
	npm ci --prefix bench/peers --no-audit --no-fund --loglevel=error
	@touch $@
bench-peers: all node_modules/.stamp bench/peers/node_modules/.stamp
	node bench/peers/run.mjs

clean:
	rm -rf build dist types

# --- the npm package: declarations from the JSDoc, tarballs ------------------------------------
types: node_modules/.stamp
	rm -rf types
	node_modules/.bin/tsc -p tsconfig.types.json

pack: all node_modules/.stamp
	node tools/pack.mjs --out dist/npm

# --- the web page: dev server and static site ------------------------------------------------
PORT ?= 8080
DIST_SITE ?= dist/site
DIST_MODEL ?= models/pldr-tiny

.PHONY: serve chat dist
serve:
	node tools/serve.mjs --port $(PORT) --page web/

chat: all
	node tools/serve.mjs --port $(PORT) --page web/

dist: all
	node tools/dist.mjs --out $(DIST_SITE) --model '$(DIST_MODEL)'
